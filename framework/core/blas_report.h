// Which BLAS LibTorch's matrix products run on, found in the running process
// (Debian's LibTorch calls whatever libblas.so.3 the alternatives system or
// LD_LIBRARY_PATH provides): the library that `sgemm_` resolves to, what it
// is, its kernels and threads. Every binary logs it at start-up and warns
// when the products run far below the machine's speed: on the reference
// BLAS (libblas3), on OpenBLAS's generic kernels where the CPU has AVX2 or
// AVX-512, or on OpenBLAS's pthreads build beside LibTorch's OpenMP threads.
//
//   framework::LogBlasAtStartup();
//   // I BLAS: OpenBLAS 0.3.21, OpenMP build, SkylakeX kernels (chosen at start-up instead
//   //   of OpenBLAS's generic Prescott: the CPU has AVX-512), .../libblas.so.3; 2 threads
//
// Linking this library also links the OpenBLAS kernel choice
// (openblas_kernel.h).
#ifndef FRAMEWORK_CORE_BLAS_REPORT_H_
#define FRAMEWORK_CORE_BLAS_REPORT_H_

#include <string>
#include <vector>

#include "framework/core/cpu_features.h"

namespace framework {

struct BlasReport {
  std::string library;         // the file sgemm_ is in; empty: not found
  std::string implementation;  // "OpenBLAS 0.3.21", "BLIS", "the reference BLAS (netlib)"
  bool reference = false;
  std::string build;           // "OpenMP build", "pthreads build", "sequential build", ""
  std::string kernel;          // OpenBLAS's core name ("SkylakeX"); empty for the others
  std::string kernel_origin;   // why that kernel, e.g. "OPENBLAS_CORETYPE from the environment"
  int threads = 0;             // LibTorch's intra-op threads
  int blas_threads = 0;        // OpenBLAS's own count (pthreads build); 0: follows OpenMP
};

// The BLAS of this process, now (threads as set at this moment).
BlasReport InspectBlas();

// One line: implementation, build, kernels, library, threads.
std::string DescribeBlas(const BlasReport& blas);

// What makes the products slow, each naming what to install or set; empty
// when nothing does.
std::vector<std::string> BlasWarnings(const BlasReport& blas, const CpuFeatures& cpu);

// LOG(INFO) "BLAS: " + DescribeBlas, then each warning as LOG(WARNING). Call
// once threads are set. Returns what it logged (for a report of its own).
BlasReport LogBlasAtStartup();

}  // namespace framework

#endif  // FRAMEWORK_CORE_BLAS_REPORT_H_
