#!/usr/bin/env bash
# Every binary names the BLAS its matrix products run on at start-up, and
# warns, naming what to install or set, when the products run far below the
# machine's speed. As installed by tools/bazel: OpenBLAS's OpenMP build with
# vector kernels and no warning. The reference BLAS forced through
# LD_LIBRARY_PATH: the warning names libopenblas0-openmp. OpenBLAS's generic
# kernels forced with OPENBLAS_CORETYPE on a CPU with AVX2 or AVX-512: the
# warning names the kernel to set. The run's numbers stay deterministic at a
# fixed thread count: two runs end with the same bits.
set -u
TRAIN="$(realpath "$1")"
EVALUATE="$(realpath "$2")"
source "$(dirname "$0")/shell_checks.sh"
unset OPENBLAS_CORETYPE  # shell_checks.sh pins it for the Python references
cd "${TEST_TMPDIR}"

run() {  # NAME [ENV=VALUE...]: a short LeNet run, its log in NAME.log
  local name=$1
  shift
  env "$@" "${TRAIN}" --model=lenet --dataset=synthetic --dataset_options='{"train_size":512}' \
    --epochs=1 --threads=2 --progress=never --run_dir="${name}" > "${name}.log" 2>&1
}
cpu_flags=" $(grep -m1 '^flags' /proc/cpuinfo) "
has_avx2=false
[[ ${cpu_flags} == *" avx2 "* && ${cpu_flags} == *" fma "* ]] && has_avx2=true
echo "     CPU has AVX2+FMA: ${has_avx2}"

run installed
check "installed: exits 0" grep -q "Finished 1 epoch(s)" installed.log
check "installed: the start-up line names OpenBLAS's OpenMP build" \
  grep -qE "BLAS: OpenBLAS [0-9.]+, OpenMP build, .*openblas-openmp/libblas.so.3; 2 threads" installed.log
if ${has_avx2}; then
  check "installed: with vector kernels (OpenBLAS's, or chosen at start-up)" \
    grep -qE "BLAS: .*, (Haswell|Zen|SkylakeX|Cooperlake|SapphireRapids) kernels \(" installed.log
fi
check "installed: no BLAS warning" bash -c "! grep -q '^W.*BLAS:' installed.log"
grep "BLAS:" installed.log | sed 's/^/     /'

run again
check "the same bits at the same thread count" cmp -s installed/checkpoints/step-0000000008/model.safetensors \
  again/checkpoints/step-0000000008/model.safetensors

run reference LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/blas
check "reference BLAS: the start-up line names it" \
  grep -qF "BLAS: the reference BLAS (netlib, Debian's libblas3), /usr/lib/x86_64-linux-gnu/blas/libblas.so.3" reference.log
check "reference BLAS: warns, naming the package to install" \
  grep -qE "^W.*BLAS: matrix products run on the reference BLAS .*install libopenblas0-openmp" reference.log
check "reference BLAS: still trains" grep -q "Finished 1 epoch(s)" reference.log

if ${has_avx2}; then
  run generic OPENBLAS_CORETYPE=Prescott
  check "generic kernels: the start-up line says who chose them" \
    grep -qF "Prescott kernels (OPENBLAS_CORETYPE=Prescott from the environment)" generic.log
  check "generic kernels: warns, naming the kernel to set" \
    grep -qE "^W.*BLAS: OpenBLAS runs its generic Prescott kernels on a CPU with (AVX-512|AVX2\+FMA) .*set OPENBLAS_CORETYPE=(SkylakeX|Haswell)" generic.log
fi

# Another binary: the evaluation tool logs it too (its INFO lines shown).
"${EVALUATE}" --weights=installed/checkpoints/step-0000000008 --dataset=synthetic \
  --minloglevel=0 > evaluate.log 2>&1
check "evaluate: names the BLAS" grep -qE "BLAS: OpenBLAS [0-9.]+, OpenMP build" evaluate.log

finish_checks
