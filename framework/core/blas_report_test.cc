#include "framework/core/blas_report.h"

#include <cstdio>

#include "framework/core/openblas_kernel.h"
#include "gtest/gtest.h"

namespace framework {
namespace {

BlasReport OpenBlas(const std::string& kernel, const std::string& build = "OpenMP build") {
  BlasReport blas;
  blas.library = "/usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3";
  blas.implementation = "OpenBLAS 0.3.21";
  blas.build = build;
  blas.kernel = kernel;
  blas.kernel_origin = "OpenBLAS's own choice";
  blas.threads = 2;
  return blas;
}

CpuFeatures Avx2() {
  CpuFeatures cpu;
  cpu.avx2_fma = true;
  return cpu;
}

CpuFeatures Avx512() {
  CpuFeatures cpu = Avx2();
  cpu.avx512 = true;
  return cpu;
}

TEST(BlasReportTest, NoWarningForOpenBlasWithVectorKernels) {
  EXPECT_TRUE(BlasWarnings(OpenBlas("SkylakeX"), Avx512()).empty());
  EXPECT_TRUE(BlasWarnings(OpenBlas("Haswell"), Avx2()).empty());
  EXPECT_TRUE(BlasWarnings(OpenBlas("Zen"), Avx512()).empty());  // OpenBLAS's own, kept
}

TEST(BlasReportTest, TheReferenceBlasNamesThePackageToInstall) {
  BlasReport blas;
  blas.library = "/usr/lib/x86_64-linux-gnu/blas/libblas.so.3.11.0";
  blas.implementation = "the reference BLAS (netlib, Debian's libblas3)";
  blas.reference = true;
  const std::vector<std::string> warnings = BlasWarnings(blas, Avx2());
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("install libopenblas0-openmp"), std::string::npos) << warnings[0];
  EXPECT_NE(warnings[0].find(blas.library), std::string::npos) << warnings[0];
}

TEST(BlasReportTest, GenericKernelsNameTheKernelTheCpuAllows) {
  std::vector<std::string> warnings = BlasWarnings(OpenBlas("Prescott"), Avx512());
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("generic Prescott kernels on a CPU with AVX-512"), std::string::npos)
      << warnings[0];
  EXPECT_NE(warnings[0].find("set OPENBLAS_CORETYPE=SkylakeX"), std::string::npos) << warnings[0];
  warnings = BlasWarnings(OpenBlas("Nehalem"), Avx2());
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("set OPENBLAS_CORETYPE=Haswell"), std::string::npos) << warnings[0];
  // A CPU without AVX2 has nothing better than the generic kernels.
  EXPECT_TRUE(BlasWarnings(OpenBlas("Prescott"), CpuFeatures()).empty());
}

TEST(BlasReportTest, ThePthreadsBuildNamesTheOpenMpOne) {
  const std::vector<std::string> warnings =
      BlasWarnings(OpenBlas("SkylakeX", "pthreads build"), Avx512());
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("install libopenblas0-openmp"), std::string::npos) << warnings[0];
}

TEST(BlasReportTest, DescribesImplementationBuildKernelsLibraryAndThreads) {
  EXPECT_EQ(DescribeBlas(OpenBlas("SkylakeX")),
            "OpenBLAS 0.3.21, OpenMP build, SkylakeX kernels (OpenBLAS's own choice), "
            "/usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3; 2 threads");
}

TEST(BlasReportTest, FindsTheBlasOfThisProcess) {
  const BlasReport blas = InspectBlas();
  EXPECT_FALSE(blas.library.empty()) << DescribeBlas(blas);
  EXPECT_NE(blas.library.find("libblas.so"), std::string::npos) << DescribeBlas(blas);
  EXPECT_GT(blas.threads, 0);
  std::printf("this process: %s\n", DescribeBlas(blas).c_str());
}

TEST(OpenBlasKernelTest, VectorKernelsAreOpenBlasNamesForAvx2AndAvx512) {
  for (const char* core : {"Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids"}) {
    EXPECT_TRUE(IsOpenBlasVectorKernel(core)) << core;
  }
  for (const char* core : {"Prescott", "Nehalem", "Sandybridge", "Core2", ""}) {
    EXPECT_FALSE(IsOpenBlasVectorKernel(core)) << core;
  }
}

}  // namespace
}  // namespace framework
