#!/usr/bin/env bash
# Gradient clipping in a run: --clip_grad_norm binds (the weights differ from
# an unclipped run's) and a bound it never reaches changes nothing, to the
# bit; the norm before clipping is the curve train/grad_norm in steps.jsonl
# and the event files (check_curves.py, an independent reader); a run with
# clipping by norm and by value killed with -9 and resumed ends bit-identical
# to one that never stopped; the flags are run-defining on resume.
set -u
TRAIN="$(realpath "$1")"
CHECK="$(realpath "$2")"
source "$(dirname "$0")/shell_checks.sh"
cd "${TEST_TMPDIR}"

args=(--dataset=synthetic --model=mlp --epochs=3 --batch_size=32 --log_interval=0 --progress=never
      --checkpoint_every_steps=4 --keep_last=100 --threads=1)
"${TRAIN}" "${args[@]}" --run_dir=plain > plain.log 2>&1
"${TRAIN}" "${args[@]}" --clip_grad_norm=0.05 --run_dir=clipped > clipped.log 2>&1
check "clipped run finished" grep -q "Finished 3 epoch(s)" clipped.log
check "every step has the norm before clipping" \
  /usr/bin/python3 -c "
import json, sys
steps = [json.loads(l) for l in open('clipped/steps.jsonl')]
norms = [s['grad_norm'] for s in steps]
print('     grad_norm: first', norms[0], 'last', norms[-1], 'steps', len(norms))
sys.exit(not (len(norms) > 0 and all(n > 0 for n in norms) and sum(n > 0.05 for n in norms) > len(norms) // 2))"
check "no grad_norm without clipping by norm" bash -c "! grep -q grad_norm plain/steps.jsonl"
check "the curves (train/grad_norm included) read back" /usr/bin/python3 "${CHECK}" clipped
check "clipping changed the weights" bash -c \
  "! cmp -s '$(newest_checkpoint plain)/model.safetensors' '$(newest_checkpoint clipped)/model.safetensors'"
"${TRAIN}" "${args[@]}" --clip_grad_norm=1e9 --run_dir=unreached > unreached.log 2>&1
check "a bound never reached changes nothing, to the bit" same_run plain unreached

both=(--clip_grad_norm=0.05 --clip_grad_norm_type=inf --clip_grad_value=0.002)
"${TRAIN}" "${args[@]}" "${both[@]}" --run_dir=straight > straight.log 2>&1
"${TRAIN}" "${args[@]}" "${both[@]}" --run_dir=killed > killed.log 2>&1 &
kill_after_first_checkpoint killed $!
check "killed with -9 after its first checkpoint" test "${killed_status}" -eq 137
echo "     killed at step $(newest_step killed)"
"${TRAIN}" "${args[@]}" "${both[@]}" --run_dir=killed --resume > resumed.log 2>&1
check "resumed run finished" grep -q "Finished 3 epoch(s)" resumed.log
check "resumed ends bit-identical to the run that never stopped" same_run straight killed
"${TRAIN}" "${args[@]}" --clip_grad_norm=0.1 --clip_grad_norm_type=inf --clip_grad_value=0.002 \
  --epochs=4 --run_dir=killed --resume > changed.log 2>&1
check "a resume with another --clip_grad_norm is refused" grep -q "clip_grad_norm" changed.log
check "and exits non-zero" bash -c "! grep -q 'Finished' changed.log"

finish_checks
