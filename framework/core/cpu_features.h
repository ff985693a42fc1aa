// The vector instructions this CPU runs, read from CPUID (through the
// compiler's __builtin_cpu_supports, usable in constructors): what the BLAS
// start-up report compares the BLAS's kernel with, what the OpenBLAS kernel
// choice reads, and what //benchmarks:gemm computes the machine's peak from.
//
//   const CpuFeatures cpu = DetectCpuFeatures();
//   if (cpu.avx512) ...  // "avx512 (F, CD, BW, DQ, VL)"
#ifndef FRAMEWORK_CORE_CPU_FEATURES_H_
#define FRAMEWORK_CORE_CPU_FEATURES_H_

#include <string>

namespace framework {

struct CpuFeatures {
  bool avx2_fma = false;  // AVX2 and FMA3: Haswell and later, Zen
  // AVX-512 F, CD, BW, DQ and VL: what OpenBLAS's SkylakeX kernels use.
  bool avx512 = false;

  // float lanes of the widest of these (4 with neither: SSE).
  int float_lanes() const { return avx512 ? 16 : avx2_fma ? 8 : 4; }
  // "AVX-512", "AVX2+FMA" or "SSE".
  std::string name() const;
};

CpuFeatures DetectCpuFeatures();

}  // namespace framework

#endif  // FRAMEWORK_CORE_CPU_FEATURES_H_
