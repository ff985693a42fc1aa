# Sourced by the shell integration tests: `check NAME COMMAND...` records
# whether COMMAND succeeded; `finish_checks` prints the closing
# "N passed, N failed" line and fails the test if any check failed.
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
