# Sourced by the shell integration tests: `check NAME COMMAND...` records
# whether COMMAND succeeded; `finish_checks` prints the closing
# "N passed, N failed" line and fails the test if any check failed;
# `kill_after_first_checkpoint RUN_DIR PID` kills a training process (a child
# of the calling shell) with -9 as soon as its first checkpoint is committed,
# and sets `killed_status` to its exit status; `newest_step RUN_DIR` is the
# step of its newest checkpoint; `same_run A B` is true when
# two run directories end with byte-identical weights, optimizer and
# generator state and the same metrics (less wall time); `same_tensors A B`
# compares two checkpoints' tensors (tests/checkpoint_tensors.py).
passed=0
failed=0

# The Python references and our binaries run the same BLAS kernels
# (blas_report_test unsets this to see the binaries' own choice).
source "$(dirname "${BASH_SOURCE[0]}")/../tools/openblas_kernel.sh"
SHELL_CHECKS_DIR=$(dirname "${BASH_SOURCE[0]}")

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

# kill_and_resume_repeatedly RUN_DIR ATTEMPTS COMMAND...: starts
# `COMMAND --run_dir=RUN_DIR`, kills it with -9 after its first checkpoint,
# then resumes it (`--resume`) up to ATTEMPTS times, killing each resume a
# random 0-60 ms (bash's RANDOM, which the caller seeds and logs) after its
# next checkpoint, until one finishes first. `kills` counts the kills that
# landed; the logs are RUN_DIR.log and RUN_DIR.resume-N.log.
kill_and_resume_repeatedly() {
  local run_dir=$1 attempts=$2 attempt before pid status
  shift 2
  kills=0
  "$@" --run_dir="${run_dir}" > "${run_dir}.log" 2>&1 &
  kill_after_first_checkpoint "${run_dir}" $!
  [[ ${killed_status} -eq 137 ]] && kills=$((kills + 1))
  for attempt in $(seq "${attempts}"); do
    before=$(newest_step "${run_dir}")
    "$@" --run_dir="${run_dir}" --resume > "${run_dir}.resume-${attempt}.log" 2>&1 &
    pid=$!
    # After the next checkpoint, a random 0-60 ms later: anywhere in a step.
    for _ in $(seq 500); do
      [[ $(newest_step "${run_dir}") -gt ${before} ]] && break
      kill -0 "${pid}" 2> /dev/null || break
      sleep 0.01
    done
    sleep "0.0$((RANDOM % 7))"
    kill -9 "${pid}" 2> /dev/null
    wait "${pid}" 2> /dev/null
    status=$?
    if [[ ${status} -eq 137 ]]; then
      kills=$((kills + 1))
      echo "     kill ${kills} landed after step $(newest_step "${run_dir}") (newest checkpoint)"
    else
      echo "     resume ${attempt} finished first (exit ${status})"
      break
    fi
  done
}

newest_checkpoint() { ls -d "$1"/checkpoints/step-* | sort | tail -1; }

# The step of the newest committed checkpoint of a run, 0 if none.
newest_step() {
  local name
  name=$(ls "$1/checkpoints" 2> /dev/null | grep '^step-' | sort | tail -1)
  [[ -n ${name} ]] && echo $((10#$(echo "${name}" | sed 's/^step-0*\([0-9]*\).*/\1/;s/^$/0/'))) || echo 0
}

# Metrics without wall time, which no resume can reproduce.
metrics_without_seconds() {
  /usr/bin/python3 -c "
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line); r.pop('seconds', None); print(json.dumps(r, sort_keys=True))" "$1"
}

# Every tensor of the newest checkpoints by name, byte for byte, whichever
# files hold it (one process's two, or each data-parallel rank's share).
same_tensors() {
  /usr/bin/python3 "${SHELL_CHECKS_DIR}/checkpoint_tensors.py" "$@"
}

same_run() {
  local a=$1 b=$2
  same_tensors "$(newest_checkpoint "$a")" "$(newest_checkpoint "$b")" &&
    diff <(metrics_without_seconds "$a/metrics.jsonl") <(metrics_without_seconds "$b/metrics.jsonl") > /dev/null
}
