#!/usr/bin/env bash
# Plugins loaded at run time: the lenet experiment binary loads a model and a
# schedule from a shared object (--plugins, also from a flag file), trains,
# checkpoints and resumes to the same bits as an uninterrupted run; //tools:ckpt
# loads --plugins too. Every loading error names the library and the cause.
set -u
LENET="$(realpath "$1")"
CKPT="$(realpath "$2")"
PLUGIN="$(realpath "$3")"
OTHER_VERSION="$(realpath "$4")"
DUPLICATE="$(realpath "$5")"
NOT_A_PLUGIN="$(realpath "$6")"
source "$(dirname "$0")/shell_checks.sh"

cd "${TEST_TMPDIR}"
run=(--dataset=synthetic --model=tiny --scheduler=inverse_sqrt --batch_size=32 --log_interval=0
     --progress=never)

# Trains, checkpoints and resumes with the plugin's model and schedule.
"${LENET}" "${run[@]}" --plugins="${PLUGIN}" --epochs=4 --run_dir=straight > straight.log 2>&1
check "trains a plugin's model" grep -q "Finished 4 epoch(s)" straight.log
check "says which library it loaded" grep -q "Loaded plugin library ${PLUGIN} (2 registration(s))" straight.log
check "the plugin's schedule ran" grep -q '"lr":0.005,' straight/metrics.jsonl
"${LENET}" "${run[@]}" --plugins="${PLUGIN}" --epochs=2 --run_dir=resumed > first.log 2>&1
check "first half" grep -q "Finished 2 epoch(s)" first.log
printf -- '--plugins=%s\n' "${PLUGIN}" > plugins.flags
"${LENET}" "${run[@]}" --flagfile=plugins.flags --epochs=4 --run_dir=resumed --resume > second.log 2>&1
check "resumed with --plugins from a flag file" grep -q "Resumed from .*step-0000000032 at epoch 3" second.log
check "resumed run equals the uninterrupted one to the bit" \
  cmp "$(newest_checkpoint straight)/model.safetensors" "$(newest_checkpoint resumed)/model.safetensors"
check "optimizer state too" \
  cmp "$(newest_checkpoint straight)/state.safetensors" "$(newest_checkpoint resumed)/state.safetensors"

# A checkpoint whose model came from a plugin that is not loaded.
"${LENET}" "${run[@]}" --scheduler=none --epochs=5 --run_dir=resumed --resume > missing.log 2>&1
check "resume without the plugin fails" test $? -ne 0
check "and names the model and the library" grep -q \
  "its model 'tiny' is not registered in this process (unknown model 'tiny'.*); the run that wrote it loaded --plugins=${PLUGIN}" \
  missing.log

# //tools:ckpt loads plugins as well.
"${CKPT}" export "$(newest_checkpoint straight)" tiny.model --format=model --plugins="${PLUGIN}" > export.log 2>&1
check "ckpt export --format=model with --plugins" grep -q "exported 2 tensors" export.log
"${CKPT}" export "$(newest_checkpoint straight)" tiny2.model --format=model > export_missing.log 2>&1
check "ckpt without the plugin names the model" grep -q "unknown model 'tiny'" export_missing.log
"${CKPT}" list straight --no_such_option > ckpt_option.log 2>&1
check "ckpt rejects unknown options" grep -q "unknown command line flag 'no_such_option'" ckpt_option.log

# Loading errors: each names the library and the cause.
expect_error() {
  local name=$1 expected=$2
  shift 2
  "${LENET}" "${run[@]}" --epochs=1 --run_dir=errors "$@" > "${name}.log" 2>&1
  local rc=$?
  if [[ ${rc} -ne 0 ]] && grep -qF -- "${expected}" "${name}.log"; then
    echo "ok   ${name}: $(grep -F -- "${expected}" "${name}.log" | head -1)"; passed=$((passed + 1))
  else
    echo "FAIL ${name}: exit ${rc}"; tail -3 "${name}.log"; failed=$((failed + 1))
  fi
}
echo "not a shared object" > fake.so
expect_error missing_library "--plugins: plugin library ${TEST_TMPDIR}/none.so cannot be read: No such file" \
  --plugins=none.so
expect_error unloadable_library "--plugins: cannot load plugin library ${TEST_TMPDIR}/fake.so: " --plugins=fake.so
expect_error not_a_plugin "plugin library ${NOT_A_PLUGIN} is not a torchtrain plugin" \
  --plugins="${NOT_A_PLUGIN}"
expect_error other_version \
  "plugin library ${OTHER_VERSION} was built against framework version 0.0.1-test, but this binary is version" \
  --plugins="${OTHER_VERSION}"
expect_error name_taken \
  "model 'lenet' is registered twice: by plugins/models/lenet.cc and by plugins/examples/duplicate_name.cc in ${DUPLICATE}" \
  --plugins="${DUPLICATE}"
expect_error unknown_without_plugin "--model: unknown model 'tiny'" --scheduler=none

finish_checks
