#!/usr/bin/env bash
# Runs that cross between Python and C++ mid-training, through the tutorial
# recipe's own loop and resume block (pytorch_training.py, drawing the
# framework's batches): the recipe trains LeNet two epochs with
# checkpoint_interval = 1; its dict after the first ("epoch": 0, the loop
# index) resumed here ends epoch 2 with the recipe's weights, optimizer state
# and learning rate, bit for bit. The other way: a C++ checkpoint after one
# epoch exported with --format=pytorch_checkpoint and continued by the
# recipe's unchanged resume loop equals the C++ run's next epoch. SGD with
# momentum and Adam, each with StepLR(step_size=1), so that a schedule one
# epoch off shows in the learning rate. Then the count convention
# (--pytorch_epoch=count), the bad inputs (each refused, changing nothing in
# the run directory), and a dict that already reaches --epochs.
set -u
TRAIN="$(realpath "$1")"
CKPT="$(realpath "$2")"
PYTHON_SIDE="$(realpath "$3")"
source "$(dirname "$0")/shell_checks.sh"
cd "${TEST_TMPDIR}"

common=(--model=lenet --train_samples=2000 --batch_size=64 --seed=1 --threads=1 --progress=never
        --log_interval=0 --scheduler=step --step_size=1 --gamma=0.5 --keep_last=10)
bit_identical() {  # A B what: the two dicts' weights, optimizer state, lr and epoch
  local result
  result=$(/usr/bin/python3 "${PYTHON_SIDE}" compare "$1" "$2") || return 1
  echo "     $3: ${result}"
  /usr/bin/python3 -c "import json,sys; sys.exit(not json.loads(sys.argv[1])['bit_identical'])" "${result}"
}

for optimizer in sgd adam; do
  if [[ ${optimizer} == sgd ]]; then flags=(--optimizer=sgd --lr=0.01 --momentum=0.9); else flags=(--optimizer=adam --lr=0.001); fi
  mkdir -p "${optimizer}/recipe" "${optimizer}/recipe_resumed"
  /usr/bin/python3 "${PYTHON_SIDE}" recipe "${optimizer}/recipe" "${optimizer}" > /dev/null 2>&1
  check "${optimizer}: the recipe saved after each epoch, 'epoch' its loop index" \
    test -f "${optimizer}/recipe/checkpoint_0_epoch.pkl" -a -f "${optimizer}/recipe/checkpoint_1_epoch.pkl"

  # Python -> C++: the recipe's dict after its first epoch, resumed here.
  "${TRAIN}" "${common[@]}" "${flags[@]}" --epochs=2 --resume_from="${optimizer}/recipe/checkpoint_0_epoch.pkl" \
    --run_dir="${optimizer}/cpp" > "${optimizer}/cpp.log" 2>&1
  check "${optimizer}: C++ read the recipe's epoch 0 as one epoch finished" grep -q \
    "Resumed from PyTorch checkpoint .*: the recipe's epoch 0 = 1 epoch finished (--pytorch_epoch=index); continuing with the 2nd of 2" "${optimizer}/cpp.log"
  check "${optimizer}: and trained only epoch 2" bash -c "grep -c 'Validation:Epoch' '${optimizer}/cpp.log' | grep -qx 1"
  "${CKPT}" export "$(newest_checkpoint "${optimizer}/cpp")" "${optimizer}/cpp_final.pt" \
    --format=pytorch_checkpoint > /dev/null 2>&1
  check "${optimizer}: Python -> C++ equals the recipe's uninterrupted 2 epochs (weights, optimizer state, lr, epoch)" \
    bit_identical "${optimizer}/cpp_final.pt" "${optimizer}/recipe/checkpoint_1_epoch.pkl" "${optimizer} Python -> C++"

  # C++ -> Python: our checkpoint after one epoch, continued by the recipe's resume loop.
  "${TRAIN}" "${common[@]}" "${flags[@]}" --epochs=2 --run_dir="${optimizer}/straight" > /dev/null 2>&1
  "${CKPT}" export "${optimizer}/straight/checkpoints/step-0000000032" "${optimizer}/dict.pt" \
    --format=pytorch_checkpoint > "${optimizer}/export.log" 2>&1
  check "${optimizer}: exported for PyTorch" grep -q "(pytorch_checkpoint)" "${optimizer}/export.log"
  check "${optimizer}: with the recipe's epoch index" grep -qF \
    "epoch: the recipe's epoch 0 = 1 epoch finished (--pytorch_epoch=index)" "${optimizer}/export.log"
  "${CKPT}" export "${optimizer}/straight/checkpoints/step-0000000064" "${optimizer}/cpp_epoch2.pt" \
    --format=pytorch_checkpoint > /dev/null 2>&1
  /usr/bin/python3 "${PYTHON_SIDE}" resume "${optimizer}/dict.pt" "${optimizer}/recipe_resumed" \
    "${optimizer}" > "${optimizer}/resume.log" 2>&1
  check "${optimizer}: the recipe's resume block loaded the dict" grep -q "loaded_with" "${optimizer}/resume.log"
  check "${optimizer}: and its loop ran the 2nd epoch only" bash -c \
    "test -f '${optimizer}/recipe_resumed/checkpoint_1_epoch.pkl' -a ! -f '${optimizer}/recipe_resumed/checkpoint_0_epoch.pkl'"
  check "${optimizer}: C++ -> Python equals the C++ run's uninterrupted 2 epochs (weights, optimizer state, lr, epoch)" \
    bit_identical "${optimizer}/recipe_resumed/checkpoint_1_epoch.pkl" "${optimizer}/cpp_epoch2.pt" "${optimizer} C++ -> Python"

  # A dict written with the count convention (older exports) still resumes, with the flag.
  "${CKPT}" export "${optimizer}/straight/checkpoints/step-0000000032" "${optimizer}/count.pt" \
    --format=pytorch_checkpoint --pytorch_epoch=count > "${optimizer}/export_count.log" 2>&1
  check "${optimizer}: exported with the count convention" grep -qF \
    "epoch: epoch 1 = 1 epoch finished (--pytorch_epoch=count)" "${optimizer}/export_count.log"
  "${TRAIN}" "${common[@]}" "${flags[@]}" --epochs=2 --resume_from="${optimizer}/count.pt" \
    --pytorch_epoch=count --run_dir="${optimizer}/from_count" > "${optimizer}/from_count.log" 2>&1
  check "${optimizer}: --pytorch_epoch=count read epoch 1 as one epoch finished" grep -q \
    ": epoch 1 = 1 epoch finished (--pytorch_epoch=count); continuing with the 2nd of 2" "${optimizer}/from_count.log"
  "${CKPT}" export "$(newest_checkpoint "${optimizer}/from_count")" "${optimizer}/from_count.pt" \
    --format=pytorch_checkpoint > /dev/null 2>&1
  check "${optimizer}: and ended as the uninterrupted run" \
    bit_identical "${optimizer}/from_count.pt" "${optimizer}/cpp_epoch2.pt" "${optimizer} count convention"
done

# A dict that already reaches --epochs trains nothing and becomes a checkpoint.
"${TRAIN}" "${common[@]}" --optimizer=sgd --lr=0.01 --momentum=0.9 --epochs=1 \
  --resume_from=sgd/recipe/checkpoint_0_epoch.pkl --run_dir=converted > converted.log 2>&1
check "converting: exits 0" test $? -eq 0
check "converting: says nothing is left" grep -q "1 epoch finished (--pytorch_epoch=index); nothing is left to train under --epochs=1" converted.log
check "converting: trains nothing" bash -c "! grep -q 'Validation:Epoch' converted.log"
check "converting: saves a checkpoint after epoch 1" test -f converted/checkpoints/step-0000000032/checkpoint.json
"${CKPT}" export converted/checkpoints/step-0000000032 converted.pt > /dev/null 2>&1
check "converting: with the file's weights" \
  /usr/bin/python3 -c "
import torch, sys
a = torch.load('converted.pt', weights_only=True)
b = torch.load('sgd/recipe/checkpoint_0_epoch.pkl', weights_only=False)['model_state_dict']
sys.exit(not all(torch.equal(a[k], b[k]) for k in b))"

# Hyper-parameters that differ are listed; the flags win.
"${TRAIN}" "${common[@]}" --optimizer=sgd --lr=0.01 --momentum=0.5 --epochs=2 \
  --resume_from=sgd/recipe/checkpoint_0_epoch.pkl --run_dir=differ > differ.log 2>&1
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
    bash -c "test -z \"\$(ls refused_${name} 2>/dev/null | grep -v '^LOCK$')\""
}
refused wrong_optimizer "'optimizer_state_dic.param_groups[0]' lacks betas.0, betas.1, eps, amsgrad: it was written by another optimizer than 'adam'" \
  --optimizer=adam --lr=0.001 --resume_from=sgd/recipe/checkpoint_0_epoch.pkl
refused missing_optimizer_state "no 'optimizer_state_dict' (nor the recipe's 'optimizer_state_dic')" \
  --optimizer=sgd --resume_from=no_optimizer.pt
refused parameter_count "'optimizer_state_dic.param_groups[0].params' lists 10 parameters, this run's group has 6 (the model has 6)" \
  --optimizer=sgd --model=mlp --resume_from=sgd/recipe/checkpoint_0_epoch.pkl
refused group_layout "'optimizer_state_dict.param_groups' has 2 group(s); this run's optimizer has 1 (--weight_decay_params=all)" \
  --optimizer=sgd --resume_from=two_groups.pt
refused epoch_below_index "'epoch' is -2, which under --pytorch_epoch=index (the 0-based index of the last finished epoch; -1: none finished) must be >= -1" \
  --optimizer=sgd --resume_from=epoch_minus_2.pt
refused epoch_below_count "'epoch' is -2, which under --pytorch_epoch=count (the number of epochs finished) must be >= 0" \
  --optimizer=sgd --resume_from=epoch_minus_2.pt --pytorch_epoch=count
refused bad_convention "--pytorch_epoch: must be index (the recipe's 'epoch': the 0-based index of the last finished epoch) or count (the number of epochs finished), got 'counted'" \
  --optimizer=sgd --resume_from=sgd/recipe/checkpoint_0_epoch.pkl --pytorch_epoch=counted
"${CKPT}" export sgd/straight/checkpoints/step-0000000032 bad_convention.pt --format=pytorch_checkpoint \
  --pytorch_epoch=counted > ckpt_bad_convention.log 2>&1
check "ckpt export --pytorch_epoch=counted: refused" test $? -ne 0
check "ckpt export --pytorch_epoch=counted: names the flag" grep -qF -- "--pytorch_epoch: must be index" ckpt_bad_convention.log
check "ckpt export --pytorch_epoch=counted: writes nothing" test ! -e bad_convention.pt

finish_checks
