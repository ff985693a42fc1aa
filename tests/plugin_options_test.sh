#!/usr/bin/env bash
# A plugin optimizer's own declared options (plugins/optimizers/adagrad.cc:
# lr_decay, initial_accumulator_value) go everywhere the built-in ones go,
# with no table outside the plugin: --helpshort lists them with their
# effective values, a bad value is refused naming it, the run records them,
# a resume compares them and continues bit-exactly, and an export writes them
# into PyTorch's param_groups, which torch.optim.Adagrad loads.
set -u
TRAIN="$1"
CKPT="$2"
source "$(dirname "$0")/shell_checks.sh"

options='{"lr_decay":0.01,"initial_accumulator_value":0.1}'
args=(--dataset=synthetic --model=mlp --batch_size=32 --progress=never --log_interval=0
      --keep_last=10 --optimizer=adagrad --lr=0.05 --optimizer_options="${options}")

"${TRAIN}" "${args[@]}" --helpshort > "${TEST_TMPDIR}/help.txt" 2>&1
check "helpshort: lr_decay with its effective value and range" \
  grep -q "^  lr_decay=0.01$" "${TEST_TMPDIR}/help.txt"
check "helpshort: initial_accumulator_value, its default and PyTorch key" \
  grep -q "(default: 0.0) PyTorch: param_groups\[\].initial_accumulator_value." "${TEST_TMPDIR}/help.txt"
check "helpshort: lr set by --lr" grep -q "^  lr=0.05  (or --lr)$" "${TEST_TMPDIR}/help.txt"
# A data set declares its options the same way (synthetic's sizes): listed,
# used, and compared on resume.
"${TRAIN}" --dataset=synthetic --helpshort > "${TEST_TMPDIR}/data_help.txt" 2>&1
check "helpshort: the data set's options" grep -q "^  train_size=512$" "${TEST_TMPDIR}/data_help.txt"
"${TRAIN}" --dataset=synthetic --model=mlp --dataset_options='{"train_size":64,"valid_size":32}' \
  --epochs=1 --progress=never --run_dir="${TEST_TMPDIR}/data_options" > "${TEST_TMPDIR}/data_options.log" 2>&1
check "--dataset_options reach the data set" grep -q "64 training and 32 validation samples" \
  "${TEST_TMPDIR}/data_options.log"
"${TRAIN}" --dataset=synthetic --model=mlp --dataset_options='{"train_size":128,"valid_size":32}' \
  --epochs=2 --progress=never --run_dir="${TEST_TMPDIR}/data_options" --resume \
  > "${TEST_TMPDIR}/data_options_resume.log" 2>&1
check "a resume with other data set options is refused, naming them" \
  grep -qF -e "--dataset_options: checkpoint '{\"train_size\":64,\"valid_size\":32}', now '{\"train_size\":128,\"valid_size\":32}'" \
  "${TEST_TMPDIR}/data_options_resume.log"
# A model declares its options the same way (plugins/models/mlp.cc).
"${TRAIN}" --model=mlp --model_options='{"dropout":0.5}' --helpshort > "${TEST_TMPDIR}/model_help.txt" 2>&1
check "helpshort: the model's options, given and default" \
  grep -qzP "model 'mlp', its options.*\n(.*\n)*  hidden=\[256,128\]\n.*\n  dropout=0.5\n.*\(default: 0.2\)" \
  "${TEST_TMPDIR}/model_help.txt"

"${TRAIN}" "${args[@]}" --run_dir="${TEST_TMPDIR}/bad" \
  --optimizer_options='{"initial_accumulator_value":-0.5}' > "${TEST_TMPDIR}/bad.log" 2>&1
rc=$?
check "a bad value fails" test "${rc}" -ne 0
check "the error names the key, the option and the range" grep -qF -e \
  "--optimizer_options key \"initial_accumulator_value\": option 'initial_accumulator_value' of optimizer 'adagrad' must be >= 0, got -0.5" \
  "${TEST_TMPDIR}/bad.log"
check "a refused run writes no checkpoint" test ! -e "${TEST_TMPDIR}/bad/checkpoints/step-"*

straight="${TEST_TMPDIR}/straight"
"${TRAIN}" "${args[@]}" --epochs=3 --run_dir="${straight}" > "${straight}.log" 2>&1
check "uninterrupted run" grep -q "Finished 3 epoch(s)" "${straight}.log"
check "flags.json records lr_decay" grep -q '"optimizer.lr_decay": *"0.01"' "${straight}/flags.json"
check "the manifest records initial_accumulator_value" \
  grep -q '"optimizer.initial_accumulator_value": *"0.1"' "$(newest_checkpoint "${straight}")/checkpoint.json"
check "the manifest records the eps default" \
  grep -q '"optimizer.eps": *"1e-10"' "$(newest_checkpoint "${straight}")/checkpoint.json"

resumed="${TEST_TMPDIR}/resumed"
"${TRAIN}" "${args[@]}" --epochs=1 --run_dir="${resumed}" > "${resumed}.1.log" 2>&1
"${TRAIN}" "${args[@]}" --epochs=3 --run_dir="${resumed}" --optimizer_options='{"lr_decay":0.02,"initial_accumulator_value":0.1}' \
  --resume > "${resumed}.changed.log" 2>&1
check "a resume with another lr_decay is refused" grep -qF \
  "option optimizer.lr_decay: checkpoint '0.01', now '0.02'" "${resumed}.changed.log"
"${TRAIN}" "${args[@]}" --epochs=3 --run_dir="${resumed}" --resume > "${resumed}.2.log" 2>&1
check "the resume continues at epoch 2" grep -q "Resumed from .* at epoch 2" "${resumed}.2.log"
check "resumed run ends bit-exactly where the uninterrupted one does" same_run "${straight}" "${resumed}"

"${CKPT}" export "$(newest_checkpoint "${straight}")" "${TEST_TMPDIR}/recipe.pt" \
  --format=pytorch_checkpoint > "${TEST_TMPDIR}/export.log" 2>&1
check "export as PyTorch's training checkpoint" test -s "${TEST_TMPDIR}/recipe.pt"
check "param_groups hold adagrad's options; torch.optim.Adagrad loads them" /usr/bin/python3 -c "
import sys, torch
d = torch.load(sys.argv[1])
g = d['optimizer_state_dict']['param_groups'][0]
assert g['lr_decay'] == 0.01, g
assert g['initial_accumulator_value'] == 0.1, g
assert g['eps'] == 1e-10, g
params = [torch.zeros(1, requires_grad=True) for _ in g['params']]
opt = torch.optim.Adagrad(params, lr=0.05)
opt.load_state_dict(d['optimizer_state_dict'])
assert opt.param_groups[0]['lr_decay'] == 0.01
print('param_groups[0]:', {k: v for k, v in g.items() if k != 'params'})
" "${TEST_TMPDIR}/recipe.pt"

finish_checks
