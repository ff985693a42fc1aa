// GFLOP/s of the matrix products the models run, against the machine's peak
// computed from its CPU: threads x float lanes (16 with AVX-512, 8 with AVX2)
// x 2 (an FMA is a multiply and an add) x FMA units per core (--fma_units: 2
// on server cores from Skylake-SP on, 1 on some; CPUID does not say) x the
// clock (/proc/cpuinfo's "cpu MHz", the nominal one where the kernel reports
// no other; turbo can exceed it, so a figure above 100% means the cores ran
// faster than that clock, not an error).
//
// Products: LeNet's fully connected layers and the per-sample im2col product
// of its second convolution at batch 64, forward and both backward products
// of Linear(128, 512) on 2048 rows (the shape of issue #24's comparison), a
// GPT block's projections at 8 x 256 tokens of width 384, and a square 1024.
// Each at 1 thread and at --threads, best of --rounds.
//
//   bazel run -c opt //benchmarks:gemm -- --threads=2
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "framework/core/blas_report.h"
#include "framework/core/cpu_features.h"
#include "gflags/gflags.h"
#include "glog/logging.h"

DEFINE_int32(threads, 2, "Threads for the second column (the first is 1).");
DEFINE_int32(rounds, 5, "Timed rounds per product; the best is reported.");
DEFINE_double(fma_units, 2, "FMA units per core, for the peak.");
DEFINE_double(seconds_per_round, 0.2, "Approximate length of one timed round.");

namespace {

struct Product {
  const char* what;
  int64_t m, k, n;  // [m, k] x [k, n]
  bool transpose_b;  // the backward products multiply by a transpose
};

// The nominal clock in GHz: the highest "cpu MHz" line (0 when unreadable).
double ClockGhz() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  double mhz = 0;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("cpu MHz", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) mhz = std::max(mhz, std::stod(line.substr(colon + 1)));
    }
  }
  return mhz / 1000;
}

// Cycles per second of this core now: 10 dependent adds per iteration, the
// loop counter on an independent chain.
double MeasuredClockGhz() {
  constexpr int64_t kIterations = 100'000'000;
  int64_t value = 0;
  int64_t remaining = kIterations;
  const auto start = std::chrono::steady_clock::now();
  // add reg, reg: recent cores fold chains of add-immediate in the renamer.
  const int64_t one = 1;
  asm volatile(
      "1:\n\t"
      "add %[one], %[value]\n\tadd %[one], %[value]\n\tadd %[one], %[value]\n\t"
      "add %[one], %[value]\n\tadd %[one], %[value]\n\tadd %[one], %[value]\n\t"
      "add %[one], %[value]\n\tadd %[one], %[value]\n\tadd %[one], %[value]\n\t"
      "add %[one], %[value]\n\t"
      "sub $1, %[remaining]\n\t"
      "jnz 1b\n\t"
      : [value] "+r"(value), [remaining] "+r"(remaining)
      : [one] "r"(one)
      : "cc");
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CHECK_EQ(value, 10 * kIterations);
  return 10.0 * kIterations / seconds / 1e9;
}

double Gflops(const Product& product) {
  const at::Tensor a = at::randn({product.m, product.k});
  const at::Tensor b = product.transpose_b ? at::randn({product.n, product.k}).t()
                                           : at::randn({product.k, product.n});
  at::Tensor out = at::empty({product.m, product.n});
  const double flops = 2.0 * product.m * product.k * product.n;
  at::mm_out(out, a, b);  // warm-up: first-touch, thread start
  // Repetitions for about --seconds_per_round, from one untimed estimate.
  auto start = std::chrono::steady_clock::now();
  at::mm_out(out, a, b);
  const double once = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const int64_t repeats = std::max<int64_t>(1, static_cast<int64_t>(FLAGS_seconds_per_round / std::max(once, 1e-6)));
  double best = 0;
  for (int round = 0; round < FLAGS_rounds; ++round) {
    start = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < repeats; ++i) at::mm_out(out, a, b);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    best = std::max(best, flops * repeats / seconds / 1e9);
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  FLAGS_logtostderr = true;
  FLAGS_minloglevel = 1;
  google::InitGoogleLogging(argv[0]);
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  at::manual_seed(0);
  const framework::CpuFeatures cpu = framework::DetectCpuFeatures();
  const double nominal_ghz = ClockGhz();
  double ghz = 0;
  for (int i = 0; i < 3; ++i) ghz = std::max(ghz, MeasuredClockGhz());
  const double per_core = cpu.float_lanes() * 2 * FLAGS_fma_units * ghz;
  std::printf("CPU: %s, %d float lanes x 2 (FMA) x %.0f FMA unit(s) per core x %.2f GHz "
              "(measured; /proc/cpuinfo says %.2f) = peak %.1f GFLOP/s per core\n",
              cpu.name().c_str(), cpu.float_lanes(), FLAGS_fma_units, ghz, nominal_ghz,
              per_core);
  at::set_num_threads(1);
  // Its INFO line is below this binary's log level; its warnings are not.
  std::printf("BLAS: %s\n", framework::DescribeBlas(framework::LogBlasAtStartup()).c_str());

  const std::vector<Product> products = {
      {"lenet fc1 forward (64x256 . 256x120)", 64, 256, 120, true},
      {"lenet fc1 weight grad (120x64 . 64x256)", 120, 64, 256, false},
      {"lenet conv2 im2col, one sample (16x150 . 150x64)", 16, 150, 64, false},
      {"linear 128->512 forward (2048x128 . 128x512)", 2048, 128, 512, true},
      {"linear 128->512 input grad (2048x512 . 512x128)", 2048, 512, 128, false},
      {"linear 128->512 weight grad (512x2048 . 2048x128)", 512, 2048, 128, false},
      {"gpt qkv projection (2048x384 . 384x1152)", 2048, 384, 1152, true},
      {"gpt mlp up (2048x384 . 384x1536)", 2048, 384, 1536, true},
      {"gpt mlp down (2048x1536 . 1536x384)", 2048, 1536, 384, true},
      {"square 1024", 1024, 1024, 1024, false},
  };
  std::printf("\nGFLOP/s (%% of the peak of the threads' cores)\n%-52s %18s %18s\n",
              "product", "1 thread", (std::to_string(FLAGS_threads) + " threads").c_str());
  for (const Product& product : products) {
    at::set_num_threads(1);
    const double one = Gflops(product);
    at::set_num_threads(FLAGS_threads);
    const double many = Gflops(product);
    std::printf("%-52s %9.1f (%4.0f%%) %9.1f (%4.0f%%)\n", product.what, one,
                100 * one / per_core, many, 100 * many / (per_core * FLAGS_threads));
  }
  return 0;
}
