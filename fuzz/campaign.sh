#!/usr/bin/env bash
# Runs a libFuzzer campaign on one fuzz target (or all of them).
#
#   fuzz/campaign.sh TARGET|all [--runs=N] [--seconds=S] [-- libFuzzer options]
#
# e.g. fuzz/campaign.sh pytorch_pickle_fuzzer --runs=10000000
#
# Builds the targets with clang-14, ASan, UBSan and libFuzzer
# (--config=fuzz) under their own Bazel output base, so the gcc build cache
# is untouched. The campaign starts from the committed corpus
# (fuzz/corpus/<name>/) plus what earlier campaigns on this machine found
# (kept in $FUZZ_WORK, default ~/.cache/torchtrain-fuzz/corpus/); a crash,
# leak-free timeout or out-of-memory input is written to fuzz/findings/ and
# the script exits non-zero. A finding is fixed by adding it to
# fuzz/corpus/<name>/ (so `bazel test //fuzz:all` replays it) and fixing
# the reader. Each run prints one summary line:
#   <target>: <executions> runs in <seconds> s (<rate>/s), corpus <n> inputs, findings <k>
set -euo pipefail
cd "$(dirname "$0")/.."
root=${PWD}

readonly TARGETS=(pytorch_archive_fuzzer pytorch_pickle_fuzzer safetensors_fuzzer idx_file_fuzzer
                  checkpoint_fuzzer model_file_fuzzer flag_file_fuzzer event_file_fuzzer)
target=${1:?usage: fuzz/campaign.sh TARGET|all [--runs=N] [--seconds=S] [-- libFuzzer options]}
shift
runs=-1
seconds=0
while (($# > 0)); do
  case $1 in
    --runs=*) runs=${1#--runs=} ;;
    --seconds=*) seconds=${1#--seconds=} ;;
    --) shift; break ;;
    *) echo "campaign.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
if [[ ${target} == all ]]; then
  selected=("${TARGETS[@]}")
elif [[ " ${TARGETS[*]} " == *" ${target} "* ]]; then
  selected=("${target}")
else
  echo "campaign.sh: unknown target '${target}'; one of: all ${TARGETS[*]}" >&2
  exit 2
fi

output_base=${FUZZ_OUTPUT_BASE:-${HOME}/.cache/torchtrain-clang}
work=${FUZZ_WORK:-${HOME}/.cache/torchtrain-fuzz/corpus}
tools/bazel --output_base="${output_base}" build --config=fuzz "${selected[@]/#///fuzz:}" >&2
bin=$(tools/bazel --output_base="${output_base}" info --config=fuzz bazel-bin 2>/dev/null)/fuzz

status=0
for name in "${selected[@]}"; do
  corpus_name=${name%_fuzzer}
  mkdir -p "${work}/${corpus_name}" "fuzz/findings/${corpus_name}"
  log=$(mktemp)
  set +e
  # -rss_limit_mb: a reader must not need more than this for any small file.
  # The committed corpus is read but never written to.
  (cd "fuzz/findings/${corpus_name}" &&
   LSAN_OPTIONS=suppressions=${root}/fuzz/lsan_suppressions.txt \
   "${bin}/${name}" -runs="${runs}" -max_total_time="${seconds}" -print_final_stats=1 \
     -rss_limit_mb=2048 -timeout=30 -max_len=65536 -artifact_prefix=./ "$@" \
     "${work}/${corpus_name}" "${root}/fuzz/corpus/${corpus_name}") > "${log}" 2>&1
  code=$?
  set -e
  executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "${log}" | tail -1)
  elapsed=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "${log}" | tail -1)
  findings=$(find "fuzz/findings/${corpus_name}" -type f | wc -l)
  corpus_size=$(find "${work}/${corpus_name}" -type f | wc -l)
  rate=$(( ${executions:-0} / ( ${elapsed:-1} > 0 ? ${elapsed:-1} : 1 ) ))
  echo "${name}: ${executions:-?} runs in ${elapsed:-?} s (${rate}/s), corpus ${corpus_size} inputs, findings ${findings}"
  if ((code != 0 || findings > 0)); then
    echo "campaign.sh: ${name} exited ${code}; its log: ${log}; findings in fuzz/findings/${corpus_name}/" >&2
    grep -m5 -E "ERROR|SUMMARY|runtime error" "${log}" >&2 || true
    status=1
  else
    rm -f "${log}"
    rmdir "fuzz/findings/${corpus_name}" 2>/dev/null || true
  fi
done
exit "${status}"
