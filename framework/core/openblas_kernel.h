// OpenBLAS picks its kernels at load time from the CPU's model number, and a
// model newer than its table gets the generic SSE3 ("Prescott") kernels: on
// this project's build machines (family 6, model 207) Debian's OpenBLAS
// 0.3.21 did so, and a 1024x1024 sgemm ran at 31 GFLOP/s on one core where
// its SkylakeX kernels reach 115 (measured side by side, same process
// settings; docs/performance.md).
//
// Every binary linked with this library corrects that before main: where
// OpenBLAS chose a kernel without the CPU's vector instructions and the user
// set no OPENBLAS_CORETYPE, it selects the kernels the CPU's features allow
// (SkylakeX for the AVX-512 subsets they use, Haswell for AVX2+FMA) the way
// OpenBLAS itself does at load: gotoblas_dynamic_quit(), OPENBLAS_CORETYPE,
// gotoblas_dynamic_init() (exported by every DYNAMIC_ARCH build; this runs
// before any matrix product). A kernel OpenBLAS chose for the CPU is kept. The
// variable stays in the environment, so child processes (a Python reference
// in a test, a launcher's workers) run the same kernels.
//
// Linked through //framework/core:blas_report, which logs the result.
#ifndef FRAMEWORK_CORE_OPENBLAS_KERNEL_H_
#define FRAMEWORK_CORE_OPENBLAS_KERNEL_H_

#include <string>

#include "framework/core/cpu_features.h"

namespace framework {

// The OpenBLAS kernels this CPU's features allow: "SkylakeX" with AVX-512,
// "Haswell" with AVX2+FMA, nullptr with neither (the generic ones are all).
const char* OpenBlasKernelFor(const CpuFeatures& cpu);

// Whether OpenBLAS's kernel `core` (openblas_get_corename()) uses AVX2+FMA or
// AVX-512: Haswell, Zen, SkylakeX, Cooperlake, SapphireRapids (0.3.21's names).
bool IsOpenBlasVectorKernel(const char* core);

// What the start-up correction did, for the report: empty when it did nothing,
// else "chosen at start-up instead of OpenBLAS's generic Prescott: the CPU
// has AVX-512", or why it could not.
const std::string& OpenBlasKernelCorrection();

}  // namespace framework

#endif  // FRAMEWORK_CORE_OPENBLAS_KERNEL_H_
