#include "framework/core/openblas_kernel.h"

#include <dlfcn.h>

#include <cstdlib>
#include <cstring>

#include "framework/core/cpu_features.h"

namespace framework {
namespace {

std::string& Correction() {
  static auto* correction = new std::string;
  return *correction;
}

__attribute__((constructor)) void CorrectOpenBlasKernel() {
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr) return;  // the user's choice
  using Core = const char* (*)();
  using Hook = void (*)();
  auto core = reinterpret_cast<Core>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  if (core == nullptr) return;  // not OpenBLAS
  const CpuFeatures cpu = DetectCpuFeatures();
  const char* wanted = OpenBlasKernelFor(cpu);
  const std::string chosen = core();
  if (wanted == nullptr || IsOpenBlasVectorKernel(chosen.c_str())) return;
  auto quit = reinterpret_cast<Hook>(dlsym(RTLD_DEFAULT, "gotoblas_dynamic_quit"));
  auto init = reinterpret_cast<Hook>(dlsym(RTLD_DEFAULT, "gotoblas_dynamic_init"));
  if (quit == nullptr || init == nullptr) {
    Correction() = "OpenBLAS's own choice; not a DYNAMIC_ARCH build, so " + chosen +
                   " cannot be replaced";
    return;
  }
  setenv("OPENBLAS_CORETYPE", wanted, /*overwrite=*/1);
  quit();
  init();
  Correction() = std::strcmp(core(), wanted) == 0
                     ? "chosen at start-up instead of OpenBLAS's generic " + chosen +
                           ": the CPU has " + cpu.name()
                     : std::string("start-up choice of ") + wanted + " failed; OpenBLAS runs " +
                           core();
}

}  // namespace

const char* OpenBlasKernelFor(const CpuFeatures& cpu) {
  if (cpu.avx512) return "SkylakeX";
  if (cpu.avx2_fma) return "Haswell";
  return nullptr;
}

bool IsOpenBlasVectorKernel(const char* core) {
  for (const char* name : {"Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids"}) {
    if (std::strcmp(core, name) == 0) return true;
  }
  return false;
}

const std::string& OpenBlasKernelCorrection() { return Correction(); }

}  // namespace framework
