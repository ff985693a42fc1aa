#!/usr/bin/env bash
# The built experiment binary is the experiment: started directly (as torchrun,
# srun or a pod would) from any directory, it runs its flag file's values into
# runs/<experiment> under that directory, and command-line flags still override
# them. --helpshort lists the experiment's flags with their effective values.
set -u
LENET="$(realpath "$1")"
source "$(dirname "$0")/shell_checks.sh"

flag_value() {
  /usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"
}

elsewhere="${TEST_TMPDIR}/somewhere/else"
mkdir -p "${elsewhere}"
(cd "${elsewhere}" && env -u BUILD_WORKING_DIRECTORY "${LENET}" --dataset=synthetic --epochs=1 \
   --progress=never > run.log 2>&1)
check "runs from another directory" grep -q "Finished 1 epoch(s)" "${elsewhere}/run.log"
flags="${elsewhere}/runs/lenet/flags.json"
check "into runs/lenet there" test -f "${flags}"
check "with the flag file's momentum" test "$(flag_value "${flags}" optimizer.momentum)" = 0.9
check "and its step schedule" test "$(flag_value "${flags}" scheduler)" = step
check "step size 10" test "$(flag_value "${flags}" scheduler.step_size)" = 10
check "named lenet" test "$(flag_value "${flags}" experiment)" = lenet
check "command line overrides the file" test "$(flag_value "${flags}" epochs)" = 1

"${LENET}" --helpshort > help.txt 2>&1
check "--helpshort exits 0" test $? -eq 0
for flag in lr resume plugins; do
  check "--helpshort lists --${flag}" grep -q "^  --${flag}=" help.txt
done
check "--helpshort shows effective values" grep -q "^  --momentum=0.9" help.txt
check "--helpshort groups flags" grep -q "^Learning-rate schedule:" help.txt
"${LENET}" --help --lr=0.5 > help_full.txt 2>&1
check "--help marks flags that may change on resume" grep -q "^  --epochs=15 \*" help_full.txt
check "--help shows command-line values" grep -q "^  --lr=0.5" help_full.txt

finish_checks
