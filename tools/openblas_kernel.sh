# Sourced by scripts that run Python PyTorch beside this project's binaries
# (tests/shell_checks.sh, benchmarks/data_parallel.sh): both must run the same
# BLAS kernels, to agree to the bit in tests and to be compared fairly in
# benchmarks. Our binaries replace OpenBLAS's generic fallback on a CPU it
# does not know (framework/core/openblas_kernel.h); Python's torch does not,
# so this chooses for both, by the same rule: SkylakeX where the CPU has the
# AVX-512 subsets those kernels use, Haswell for AVX2+FMA. A value the user
# set is kept.
if [[ -z ${OPENBLAS_CORETYPE:-} ]]; then
  openblas_cpu_flags=" $(grep -m1 '^flags' /proc/cpuinfo) "
  if [[ ${openblas_cpu_flags} == *" avx512f "* && ${openblas_cpu_flags} == *" avx512cd "* &&
        ${openblas_cpu_flags} == *" avx512bw "* && ${openblas_cpu_flags} == *" avx512dq "* &&
        ${openblas_cpu_flags} == *" avx512vl "* ]]; then
    export OPENBLAS_CORETYPE=SkylakeX
  elif [[ ${openblas_cpu_flags} == *" avx2 "* && ${openblas_cpu_flags} == *" fma "* ]]; then
    export OPENBLAS_CORETYPE=Haswell
  fi
  unset openblas_cpu_flags
fi
