# Sourced by the shell integration tests: `check NAME COMMAND...` records
# whether COMMAND succeeded; `finish_checks` prints the closing
# "N passed, N failed" line and fails the test if any check failed;
# `kill_after_first_checkpoint RUN_DIR PID` kills a training process (a child
# of the calling shell) with -9 as soon as its first checkpoint is committed,
# and sets `killed_status` to its exit status.
passed=0
failed=0

check() {
  local name=$1
  shift
  if "$@"; then
    echo "ok   ${name}"; passed=$((passed + 1))
  else
    echo "FAIL ${name}"; failed=$((failed + 1))
  fi
}

finish_checks() {
  echo "${passed} passed, ${failed} failed"
  [[ ${failed} -eq 0 ]]
}

kill_after_first_checkpoint() {
  local run_dir=$1 pid=$2
  for _ in $(seq 500); do
    compgen -G "${run_dir}/checkpoints/step-*/checkpoint.json" > /dev/null && break
    sleep 0.01
  done
  kill -9 "${pid}"
  wait "${pid}" 2> /dev/null
  killed_status=$?
}
