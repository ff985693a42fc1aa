#!/usr/bin/env bash
# //experiments:char_gpt and the same model and recipe in Python PyTorch
# (char_gpt_pytorch.py), side by side in one run on the same threads and
# BLAS kernels: both start from the same weights (nanoGPT's initialisation,
# written by the Python side) and see the same batches in the same order.
# Prints each epoch's learning rate and validation loss for both, then the
# final validation losses and the training steps/s (median over the steps,
# evaluation excluded) with their ratios.
# usage: bazel run //benchmarks:char_gpt_side_by_side -- [EPOCHS [THREADS]]
set -euo pipefail
epochs=${1:-12}
threads=${2:-2}
runfiles=${RUNFILES_DIR:-$0.runfiles}/torchtrain
source "${runfiles}/tools/openblas_kernel.sh"  # Python on our binaries' kernels
data=${runfiles}/experiments/fortunes_tokens
python_side=${runfiles}/benchmarks/char_gpt_pytorch.py
work=$(mktemp -d)
trap 'rm -rf "${work}"' EXIT

echo "char_gpt side by side: ${epochs} epochs, ${threads} threads, OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-}"
/usr/bin/python3 "${python_side}" --data_dir="${data}" --write_init="${work}/init.pt"
"${runfiles}/experiments/char_gpt" --run_dir="${work}/cpp" --init_from="${work}/init.pt" \
  --epochs="${epochs}" --threads="${threads}" --progress=never --log_interval=0 \
  > "${work}/cpp.log" 2>&1 || { tail -20 "${work}/cpp.log"; exit 1; }
/usr/bin/python3 "${python_side}" --data_dir="${data}" --init="${work}/init.pt" \
  --cpp_run="${work}/cpp" --epochs="${epochs}" --threads="${threads}" | tee "${work}/python.log" |
  grep -v '^{"epoch"'
