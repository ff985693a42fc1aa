#!/usr/bin/env bash
# Disk faults during saves and at resume. The defined outcomes:
#  - a failed interval save (disk full while writing the weights, the
#    optimizer/generator state or the manifest, at the rename that commits,
#    or at the directory fsync after it) is logged with its cause and path,
#    leaves nothing partial, and training continues; the next trigger saves;
#  - a failed final save (end of training, or the retry there of a failed
#    last interval save) fails the run: non-zero exit, earlier checkpoints
#    intact;
#  - a read-only run directory is refused at start-up, naming it;
#  - a truncated or unreadable checkpoint is skipped by --resume, which says
#    why and continues from the one before.
# Phases are hit exactly with the test binary's fault injection
# ($TORCHTRAIN_FAULT, tests:train_with_faults); a real full disk comes from a
# small tmpfs mounted in a private mount namespace when the test may do so
# (root), else from RLIMIT_FSIZE.
set -u
TRAIN=$(realpath "$1")
CKPT=$(realpath "$2")
source "$(dirname "$0")/shell_checks.sh"
cd "${TEST_TMPDIR}"

# 16 steps an epoch; checkpoints at steps 16, 32, 48 and 64 (the last one is
# the final save).
base=(--model=mlp '--model_options={"hidden":[8]}' --dataset=synthetic --epochs=4 --batch_size=32
      --progress=never --log_interval=0 --keep_last=10)

checkpoints() { ls -a "$1/checkpoints" | grep -v '^\.\.\?$' | tr '\n' ' '; }
all_verify() {
  local dir=$1 name
  for name in $(ls "${dir}/checkpoints"); do "${CKPT}" verify "${dir}/checkpoints/${name}" > /dev/null || return 1; done
}

for mode in sync async; do
  mode_flags=()
  [[ ${mode} == async ]] && mode_flags=(--async_checkpoint)
  for phase in "weights write:model.safetensors @" "state write:state.safetensors @" \
               "manifest write:checkpoint.json @" "rename rename:/checkpoints/step- #" \
               "directory_fsync sync_directory:/checkpoints\$ #"; do
    read -r name point counter <<< "${phase}"
    # The second save fails: an interval save.
    dir="${mode}_${name}_interval"
    TORCHTRAIN_FAULT="${point}=enospc${counter}2" "${TRAIN}" "${base[@]}" "${mode_flags[@]}" \
      --run_dir="${dir}" > "${dir}.log" 2>&1
    rc=$?
    echo "     ${dir}: exit ${rc}; checkpoints: $(checkpoints "${dir}")"
    check "${dir}: the fault landed" grep -q "TORCHTRAIN_FAULT: enospc at ${point%%:*}" "${dir}.log"
    check "${dir}: cause and path logged" grep -q "saving checkpoint .*/${dir}/checkpoints/step-0000000032 failed (earlier checkpoints are intact): .*No space left on device; training continues" "${dir}.log"
    check "${dir}: training continued to the end" test "${rc}" -eq 0
    check "${dir}: nothing partial, the next trigger saved" test "$(checkpoints "${dir}")" = \
      "step-0000000016 step-0000000048 step-0000000064 "
    check "${dir}: every checkpoint verifies" all_verify "${dir}"
    # The fourth save fails: the final one (retried once at the end).
    dir="${mode}_${name}_final"
    TORCHTRAIN_FAULT="${point}=enospc${counter}4" "${TRAIN}" "${base[@]}" "${mode_flags[@]}" \
      --run_dir="${dir}" > "${dir}.log" 2>&1
    rc=$?
    if [[ ${counter} == '#' ]]; then
      # A call counter fires once; the retry at the end then succeeds.
      check "${dir}: the retry of the last save succeeded" test "${rc}" -eq 0
      check "${dir}: so the final checkpoint exists" test -d "${dir}/checkpoints/step-0000000064"
    else
      check "${dir}: a failed final save fails the run" test "${rc}" -ne 0
      check "${dir}: and says so" grep -q "saving checkpoint .*/${dir}/checkpoints/step-0000000064 failed" "${dir}.log"
      check "${dir}: earlier checkpoints intact" test "$(checkpoints "${dir}")" = \
        "step-0000000016 step-0000000032 step-0000000048 "
    fi
    check "${dir}: every checkpoint verifies" all_verify "${dir}"
  done
done

# A disk that is really full. Run one epoch, then continue on a disk too
# small for another checkpoint: each save fails, the final one fails the run.
real_full_disk() {
  local dir=$1 log=$2
  "${TRAIN}" "${base[@]}" --epochs=1 --run_dir="${dir}" > "${log}.first" 2>&1 || return 1
  "${TRAIN}" "${base[@]}" --epochs=3 --run_dir="${dir}" --resume > "${log}" 2>&1
}
full_disk_checks() {
  local dir=$1 method=$2 cause=$3
  echo "     real full disk, ${method}: exit $(cat "${dir}.rc"); checkpoints: $(checkpoints "${dir}")"
  check "${method}: the final save fails the run" test "$(cat "${dir}.rc")" -ne 0
  check "${method}: the cause is named with the path" \
    grep -q "cannot write .*/checkpoints/.tmp-step-.*: ${cause}" "${dir}.log"
  check "${method}: the first checkpoint still verifies" all_verify "${dir}"
  check "${method}: nothing partial left" test "$(checkpoints "${dir}")" = "step-0000000016 "
}
# RLIMIT_FSIZE: works for any user. The shell must not die of SIGXFSZ; the
# write then fails with EFBIG.
"${TRAIN}" "${base[@]}" --epochs=1 --run_dir=fsize_limit > fsize_limit.first.log 2>&1
(trap '' XFSZ; ulimit -f 20; exec "${TRAIN}" "${base[@]}" --epochs=3 --run_dir=fsize_limit --resume) \
  > fsize_limit.log 2>&1
echo $? > fsize_limit.rc
full_disk_checks fsize_limit "RLIMIT_FSIZE of 20 KiB" "File too large"
# A tmpfs of 96 KiB in a private mount namespace, where the test may mount.
if [[ $(id -u) -eq 0 ]] && unshare -m true 2> /dev/null; then
  mkdir -p full_disk
  unshare -m bash -c "mount -t tmpfs -o size=96k tmpfs full_disk &&
    $(declare -f real_full_disk); TRAIN='${TRAIN}'; base=($(printf '%q ' "${base[@]}"));
    real_full_disk full_disk/run tmpfs.log; echo \$? > tmpfs.rc; cp -a full_disk/run tmpfs"
  full_disk_checks tmpfs "tmpfs of 96 KiB" "No space left on device"
else
  echo "     real full disk on a tmpfs: not tested (needs root and a private mount namespace)"
fi

# A read-only run directory is refused before any training.
if [[ $(id -u) -eq 0 ]] && unshare -m true 2> /dev/null; then
  "${TRAIN}" "${base[@]}" --epochs=1 --run_dir=readonly > readonly.first.log 2>&1
  unshare -m bash -c "mount --bind readonly readonly && mount -o remount,ro,bind readonly &&
    exec '${TRAIN}' $(printf '%q ' "${base[@]}") --epochs=2 --run_dir=readonly --resume" > readonly.log 2>&1
  rc=$?
  check "read-only run directory: refused" test "${rc}" -ne 0
  check "read-only run directory: named, with the cause" grep -q "readonly.*Read-only file system" readonly.log
  check "read-only run directory: its checkpoint still verifies" all_verify readonly
elif [[ $(id -u) -ne 0 ]]; then
  "${TRAIN}" "${base[@]}" --epochs=1 --run_dir=readonly > readonly.first.log 2>&1
  chmod -R a-w readonly
  "${TRAIN}" "${base[@]}" --epochs=2 --run_dir=readonly --resume > readonly.log 2>&1
  check "read-only run directory: refused" test $? -ne 0
  check "read-only run directory: named, with the cause" grep -q "readonly.*Permission denied" readonly.log
  chmod -R u+w readonly
else
  echo "     read-only run directory: not tested (root without a private mount namespace)"
fi

# A truncated and an unreadable checkpoint at resume: skipped, named, and the
# run continues from the one before, to the same bits as an uninterrupted run.
"${TRAIN}" "${base[@]}" --run_dir=straight > straight.log 2>&1
"${TRAIN}" "${base[@]}" --epochs=3 --run_dir=damaged > /dev/null 2>&1
truncate -s 100 damaged/checkpoints/step-0000000048/model.safetensors
rm damaged/checkpoints/step-0000000032/state.safetensors
mkdir damaged/checkpoints/step-0000000032/state.safetensors  # reads fail with EISDIR
"${TRAIN}" "${base[@]}" --run_dir=damaged --resume > damaged.log 2>&1
check "damaged: resume finishes" test $? -eq 0
check "damaged: the truncated one is skipped, named" grep -q "Skipping invalid checkpoint .*/damaged/checkpoints/step-0000000048: .*model.safetensors" damaged.log
check "damaged: the unreadable one is skipped, named" grep -q "Skipping invalid checkpoint .*/damaged/checkpoints/step-0000000032: .*state.safetensors: missing or not a regular file" damaged.log
check "damaged: resumed from the one before" grep -q "Resumed from .*/damaged/checkpoints/step-0000000016" damaged.log
check "damaged: identical to the bit" cmp damaged/checkpoints/step-0000000064/model.safetensors \
  straight/checkpoints/step-0000000064/model.safetensors

finish_checks
