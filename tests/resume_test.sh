#!/usr/bin/env bash
# Runs interrupted again and again (SIGTERM, SIGINT, kill -9 at random
# moments, and deaths at fixed points inside a save, inside an async write
# and inside retention's deletion), each time continued with --resume, must
# end with the same weights, optimizer and generator state (byte-identical
# files) and the same metrics as a run that never stopped; every
# interruption is asserted to have landed before the run finished. Also: the
# run-directory lock, flags that may not change on resume, --resume without
# checkpoints, --resume_from and --init_from.
#
# The random moments come from one seed, printed first; replay a failure
# with RESUME_TEST_SEED=<seed> (bazel test --test_env=RESUME_TEST_SEED=...).
set -u
TRAIN="$1"
FAULTY_TRAIN="$2"  # the same binary with $TORCHTRAIN_FAULT injection (tests only)
source "$(dirname "$0")/shell_checks.sh"
seed=${RESUME_TEST_SEED:-$(( $(od -An -N2 -tu2 /dev/urandom) ))}
echo "     seed ${seed} (replay with RESUME_TEST_SEED=${seed})"
RANDOM=${seed}


all_committed() {
  local dir=$1
  shift
  for name in "$@"; do [[ -f "${dir}/checkpoints/${name}/checkpoint.json" ]] || return 1; done
}

finished() { grep -q "Finished .* epoch(s)" "$1"; }


# Runs with one interruption per signal of the list, each at a random
# moment: once the run has committed a checkpoint 3 to 24 steps past where
# this attempt started (the runs below have 192 steps, so there is always
# work left), then after 0-29 ms more, so that kills land in steps and in
# saves alike. Each interruption must land: kill -9 ends the process with
# 137, SIGTERM/SIGINT with a clean exit that saved and says it stopped;
# never a finished run. Then a last attempt runs to the end.
interrupted_run() {
  local run_dir=$1
  shift
  local signals=(TERM KILL INT KILL TERM KILL)
  local attempt
  for attempt in "${!signals[@]}"; do
    local signal=${signals[attempt]} log="${run_dir}.attempt${attempt}.log"
    local start target delay
    start=$(newest_step "${run_dir}")
    target=$((start + 3 + RANDOM % 22))
    delay=$((RANDOM % 30))
    echo "     ${run_dir##*/} attempt ${attempt}: SIG${signal} after step ${target} + ${delay} ms"
    "${TRAIN}" "$@" --run_dir="${run_dir}" --resume > "${log}" 2>&1 &
    local pid=$!
    for _ in $(seq 1000); do
      (($(newest_step "${run_dir}") >= target)) && break
      kill -0 "${pid}" 2> /dev/null || break
      sleep 0.005
    done
    sleep "$(printf '0.%03d' "${delay}")"
    kill -s "${signal}" "${pid}" 2> /dev/null
    wait "${pid}"
    local rc=$?
    if finished "${log}"; then
      echo "     attempt ${attempt}: the run finished before SIG${signal} landed"
      return 1
    fi
    if [[ ${signal} == KILL && ${rc} -ne 137 ]] ||
       [[ ${signal} != KILL && ( ${rc} -ne 0 || ! $(grep -c "Stopped by signal" "${log}") -gt 0 ) ]]; then
      echo "     attempt ${attempt}: exit ${rc} after SIG${signal}"; tail -3 "${log}"
      return 1
    fi
  done
  "${TRAIN}" "$@" --run_dir="${run_dir}" --resume > "${run_dir}.last.log" 2>&1
  finished "${run_dir}.last.log"
}

base=(--dataset=synthetic --epochs=12 --batch_size=32 --log_interval=0 --progress=never
      --checkpoint_every_steps=3 --keep_last=2)
cases=(
  "small_cnn 1 sgd"
  "small_cnn 2 sgd"
  "mlp 2 adam --async_checkpoint"
  "lenet 1 rmsprop --momentum=0.5 --scheduler=cosine --warmup_epochs=2"
  "autoencoder 1 adam --trainer=autoencoder"
  "resnet18 1 sgd --model_options={\"stem\":\"small\",\"width\":8}"
)
for spec in "${cases[@]}"; do
  read -r model threads optimizer extra <<< "${spec}"
  name="${model}_t${threads}_${optimizer}"
  args=("${base[@]}" --model="${model}" --threads="${threads}" --optimizer="${optimizer}" --lr=0.01 ${extra:-})
  "${TRAIN}" "${args[@]}" --run_dir="${TEST_TMPDIR}/${name}_straight" > "${TEST_TMPDIR}/${name}_straight.log" 2>&1
  check "${name}: uninterrupted run" finished "${TEST_TMPDIR}/${name}_straight.log"
  check "${name}: interrupted run finishes" interrupted_run "${TEST_TMPDIR}/${name}_interrupted" "${args[@]}"
  check "${name}: identical to the bit" same_run "${TEST_TMPDIR}/${name}_straight" "${TEST_TMPDIR}/${name}_interrupted"
done

# An optimizer from a plugin (plugins/optimizers/adagrad.cc) brings its state
# codec: killed with -9 mid-run (asserted: after its first checkpoint, before
# it finished), it resumes to the same bits as a run that never stopped.
args=("${base[@]}" --model=lenet --threads=1 --optimizer=adagrad --lr=0.05 --epochs=20
      --optimizer_options='{"lr_decay":0.001,"initial_accumulator_value":0.1}')
"${TRAIN}" "${args[@]}" --run_dir="${TEST_TMPDIR}/adagrad_straight" > "${TEST_TMPDIR}/adagrad_straight.log" 2>&1
check "adagrad: uninterrupted run" finished "${TEST_TMPDIR}/adagrad_straight.log"
dir="${TEST_TMPDIR}/adagrad_killed"
"${TRAIN}" "${args[@]}" --run_dir="${dir}" > "${dir}.log" 2>&1 &
kill_after_first_checkpoint "${dir}" $!
rc=${killed_status}
echo "     adagrad: killed after $(ls "${dir}/checkpoints" | grep -c '^step-') checkpoint(s), exit ${rc}"
check "adagrad: kill -9 landed" test "${rc}" -eq 137
check "adagrad: before the run finished" bash -c "! grep -q 'Finished .* epoch(s)' '${dir}.log'"
"${TRAIN}" "${args[@]}" --run_dir="${dir}" --resume > "${dir}.resume.log" 2>&1
check "adagrad: resume finishes" finished "${dir}.resume.log"
check "adagrad: sum and step restored" grep -q '"optimizer.0.0.sum"' "$(newest_checkpoint "${dir}")/checkpoint.json"
check "adagrad: identical to the bit" same_run "${TEST_TMPDIR}/adagrad_straight" "${dir}"

# Deaths at fixed points inside a save (injected by the test binary, see
# framework/testing/fault_injection_from_env.cc), then --resume.
args=("${base[@]}" --model=small_cnn --threads=1 --epochs=4)
"${TRAIN}" "${args[@]}" --run_dir="${TEST_TMPDIR}/crash_straight" > /dev/null 2>&1
for spec in "after_model_file create:state.safetensors=kill@1" \
            "before_rename rename:/checkpoints/step-=kill#1" \
            "after_rename sync_directory:/checkpoints\$=kill#1"; do
  read -r point fault <<< "${spec}"
  dir="${TEST_TMPDIR}/crash_${point}"
  # Two epochs normally, then extended to four, dying inside its first save.
  "${TRAIN}" "${args[@]}" --epochs=2 --run_dir="${dir}" > /dev/null 2>&1
  before=$(ls "${dir}/checkpoints")
  TORCHTRAIN_FAULT="${fault}" "${FAULTY_TRAIN}" "${args[@]}" --run_dir="${dir}" --resume > "${dir}.crash.log" 2>&1
  rc=$?
  check "crash ${point}: the kill landed there" grep -q "TORCHTRAIN_FAULT: kill at ${fault%%:*}" "${dir}.crash.log"
  check "crash ${point}: died by SIGKILL" test "${rc}" -eq 137
  check "crash ${point}: earlier checkpoints intact" all_committed "${dir}" ${before}
  "${TRAIN}" "${args[@]}" --run_dir="${dir}" --resume > "${dir}.resume.log" 2>&1
  check "crash ${point}: resume finishes" finished "${dir}.resume.log"
  check "crash ${point}: identical to the bit" same_run "${TEST_TMPDIR}/crash_straight" "${dir}"
  check "crash ${point}: no temporary directory left" bash -c "! ls -a '${dir}/checkpoints' | grep -q '^\.tmp'"
done

# --resume verifies tensor data while loading it (each byte is read once): a
# damaged newest checkpoint is found part-way into the model, skipped (and
# kept), and the previous one's load replaces every tensor, so the run still
# ends identical to the bit. With every checkpoint damaged it starts fresh,
# from the weights it was built with, as if there had been none.
damage_last_byte() {
  local file=$1/model.safetensors
  printf '\x55' | dd of="${file}" bs=1 seek=$(($(stat -c %s "${file}") - 1)) conv=notrunc 2> /dev/null
}
dir="${TEST_TMPDIR}/damaged_newest"
"${TRAIN}" "${args[@]}" --epochs=2 --keep_last=100 --run_dir="${dir}" > /dev/null 2>&1
damaged=$(newest_checkpoint "${dir}")
damage_last_byte "${damaged}"
"${TRAIN}" "${args[@]}" --keep_last=100 --run_dir="${dir}" --resume > "${dir}.log" 2>&1
check "damaged newest: skipped, naming the tensor, falling back" \
  grep -q "Skipping invalid checkpoint ${damaged}: .*' fails its checksum (xxh3 .*; falling back to ${dir}/checkpoints/step-" "${dir}.log"
check "damaged newest: resumed from the previous one" grep -q "Resumed from ${dir}/checkpoints/step-" "${dir}.log"
check "damaged newest: not deleted" test -f "${damaged}/model.safetensors"
check "damaged newest: identical to the bit" same_run "${TEST_TMPDIR}/crash_straight" "${dir}"
dir="${TEST_TMPDIR}/damaged_all"
"${TRAIN}" "${args[@]}" --epochs=2 --run_dir="${dir}" > /dev/null 2>&1
for checkpoint in "${dir}"/checkpoints/step-*; do damage_last_byte "${checkpoint}"; done
count=$(ls -d "${dir}"/checkpoints/step-* | wc -l)
"${TRAIN}" "${args[@]}" --run_dir="${dir}" --resume > "${dir}.log" 2>&1
check "all damaged: each of the ${count} skipped" test "$(grep -c "Skipping invalid checkpoint" "${dir}.log")" -eq "${count}"
check "all damaged: starts fresh, saying so" grep -q "none of the .* checkpoint(s) is intact (each is kept as it is); starting fresh" "${dir}.log"
check "all damaged: identical to a run that never had them" same_run "${TEST_TMPDIR}/crash_straight" "${dir}"

# kill -9 inside a background (async) write, and inside retention's
# deletion of an old checkpoint; each resumes to the same bits.
args=("${base[@]}" --model=mlp --threads=1 --optimizer=adam --async_checkpoint)
"${TRAIN}" "${args[@]}" --run_dir="${TEST_TMPDIR}/faults_straight" > /dev/null 2>&1
for spec in "async_write write:state.safetensors=kill@5" "retention remove:.tmp-deleting-=kill@3"; do
  read -r point fault <<< "${spec}"
  dir="${TEST_TMPDIR}/kill_${point}"
  TORCHTRAIN_FAULT="${fault}" "${FAULTY_TRAIN}" "${args[@]}" --run_dir="${dir}" > "${dir}.kill.log" 2>&1
  rc=$?
  check "kill in ${point}: landed" grep -q "TORCHTRAIN_FAULT: kill at ${fault%%:*}" "${dir}.kill.log"
  check "kill in ${point}: died by SIGKILL" test "${rc}" -eq 137
  check "kill in ${point}: before the run finished" bash -c "! grep -q 'Finished .* epoch(s)' '${dir}.kill.log'"
  "${TRAIN}" "${args[@]}" --run_dir="${dir}" --resume > "${dir}.resume.log" 2>&1
  check "kill in ${point}: resume finishes" finished "${dir}.resume.log"
  check "kill in ${point}: identical to the bit" same_run "${TEST_TMPDIR}/faults_straight" "${dir}"
  check "kill in ${point}: leftovers cleared" bash -c "! ls -a '${dir}/checkpoints' | grep -q '^\.tmp'"
done

# SIGTERM as soon as the run has started up (possibly before its first
# step): a clean exit 0 with a checkpoint, never a lost run.
dir="${TEST_TMPDIR}/early"
"${TRAIN}" "${base[@]}" --epochs=50 --run_dir="${dir}" > "${dir}.log" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q "Model {" "${dir}.log" 2> /dev/null && break; sleep 0.05; done
kill -TERM "${pid}"
wait "${pid}"
check "SIGTERM right after start-up exits 0" test $? -eq 0
check "it says how to continue" grep -q "Stopped by signal 15 (Terminated) at global step [0-9]*; saved .*; continue with --resume" "${dir}.log"
check "and leaves a valid checkpoint" test -f "$(newest_checkpoint "${dir}")/checkpoint.json"

# A second process on the same run directory is refused; a killed holder
# does not leave it locked.
lockdir="${TEST_TMPDIR}/locked"
"${TRAIN}" "${base[@]}" --epochs=400 --run_dir="${lockdir}" > "${lockdir}.first.log" 2>&1 &
holder=$!
sleep 1
"${TRAIN}" "${base[@]}" --run_dir="${lockdir}" --resume > "${lockdir}.second.log" 2>&1
check "second process refused" test $? -ne 0
check "refusal names the holder" grep -q "is in use by another process (pid ${holder})" "${lockdir}.second.log"
kill -9 "${holder}"
wait "${holder}" 2> /dev/null
"${TRAIN}" "${base[@]}" --epochs=1 --run_dir="${lockdir}" --resume > "${lockdir}.third.log" 2>&1
check "lock released by kill -9" test $? -eq 0

# Flags that change the run may not change on resume; others may.
dir="${TEST_TMPDIR}/flags"
"${TRAIN}" "${base[@]}" --epochs=2 --run_dir="${dir}" > /dev/null 2>&1
"${TRAIN}" "${base[@]}" --epochs=2 --run_dir="${dir}" --resume --seed=7 --batch_size=16 > "${dir}.bad.log" 2>&1
check "changed seed/batch size refused" test $? -ne 0
check "each difference listed" grep -q "\-\-batch_size: checkpoint '32', now '16'; --seed: checkpoint '1', now '7'" "${dir}.bad.log"
"${TRAIN}" "${base[@]}" --epochs=3 --run_dir="${dir}" --resume --log_interval=5 > "${dir}.ok.log" 2>&1
check "changed epochs allowed and logged" grep -q "Resuming with a changed flag --epochs: checkpoint '2', now '3'" "${dir}.ok.log"
check "continued to epoch 3" grep -q "Finished 3 epoch(s)" "${dir}.ok.log"

# --resume with nothing to resume from starts fresh, with a log line.
dir="${TEST_TMPDIR}/fresh"
"${TRAIN}" "${base[@]}" --epochs=1 --run_dir="${dir}" --resume > "${dir}.log" 2>&1
check "resume without checkpoints starts fresh" grep -q "no valid checkpoint in .*; starting fresh" "${dir}.log"

# --resume_from an older checkpoint, and --init_from (weights only).
dir="${TEST_TMPDIR}/from"
"${TRAIN}" "${base[@]}" --epochs=2 --keep_last=100 --run_dir="${dir}" > /dev/null 2>&1
first=$(ls -d "${dir}"/checkpoints/step-* | sort | head -1)
"${TRAIN}" "${base[@]}" --epochs=2 --keep_last=100 --run_dir="${dir}" --resume_from="${first}" > "${dir}.log" 2>&1
check "resume_from an older checkpoint" grep -q "Resumed from ${first} at epoch 1, batch 3" "${dir}.log"
check "its later saves do not overwrite older ones" test -d "$(ls -d "${dir}"/checkpoints/step-*.1 | head -1)"
"${TRAIN}" "${base[@]}" --epochs=1 --run_dir="${TEST_TMPDIR}/init" --init_from="$(newest_checkpoint "${dir}")" \
  > "${TEST_TMPDIR}/init.log" 2>&1
check "init_from loads weights into a fresh run" grep -q "Initialised the model's weights from" "${TEST_TMPDIR}/init.log"
"${TRAIN}" "${base[@]}" --model=mlp --epochs=1 --run_dir="${TEST_TMPDIR}/init_bad" \
  --init_from="$(newest_checkpoint "${dir}")" > "${TEST_TMPDIR}/init_bad.log" 2>&1
check "init_from another model lists the keys" grep -q "does not fit the model; missing keys: layers.0.bias" "${TEST_TMPDIR}/init_bad.log"

finish_checks
