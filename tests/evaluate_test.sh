#!/usr/bin/env bash
# //tools:evaluate reproduces a run's last validation line from its final
# checkpoint, from a .pt export and from a safetensors export; bad inputs are
# errors that name them.
set -u
TRAIN="$(realpath "$1")"
CKPT="$(realpath "$2")"
EVALUATE="$(realpath "$3")"
source "$(dirname "$0")/shell_checks.sh"
cd "${TEST_TMPDIR}"

"${TRAIN}" --dataset=synthetic --model=lenet --epochs=2 --batch_size=32 --eval_batch_size=50 \
  --log_interval=0 --progress=never --run_dir=run > train.log 2>&1
check "trained" grep -q "Finished 2 epoch(s)" train.log
expected=$(grep "Validation:Epoch\[002/002\]" train.log | sed -e 's/.*Epoch\[002\/002\] //' -e 's/ (train.*//')
echo "     last validation line: ${expected}"
final=$(ls -d run/checkpoints/step-* | sort | tail -1)

"${EVALUATE}" --weights="${final}" > checkpoint.out 2> checkpoint.err
check "checkpoint: same loss and accuracy" grep -qxF "Validation: ${expected}" checkpoint.out
check "checkpoint: a per-class table" grep -qE "^9 +[0-9]+ +[0-9]+ +[0-9.]+%$" checkpoint.out

"${EVALUATE}" --helpshort > help.txt 2>&1
check "--helpshort: the tool's usage and flags" grep -q "^  --weights=" help.txt
check "--helpshort: no LibTorch flags" bash -c "! grep -q caffe2 help.txt"

"${CKPT}" export "${final}" model.pt > /dev/null 2>&1
"${CKPT}" export "${final}" model.safetensors > /dev/null 2>&1
for file in model.pt model.safetensors; do
  "${EVALUATE}" --weights="${file}" --model=lenet --dataset=synthetic --eval_batch_size=50 \
    > "${file}.out" 2> "${file}.err"
  check "${file}: same loss and accuracy" grep -qxF "Validation: ${expected}" "${file}.out"
done

expect_failure() {
  local name=$1 expected=$2
  shift 2
  "${EVALUATE}" "$@" > "${name}.out" 2>&1
  local rc=$?
  check "${name}: exits non-zero" test "${rc}" -ne 0
  check "${name}: says '${expected}'" grep -qF -- "${expected}" "${name}.out"
}
expect_failure no_weights "--weights: is required"
expect_failure missing_file "--weights: ${TEST_TMPDIR}/none.pt does not exist" --weights=none.pt
expect_failure pt_without_model "--model: a PyTorch .pt file (${TEST_TMPDIR}/model.pt) does not name its model" \
  --weights=model.pt --dataset=synthetic
expect_failure wrong_model "does not fit the model; missing keys" --weights=model.pt --model=mlp \
  --dataset=synthetic

finish_checks
