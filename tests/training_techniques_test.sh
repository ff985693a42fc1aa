#!/usr/bin/env bash
# Every training technique at once: gradient accumulation, clipping, bf16
# autocast, the weights' moving average, early stopping on the average's validation loss,
# retention's best-K by it, and a plugin callback with state (smoothed_loss).
# A run killed with -9 again and again (at random moments, seed logged) and
# resumed ends byte-identical to one that never stopped: weights, optimizer,
# generators, the average and every callback's state, the metrics, the
# curves, and the epoch at which early stopping ended it. Then: the average
# exported with `ckpt export --weights=ema` is the checkpoint's, evaluated
# with `evaluate --ema` it gives the run's valid_ema_loss, a finished
# early-stopped run resumed trains nothing, a resume that drops a callback
# is refused naming it, and --helpshort lists the callbacks' options.
set -u
TRAIN="$(realpath "$1")"
CKPT="$(realpath "$2")"
EVALUATE="$(realpath "$3")"
CHECK="$(realpath "$4")"
source "$(dirname "$0")/shell_checks.sh"
cd "${TEST_TMPDIR}"

seed=${KILL_SEED:-$((RANDOM * 32768 + RANDOM))}
echo "     kill moments drawn with seed ${seed} (KILL_SEED=${seed} repeats them)"
RANDOM=${seed}

args=(--dataset=synthetic --model=mlp --epochs=12 --batch_size=32 --log_interval=0 --progress=never
      --threads=1 --seed=1 --lr=0.1 --checkpoint_every_steps=5 --keep_last=100 --keep_best=2
      --monitor=valid_ema_loss
      --accumulate_batches=4 --clip_grad_norm=1 --precision=bf16 --ema_decay=0.9 --ema_warmup=true
      --early_stop_patience=2 --early_stop_min_delta=0.02 --callbacks=smoothed_loss)

"${TRAIN}" "${args[@]}" --run_dir=straight > straight.log 2>&1
check "the uninterrupted run exits 0" test $? -eq 0
check "early stopping ended it before its 12 epochs" \
  grep -q "Early stopping after epoch [1-9]: valid_ema_loss has not fallen by more than 0.02" straight.log
grep -o "Early stopping after epoch.*" straight.log | sed 's/^/     /'
epochs=$(wc -l < straight/metrics.jsonl)
check "metrics.jsonl has its ${epochs} epochs, fewer than 12" test "${epochs}" -lt 12
check "every epoch has valid_ema_loss, valid_ema_acc and train_smoothed_loss" /usr/bin/python3 -c "
import json, sys
rows = [json.loads(l) for l in open('straight/metrics.jsonl')]
sys.exit(not all({'valid_ema_loss', 'valid_ema_acc', 'train_smoothed_loss'} <= set(r) for r in rows))"
check "the curves (valid/ema_loss, valid/ema_acc, train/grad_norm) read back" \
  bash -c "/usr/bin/python3 '${CHECK}' straight > curves.log"
final=$(newest_checkpoint straight)
check "its last checkpoint records why training ended" \
  grep -q '"ended_early": "early stopping: valid_ema_loss' "${final}/checkpoint.json"

# Killed at random moments until a resume finishes.
kill_and_resume_repeatedly killed 8 "${TRAIN}" "${args[@]}"
check "at least 3 kills -9 landed (${kills})" test "${kills}" -ge 3
"${TRAIN}" "${args[@]}" --run_dir=killed --resume > last.log 2>&1
check "the last resume exits 0" test $? -eq 0
check "killed and resumed ends bit-identical to the run that never stopped (weights, optimizer, generators, the average)" \
  same_run straight killed
check "the same callbacks' state, position and early stop, to the bit" /usr/bin/python3 -c "
import json, sys
a = json.load(open('${final}/checkpoint.json'))
b = json.load(open('$(newest_checkpoint killed)/checkpoint.json'))
strip = lambda p: {k: v for k, v in p.items() if k != 'seconds'}
print('     callbacks:', json.dumps(b['callbacks']))
sys.exit(not (a['callbacks'] == b['callbacks'] and strip(a['position']) == strip(b['position'])
              and a['tensors'].keys() == b['tensors'].keys()))"
check "the resumed run's curves equal the uninterrupted run's" \
  bash -c "/usr/bin/python3 '${CHECK}' killed straight > resumed_curves.log"

# The average, exported and evaluated.
"${CKPT}" export "${final}" ema.safetensors --weights=ema > export.log 2>&1
check "ckpt export --weights=ema" grep -q "the weights' average" export.log
check "the exported average is the checkpoint's callback.ema.* tensors, byte for byte" \
  /usr/bin/python3 -c "
import json, struct, sys
def tensors(path):
    data = open(path, 'rb').read()
    (n,) = struct.unpack('<Q', data[:8])
    header = json.loads(data[8:8 + n])
    return {k: (v['dtype'], v['shape'], data[8 + n + v['data_offsets'][0]:8 + n + v['data_offsets'][1]])
            for k, v in header.items() if k != '__metadata__'}
exported = tensors('ema.safetensors')
state = {k[len('callback.ema.'):]: v for k, v in tensors('${final}/state.safetensors').items()
         if k.startswith('callback.ema.')}
model = tensors('${final}/model.safetensors')
sys.exit(not (exported == state and exported.keys() == model.keys() and exported != model))"
"${EVALUATE}" --weights="${final}" --ema > evaluate.log 2>&1
expected=$(/usr/bin/python3 -c "
import json
print('Loss: %.4f' % json.loads(open('straight/metrics.jsonl').readlines()[-1])['valid_ema_loss'])")
check "evaluate --ema gives the run's last valid_ema_loss (${expected})" grep -q "${expected}" evaluate.log

# A finished early-stopped run has nothing left to train.
steps_before=$(newest_step straight)
"${TRAIN}" "${args[@]}" --run_dir=straight --resume > again.log 2>&1
check "resuming the early-stopped run exits 0" test $? -eq 0
check "and says why it ended" grep -q "Training ended after epoch ${epochs} of 12: early stopping" again.log
check "and trains nothing" test "$(newest_step straight)" -eq "${steps_before}"

"${TRAIN}" "${args[@]}" --callbacks= --run_dir=straight --resume > dropped.log 2>&1
check "a resume without the plugin callback is refused naming it" \
  grep -q "\-\-callbacks: checkpoint 'smoothed_loss,ema,early_stopping', now 'ema,early_stopping'" dropped.log
"${TRAIN}" "${args[@]}" --accumulate_batches=2 --run_dir=straight --resume > accumulation.log 2>&1
check "a resume with another --accumulate_batches is refused" grep -q "\-\-accumulate_batches: checkpoint '4', now '2'" accumulation.log
"${TRAIN}" "${args[@]}" --precision=fp32 --run_dir=straight --resume > precision.log 2>&1
check "a resume in another --precision is refused" grep -q "\-\-precision: checkpoint 'bf16', now 'fp32'" precision.log

"${TRAIN}" "${args[@]}" --helpshort > help.log 2>&1
check "--helpshort lists the selected callbacks' options with their values" \
  bash -c "grep -q \"callback 'ema', its options\" help.log && grep -q 'decay=0.9  (or --ema_decay)' help.log &&
           grep -q 'patience=2  (or --early_stop_patience)' help.log && grep -q \"callback 'smoothed_loss'\" help.log"

finish_checks
