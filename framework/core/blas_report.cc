#include "framework/core/blas_report.h"

#include <dlfcn.h>

#include <climits>
#include <cstdlib>

#include <ATen/Parallel.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "framework/core/openblas_kernel.h"
#include "glog/logging.h"

namespace framework {
namespace {

template <typename Function>
Function Symbol(void* library, const char* name) {
  return reinterpret_cast<Function>(dlsym(library, name));
}

}  // namespace

BlasReport InspectBlas() {
  BlasReport report;
  report.threads = at::get_num_threads();
  void* sgemm = dlsym(RTLD_DEFAULT, "sgemm_");
  Dl_info info{};
  if (sgemm == nullptr || dladdr(sgemm, &info) == 0 || info.dli_fname == nullptr) {
    report.implementation = "no BLAS found (sgemm_ is not loaded)";
    return report;
  }
  char resolved[PATH_MAX];
  report.library = realpath(info.dli_fname, resolved) != nullptr ? resolved : info.dli_fname;
  // The library and what it links (OpenBLAS's libblas.so.3 forwards to
  // libopenblas.so.0); already loaded, so this only takes a reference.
  void* library = dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
  auto config = library ? Symbol<const char* (*)()>(library, "openblas_get_config") : nullptr;
  if (config != nullptr) {
    std::vector<std::string> words = absl::StrSplit(config(), ' ', absl::SkipEmpty());
    report.implementation =
        words.size() >= 2 ? absl::StrCat(words[0], " ", words[1]) : std::string(config());
    if (auto parallel = Symbol<int (*)()>(library, "openblas_get_parallel")) {
      const int mode = parallel();
      report.build = mode == 2 ? "OpenMP build" : mode == 1 ? "pthreads build" : "sequential build";
      if (mode == 1) {
        if (auto threads = Symbol<int (*)()>(library, "openblas_get_num_threads")) {
          report.blas_threads = threads();
        }
      }
    }
    if (auto core = Symbol<const char* (*)()>(library, "openblas_get_corename")) {
      report.kernel = core();
    }
    if (!OpenBlasKernelCorrection().empty()) {
      report.kernel_origin = OpenBlasKernelCorrection();
    } else if (const char* user = std::getenv("OPENBLAS_CORETYPE")) {
      report.kernel_origin = absl::StrCat("OPENBLAS_CORETYPE=", user, " from the environment");
    } else {
      report.kernel_origin = "OpenBLAS's own choice";
    }
  } else if (absl::StrContains(report.library, "blis")) {
    report.implementation = "BLIS";
    if (absl::StrContains(report.library, "-openmp")) report.build = "OpenMP build";
    if (absl::StrContains(report.library, "-pthread")) report.build = "pthreads build";
  } else if (absl::StrContains(report.library, "/blas/libblas.so")) {
    report.implementation = "the reference BLAS (netlib, Debian's libblas3)";
    report.reference = true;
  } else {
    report.implementation = "an unrecognised BLAS";
  }
  if (library != nullptr) dlclose(library);
  return report;
}

std::string DescribeBlas(const BlasReport& blas) {
  std::string line = blas.implementation;
  if (!blas.build.empty()) absl::StrAppend(&line, ", ", blas.build);
  if (!blas.kernel.empty()) {
    absl::StrAppend(&line, ", ", blas.kernel, " kernels (", blas.kernel_origin, ")");
  }
  if (!blas.library.empty()) absl::StrAppend(&line, ", ", blas.library);
  absl::StrAppend(&line, "; ", blas.threads, blas.threads == 1 ? " thread" : " threads");
  if (blas.blas_threads > 0) absl::StrAppend(&line, " (OpenBLAS's own: ", blas.blas_threads, ")");
  return line;
}

std::vector<std::string> BlasWarnings(const BlasReport& blas, const CpuFeatures& cpu) {
  std::vector<std::string> warnings;
  if (blas.reference) {
    warnings.push_back(absl::StrCat(
        "matrix products run on the reference BLAS (", blas.library,
        "), 14x slower on one thread and 22-27x on two than OpenBLAS on the same machine "
        "(docs/performance.md): install libopenblas0-openmp (tools/bazel installs it)"));
  }
  const char* allowed = OpenBlasKernelFor(cpu);
  if (!blas.kernel.empty() && allowed != nullptr && !IsOpenBlasVectorKernel(blas.kernel.c_str())) {
    warnings.push_back(absl::StrCat(
        "OpenBLAS runs its generic ", blas.kernel, " kernels on a CPU with ", cpu.name(), " (",
        blas.kernel_origin, "), several times slower: set OPENBLAS_CORETYPE=", allowed,
        std::getenv("OPENBLAS_CORETYPE") ? ", or unset it for this binary to choose" : ""));
  }
  if (blas.build == "pthreads build" && !blas.kernel.empty()) {
    warnings.push_back(
        "OpenBLAS's pthreads build runs its own threads beside LibTorch's OpenMP ones and "
        "ignores --threads (a Linear layer 1.7x slower at 2 threads, docs/performance.md): "
        "install libopenblas0-openmp and choose it "
        "with update-alternatives --config libblas.so.3-x86_64-linux-gnu");
  }
  return warnings;
}

BlasReport LogBlasAtStartup() {
  BlasReport blas = InspectBlas();
  LOG(INFO) << "BLAS: " << DescribeBlas(blas);
  for (const std::string& warning : BlasWarnings(blas, DetectCpuFeatures())) {
    LOG(WARNING) << "BLAS: " << warning;
  }
  return blas;
}

}  // namespace framework
