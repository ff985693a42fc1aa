#!/usr/bin/env bash
# Data-parallel checkpoints that every rank writes a share of
# (framework/checkpoint/checkpoint.h, format 4), and the preemption signal
# (--checkpoint_signal). Checks that a 2-rank checkpoint's files were written
# by both ranks, as its manifest says; that it restores bit-exactly with 2
# ranks and resumes with 1 and 3; that async saves write the same shares;
# that kill -9 of rank 1 in the middle of writing its share (the fault
# injector, announced in its log) leaves only committed checkpoints and that
# --resume then ends byte-identical to a run that never stopped; and that
# --checkpoint_signal sent to one rank makes both save the same step, then
# continue, or (--on_checkpoint_signal=exit) exit 75 for a requeue, after
# which --resume ends byte-identical. Loopback only, free ports, every
# process waited for.
#
# Where a kill or a signal lands depends on timing; each is asserted to have
# happened before the run finished.
set -u
TRAIN=$(realpath "$1")  # tests:train_with_faults
CKPT=$(realpath "$2")   # //tools:ckpt
source "$(dirname "$0")/shell_checks.sh"
source "$(dirname "$0")/rank_runs.sh"
cd "${TEST_TMPDIR}"

# An MLP with dropout (each rank's generator must be restored) and Adam
# (optimizer state to share out); 6 epochs of 11 steps of 48 samples (48
# divides over 1, 2 and 3 ranks), a checkpoint every 4 steps.
FLAGS=(--dataset=synthetic --model=mlp '--model_options={"hidden":[256,256],"dropout":0.3}'
       --optimizer=adam --lr=0.001 --batch_size=48 --epochs=6 --checkpoint_every_steps=4
       --keep_last=100 --threads=1 --progress=never --log_interval=0 --dist_timeout_s=20)

# --- The reference: two ranks, never stopped.
check "2 ranks train to the end" run_ranks 2 ref
ref_end=$(newest_checkpoint ref)
check "its checkpoints' files were written by both ranks, as the manifest says" \
  written_by_every_rank "${ref_end}" 2
check "... each rank's share of the bytes within 2x of the other's" /usr/bin/python3 -c "
import json, sys
files = json.load(open('${ref_end}/checkpoint.json'))['files']
share = [sum(r['bytes'] for r in files.values() if r['rank'] == k) for k in (0, 1)]
print('     bytes by rank: %s' % share)
sys.exit(not max(share) <= 2 * min(share))"

"${CKPT}" verify "${ref_end}" > verify.log 2>&1
check "ckpt verify reads the shares as one checkpoint" grep -q ": ok$" verify.log
"${CKPT}" export "${ref_end}" ref.pt --format=pytorch_checkpoint > export.log 2>&1
check "... exported to PyTorch, model and Adam state (from both shares) load into torch.nn and torch.optim.Adam" \
  /usr/bin/python3 -c "
import sys, torch
class MLP(torch.nn.Module):  # the mlp plugin's layers, by its names
    def __init__(self):
        super().__init__()
        self.layers = torch.nn.ModuleList([torch.nn.Linear(784, 256), torch.nn.Linear(256, 256),
                                           torch.nn.Linear(256, 10)])
d = torch.load('ref.pt')
model = MLP()
model.load_state_dict(d['model_state_dict'])
optimizer = torch.optim.Adam(model.parameters())
optimizer.load_state_dict(d['optimizer_state_dict'])
params = list(model.parameters())
state = [optimizer.state[p] for p in params]
ok = all(s['exp_avg'].shape == p.shape and s['exp_avg_sq'].shape == p.shape and int(s['step']) == 66
         for s, p in zip(state, params))
print('     %d parameters with Adam state, step %d' % (len(params), int(state[0]['step'])))
sys.exit(not ok)"

# --- Restored from a checkpoint in the middle of epoch 1 (step 8).
from_checkpoint ref step-0000000008 again
check "2 ranks resume the 2-rank checkpoint of step 8 and run to the end" run_ranks 2 again --resume
check "... byte-identical to the run that never stopped" same_run ref again
for world in 1 3; do
  from_checkpoint ref step-0000000008 "world${world}"
  check "${world} rank(s) resume the 2-rank checkpoint of step 8 and run to the end" \
    run_ranks "${world}" "world${world}" --resume
  check "... from its global position (step 8, generators derived afresh)" \
    grep -q "saved by 2 rank(s) and this run has ${world}: the same global sample position" \
    "world${world}.rank0.log"
  check "... the final checkpoint written by its ${world} rank(s)" \
    written_by_every_rank "$(newest_checkpoint "world${world}")" "${world}"
done

# --- Async saves: every rank writes its share in the background.
check "2 ranks with --async_checkpoint train to the end" run_ranks 2 async --async_checkpoint
check "... to the same checkpoint, tensor for tensor" same_run ref async

# --- kill -9 of rank 1 while it writes its share of the third checkpoint
# (steps 4, 8, then 11: the end of epoch 1).
RANK1_FAULT="write:state-00001-of-00002=kill@3" start_ranks 2 killed
wait "${rank_pids[1]}"
wait "${rank_pids[0]}"; status0=$?
check "the fault killed rank 1 while it wrote its share" \
  grep -q "TORCHTRAIN_FAULT: kill at write .*step-0000000011.*/state-00001-of-00002.safetensors" \
  killed.rank1.log
check "... rank 0 exits non-zero (${status0}), saying rank 1 did not report its share" \
  test ${status0} -ne 0 -a -n "$(grep 'rank 1 did not report its share' killed.rank0.log)"
check "... leaving only committed checkpoints, the newest at step $(newest_step killed) < 11" \
  test -z "$(ls killed/checkpoints | grep -v '^step-[0-9]*$')" -a "$(newest_step killed)" -lt 11
check "--resume with 2 ranks runs to the end" run_ranks 2 killed --resume
check "... byte-identical to the run that never stopped" same_run ref killed

# --- The preemption signal to one rank: both save the same step.
long=(--epochs=40 --checkpoint_every_steps=0 --checkpoint_interval=0 --checkpoint_signal=SIGUSR1
      --log_all_ranks)
# Signalled once the first epoch has ended (its line in metrics.jsonl).
wait_for_epoch() {
  for _ in $(seq 3000); do
    [[ -s $1/metrics.jsonl ]] && return 0
    sleep 0.01
  done
  return 1
}
start_ranks 2 signalled "${long[@]}"
wait_for_epoch signalled
kill -USR1 "${rank_pids[1]}"
wait "${rank_pids[0]}"; status0=$?
wait "${rank_pids[1]}"; status1=$?
step0=$(grep -o 'Checkpoint asked for by signal: saving at global step [0-9]*' signalled.rank0.log |
        grep -o '[0-9]*$')
step1=$(grep -o 'Checkpoint asked for by signal: saving at global step [0-9]*' signalled.rank1.log |
        grep -o '[0-9]*$')
check "SIGUSR1 to rank 1: both ranks saved at the same step (${step0:-?}, ${step1:-?}) and ran on" \
  test -n "${step0}" -a "${step0}" = "${step1:-x}" -a ${status0} -eq 0 -a ${status1} -eq 0
check "... the checkpoint of that step is there, before the end" \
  test -d "signalled/checkpoints/step-$(printf %010d "${step0:-0}")" -a "${step0:-440}" -lt 440
check "... and the run finished" finished 40 signalled.rank0.log

start_ranks 2 requeued "${long[@]}" --on_checkpoint_signal=exit
wait_for_epoch requeued
kill -USR1 "${rank_pids[0]}"
wait "${rank_pids[0]}"; status0=$?
wait "${rank_pids[1]}"; status1=$?
stop=$(grep -o 'Saved a checkpoint at global step [0-9]* for --checkpoint_signal (received here)' \
       requeued.rank0.log | grep -o 'step [0-9]*' | grep -o '[0-9]*')
check "--on_checkpoint_signal=exit: both ranks exit 75 (${status0}, ${status1}) at step ${stop:-?}" \
  test ${status0} -eq 75 -a ${status1} -eq 75 -a -n "${stop}" -a "$(newest_step requeued)" = "${stop:-x}"
check "... rank 1 saying another rank was signalled" \
  grep -q "for --checkpoint_signal (sent to another rank)" requeued.rank1.log
check "... which --resume continues to the end" run_ranks 2 requeued "${long[@]}" --resume
check "... byte-identical to the run that never stopped" same_run signalled requeued

RANK=0 WORLD_SIZE=1 "${TRAIN}" "${FLAGS[@]}" --run_dir=bad --checkpoint_signal=SIGKILL > bad.log 2>&1
check "a signal that cannot be caught is refused, naming the flag and the choices" \
  grep -q -- "--checkpoint_signal.*'SIGKILL' is not a signal a run can take for a checkpoint; one of SIGHUP (1), SIGUSR1 (10)" bad.log

finish_checks
