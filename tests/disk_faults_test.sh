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
#    why and continues from the one before;
#  - a failed write of a log while training (a line of metrics.jsonl or
#    steps.jsonl, a TensorBoard event) stops the run at once, naming the file,
#    the cause and the last committed checkpoint; that checkpoint stays and
#    --resume from it ends with the same bits as an uninterrupted run, with
#    every epoch in metrics.jsonl once;
#  - a run file that cannot be made at start (flags.json, the LOCK, events/)
#    and a data or flag file that cannot be read refuse the run before any
#    training, naming the file and the cause; the run directory's checkpoints
#    and metrics are as they were.
# Every file goes through the Env (framework/core/env.h), so every one of
# these is reached by the same injection.
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

# Logs written while training: the run stops, names what to resume from, and
# the resume is exact.
metrics_epochs() { /usr/bin/python3 -c 'import json,sys; print(" ".join(str(json.loads(l)["epoch"]) for l in open(sys.argv[1])))' "$1"; }
steps_sorted_unique() { /usr/bin/python3 -c 'import json,sys; s=[json.loads(l)["step"] for l in open(sys.argv[1])]; sys.exit(0 if s == sorted(set(s)) and s else 1)' "$1"; }
for case in "metrics metrics.jsonl\$ #2" "steps steps.jsonl\$ #20" "events events/events.out #30"; do
  read -r name part counter <<< "${case}"
  dir="log_${name}"
  file="${part%[$]}"
  TORCHTRAIN_FAULT="write:${part}=enospc${counter}" "${TRAIN}" "${base[@]}" --run_dir="${dir}" \
    > "${dir}.log" 2>&1
  rc=$?
  echo "     ${dir}: exit ${rc}; checkpoints: $(checkpoints "${dir}")"
  check "${dir}: the fault landed" grep -q "TORCHTRAIN_FAULT: enospc at write .*${file}" "${dir}.log"
  check "${dir}: the run stopped" test "${rc}" -ne 0
  check "${dir}: file, cause and what to resume from named" grep -q \
    "cannot write .*/${dir}/${file}.*: No space left on device (training stopped at step [0-9]*; the last committed checkpoint, .*/${dir}/checkpoints/step-0000000016, is intact: --resume continues from it)" \
    "${dir}.log"
  check "${dir}: the committed checkpoint stays" test "$(checkpoints "${dir}")" = "step-0000000016 "
  check "${dir}: and verifies" all_verify "${dir}"
  "${TRAIN}" "${base[@]}" --run_dir="${dir}" --resume > "${dir}.resume.log" 2>&1
  check "${dir}: --resume finishes" test $? -eq 0
  check "${dir}: from the committed checkpoint" grep -q "Resumed from .*/${dir}/checkpoints/step-0000000016" "${dir}.resume.log"
  check "${dir}: identical to the bit" cmp "${dir}/checkpoints/step-0000000064/model.safetensors" \
    straight/checkpoints/step-0000000064/model.safetensors
  check "${dir}: every epoch in metrics.jsonl once" test "$(metrics_epochs "${dir}/metrics.jsonl")" = "1 2 3 4"
  check "${dir}: steps.jsonl without a repeated step" steps_sorted_unique "${dir}/steps.jsonl"
done

# Files made or read at start: refused before any training, nothing changed.
"${TRAIN}" "${base[@]}" --epochs=1 --run_dir=started > started.log 2>&1
printf -- '--epochs=2\n' > more.flags
for case in "flags create:flags.json @1 cannot.create.*/flags.json" \
            "lock lock:/LOCK @1 cannot.open.lock.file.*/LOCK: Input/output error" \
            "events_directory create_directory:/events\$ @1 cannot.create.directory.*/events" \
            "flag_file read:more.flags @1 flag.file: cannot.*/more.flags: Input/output error"; do
  read -r name point counter expected <<< "${case}"
  action=enospc
  [[ ${expected} == *Input/output* ]] && action=eio
  dir="start_${name}"
  rm -rf "${dir}"; cp -a started "${dir}"
  extra=()
  [[ ${name} == flag_file ]] && extra=(--flagfile="${TEST_TMPDIR}/more.flags")
  TORCHTRAIN_FAULT="${point}=${action}${counter}" "${TRAIN}" "${base[@]}" --epochs=2 "${extra[@]}" \
    --run_dir="${dir}" --resume > "${dir}.log" 2>&1
  rc=$?
  echo "     ${dir}: exit ${rc}: $(grep -v '^[IW]2' "${dir}.log" | grep -v TORCHTRAIN | tail -1 | cut -c1-160)"
  check "${dir}: the fault landed" grep -q "TORCHTRAIN_FAULT: ${action} at ${point%%:*}" "${dir}.log"
  check "${dir}: refused" test "${rc}" -ne 0
  check "${dir}: file and cause named" grep -q "${expected}" "${dir}.log"
  check "${dir}: before any training" bash -c "! grep -q 'Validation:Epoch' '${dir}.log'"
  check "${dir}: checkpoints as they were" test "$(checkpoints "${dir}")" = "step-0000000016 "
  check "${dir}: and verify" all_verify "${dir}"
  check "${dir}: metrics.jsonl as it was" cmp "${dir}/metrics.jsonl" started/metrics.jsonl
done
# A data file that cannot be read (a fresh run: a resume would first be
# refused for its other data set).
TORCHTRAIN_FAULT="read:train-labels-idx1=eio" "${TRAIN}" --dataset=fashion_mnist \
  --data_dir=/usr/share/datasets/fashion-mnist --epochs=1 --progress=never --run_dir=data_fault \
  > data_fault.log 2>&1
rc=$?
echo "     data_fault: exit ${rc}: $(grep -v '^[IW]2' data_fault.log | grep -v TORCHTRAIN | tail -1 | cut -c1-160)"
check "data_fault: the fault landed" grep -q "TORCHTRAIN_FAULT: eio at read .*train-labels-idx1" data_fault.log
check "data_fault: refused" test "${rc}" -ne 0
check "data_fault: file and cause named" grep -q "train-labels-idx1-ubyte.gz: Input/output error" data_fault.log
check "data_fault: before any training or checkpoint" test -z "$(ls data_fault/checkpoints 2> /dev/null)"

finish_checks
