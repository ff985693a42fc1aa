#include "framework/core/cpu_features.h"

namespace framework {

std::string CpuFeatures::name() const {
  if (avx512) return "AVX-512";
  if (avx2_fma) return "AVX2+FMA";
  return "SSE";
}

CpuFeatures DetectCpuFeatures() {
  // Fills libgcc's table, which its own constructor may not have yet.
  __builtin_cpu_init();
  CpuFeatures features;
  features.avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  features.avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
                    __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
                    __builtin_cpu_supports("avx512vl");
  return features;
}

}  // namespace framework
