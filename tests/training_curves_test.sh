#!/usr/bin/env bash
# Per-step curves: steps.jsonl and TensorBoard event files, checked by an
# independent reader (check_curves.py) against metrics.jsonl, for a straight
# run and for one resumed from an older checkpoint (whose abandoned steps must
# disappear, leaving curves equal to the straight run's), and for one killed
# with -9 and resumed; --log_every_steps;
# then //tools:plot draws one run and two, naming overlaid runs by the
# flags in which they differ.
set -u
TRAIN="$(realpath "$1")"
CHECK="$(realpath "$2")"
PLOT="$(realpath "$3")"
source "$(dirname "$0")/shell_checks.sh"
cd "${TEST_TMPDIR}"

args=(--dataset=synthetic --model=mlp --epochs=4 --batch_size=32 --log_interval=0 --progress=never
      --checkpoint_every_steps=5 --keep_last=100 --threads=1)
"${TRAIN}" "${args[@]}" --run_dir=straight > straight.log 2>&1
check "straight run" grep -q "Finished 4 epoch(s)" straight.log
check "straight run's curves" /usr/bin/python3 "${CHECK}" straight

# Two epochs, then back to step 10 (abandoning 11..32), then on to four epochs.
"${TRAIN}" "${args[@]}" --epochs=2 --run_dir=resumed > first.log 2>&1
check "abandoned steps were written" grep -q '"step":32}' resumed/steps.jsonl
"${TRAIN}" "${args[@]}" --resume_from=resumed/checkpoints/step-0000000010 --run_dir=resumed \
  > second.log 2>&1
check "resumed from step 10" grep -q "Resumed from .*step-0000000010 at epoch 1, batch 10" second.log
check "resumed run's curves: no step twice, equal to the straight run's" \
  /usr/bin/python3 "${CHECK}" resumed straight

# Killed with -9 mid-run (asserted: after its first checkpoint, before it
# finished; a point may be cut off mid-write), then resumed.
"${TRAIN}" "${args[@]}" --run_dir=killed > killed.log 2>&1 &
kill_after_first_checkpoint killed $!
rc=${killed_status}
echo "     killed at step $(tail -1 killed/steps.jsonl | grep -o '"step":[0-9]*'), exit ${rc}"
check "kill -9 landed" test "${rc}" -eq 137
check "before the run finished" bash -c "! grep -q 'Finished' killed.log"
"${TRAIN}" "${args[@]}" --run_dir=killed --resume > killed_resume.log 2>&1
check "resumed after kill -9" grep -q "Finished 4 epoch(s)" killed_resume.log
check "curves after kill -9 and resume equal the straight run's" \
  /usr/bin/python3 "${CHECK}" killed straight
# A finished run resumed trains nothing and ends its HParams session once.
"${TRAIN}" "${args[@]}" --run_dir=killed --resume > finished_resume.log 2>&1
check "a finished run resumed again leaves its curves as they were" \
  /usr/bin/python3 "${CHECK}" killed straight

# --log_every_steps=4: a point every fourth step.
"${TRAIN}" "${args[@]}" --epochs=1 --log_every_steps=4 --run_dir=sparse > sparse.log 2>&1
check "--log_every_steps=4" test "$(grep -o '"step":[0-9]*' sparse/steps.jsonl | tr '\n' ' ')" = \
  '"step":4 "step":8 "step":12 "step":16 '

# The figure, for one run and for two.
"${PLOT}" straight --output=one.png > plot1.log 2>&1
check "plot of one run" grep -q "plot: wrote one.png" plot1.log
"${PLOT}" straight sparse --output=two.png > plot2.log 2>&1
check "plot of two runs" grep -q "plot: wrote two.png" plot2.log
"${TRAIN}" "${args[@]}" --epochs=1 --lr=0.05 --batch_size=16 --run_dir=other > other.log 2>&1
"${PLOT}" straight other --output=compared.png > plot3.log 2>&1
check "overlaid runs are named by the flags in which they differ" \
  grep -q "plot: other: batch_size=16, epochs=1, optimizer.lr=0.05" plot3.log
check "both of them" grep -q "plot: straight: batch_size=32, epochs=4, optimizer.lr=0.01" plot3.log
check "plots are non-blank PNGs of the expected size" /usr/bin/python3 - one.png two.png compared.png <<'PY'
import sys
import matplotlib.image as image
for path in sys.argv[1:]:
    pixels = image.imread(path)
    assert pixels.shape[:2] == (800, 1200), (path, pixels.shape)
    assert pixels[..., :3].std() > 0.05, (path, "blank")
PY

finish_checks
