#!/usr/bin/env bash
# Runs that cross between Python and C++ mid-training (pytorch_training.py is
# the Python side, drawing the framework's batches): Python trains LeNet two
# epochs and saves the recipe's dict after the first; C++ resumed from that
# dict ends epoch 2 with Python's weights. The other way: a C++ checkpoint
# exported with --format=pytorch_checkpoint, continued one epoch in Python,
# equals the C++ run's next epoch. SGD with momentum and Adam, each with
# StepLR. Then every bad input is refused, changing nothing in the run
# directory, and a dict that already reaches --epochs is converted.
set -u
TRAIN="$(realpath "$1")"
CKPT="$(realpath "$2")"
PYTHON_SIDE="$(realpath "$3")"
source "$(dirname "$0")/shell_checks.sh"
cd "${TEST_TMPDIR}"

common=(--model=lenet --train_samples=2000 --batch_size=64 --seed=1 --threads=1 --progress=never
        --log_interval=0 --scheduler=step --step_size=1 --gamma=0.5 --keep_last=10)
within_1e6() {  # prints the comparison; bit-identity is reported, not required
  local result
  result=$(/usr/bin/python3 "${PYTHON_SIDE}" compare "$1" "$2") || return 1
  echo "     $3: ${result}"
  /usr/bin/python3 -c "import json,sys; sys.exit(json.loads(sys.argv[1])['max_abs_diff'] > 1e-6)" "${result}"
}

for optimizer in sgd adam; do
  if [[ ${optimizer} == sgd ]]; then flags=(--optimizer=sgd --lr=0.01 --momentum=0.9); else flags=(--optimizer=adam --lr=0.001); fi
  mkdir -p "${optimizer}"
  /usr/bin/python3 "${PYTHON_SIDE}" first "${optimizer}" "${optimizer}" > /dev/null 2>&1
  check "${optimizer}: Python trained and saved the recipe's dict" test -f "${optimizer}/recipe.pt"

  # Python -> C++.
  "${TRAIN}" "${common[@]}" "${flags[@]}" --epochs=2 --resume_from="${optimizer}/recipe.pt" \
    --run_dir="${optimizer}/cpp" > "${optimizer}/cpp.log" 2>&1
  check "${optimizer}: C++ resumed after epoch 1" grep -q "Resumed from PyTorch checkpoint .* after epoch 1: continuing at epoch 2" "${optimizer}/cpp.log"
  check "${optimizer}: and trained only epoch 2" bash -c "grep -c 'Validation:Epoch' '${optimizer}/cpp.log' | grep -qx 1"
  "${CKPT}" export "$(newest_checkpoint "${optimizer}/cpp")" "${optimizer}/cpp_final.pt" > /dev/null 2>&1
  check "${optimizer}: Python -> C++ weights equal Python's epoch 2 (max |d| <= 1e-6)" \
    within_1e6 "${optimizer}/cpp_final.pt" "${optimizer}/python_final.pt" "${optimizer} Python -> C++"

  # C++ -> Python.
  "${TRAIN}" "${common[@]}" "${flags[@]}" --epochs=2 --run_dir="${optimizer}/straight" > /dev/null 2>&1
  "${CKPT}" export "${optimizer}/straight/checkpoints/step-0000000032" "${optimizer}/dict.pt" \
    --format=pytorch_checkpoint > "${optimizer}/export.log" 2>&1
  check "${optimizer}: exported for PyTorch" grep -q "(pytorch_checkpoint)" "${optimizer}/export.log"
  "${CKPT}" export "${optimizer}/straight/checkpoints/step-0000000064" "${optimizer}/cpp_epoch2.pt" > /dev/null 2>&1
  /usr/bin/python3 "${PYTHON_SIDE}" continue "${optimizer}/dict.pt" "${optimizer}/python_epoch2.pt" \
    "${optimizer}" > "${optimizer}/continue.log" 2>&1
  check "${optimizer}: PyTorch loaded model, optimizer and StepLR state" grep -q "loaded_with" "${optimizer}/continue.log"
  check "${optimizer}: C++ -> Python weights equal the C++ run's epoch 2 (max |d| <= 1e-6)" \
    within_1e6 "${optimizer}/python_epoch2.pt" "${optimizer}/cpp_epoch2.pt" "${optimizer} C++ -> Python"
done

# A dict that already reaches --epochs trains nothing and becomes a checkpoint.
"${TRAIN}" "${common[@]}" --optimizer=sgd --lr=0.01 --momentum=0.9 --epochs=1 \
  --resume_from=sgd/recipe.pt --run_dir=converted > converted.log 2>&1
check "converting: exits 0" test $? -eq 0
check "converting: trains nothing" bash -c "! grep -q 'Validation:Epoch' converted.log"
check "converting: saves a checkpoint after epoch 1" test -f converted/checkpoints/step-0000000032/checkpoint.json
"${CKPT}" export converted/checkpoints/step-0000000032 converted.pt > /dev/null 2>&1
check "converting: with the file's weights" \
  /usr/bin/python3 -c "
import torch, sys
a = torch.load('converted.pt', weights_only=True)
b = torch.load('sgd/recipe.pt', weights_only=False)['model_state_dict']
sys.exit(not all(torch.equal(a[k], b[k]) for k in b))"

# Hyper-parameters that differ are listed; the flags win.
"${TRAIN}" "${common[@]}" --optimizer=sgd --lr=0.01 --momentum=0.5 --epochs=2 \
  --resume_from=sgd/recipe.pt --run_dir=differ > differ.log 2>&1
check "a differing hyper-parameter is listed (flags win)" grep -q \
  "PyTorch checkpoint and flags differ, the flags win: optimizer_state_dic.param_groups\[0\].momentum: file 0.9, optimizer option momentum 0.5" differ.log

# Bad inputs: each refused with its key, nothing written to the run directory.
/usr/bin/python3 "${PYTHON_SIDE}" bad . > /dev/null 2>&1
refused() {
  local name=$1 expected=$2
  shift 2
  "${TRAIN}" "${common[@]}" --epochs=2 --run_dir="refused_${name}" "$@" > "${name}.log" 2>&1
  local rc=$?
  check "${name}: refused" test "${rc}" -ne 0
  check "${name}: says '${expected}'" grep -qF -- "${expected}" "${name}.log"
  check "${name}: nothing written to the run directory" \
    bash -c "test -z \"\$(ls refused_${name} | grep -v '^LOCK$')\""
}
refused wrong_optimizer "'optimizer_state_dic.param_groups[0]' lacks betas.0, betas.1, eps, amsgrad: it was written by another optimizer than 'adam'" \
  --optimizer=adam --lr=0.001 --resume_from=sgd/recipe.pt
refused missing_optimizer_state "no 'optimizer_state_dict' (nor the recipe's 'optimizer_state_dic')" \
  --optimizer=sgd --resume_from=no_optimizer.pt
refused parameter_count "'optimizer_state_dic.param_groups[0].params' lists 10 parameters, the model has 6" \
  --optimizer=sgd --model=mlp --resume_from=sgd/recipe.pt
refused group_layout "'optimizer_state_dict.param_groups' has 2 groups; only one parameter group is supported" \
  --optimizer=sgd --resume_from=two_groups.pt

finish_checks
