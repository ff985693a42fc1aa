// All-reduce time per training step of GradientAverager, for
// //benchmarks:data_parallel: gradients of a model of --parameters floats
// (as tensors of --tensor_elements), averaged over the ranks of a launch
// (torchrun) in buckets of --bucket_mb, without a backward pass to overlap
// with: the time a step waits at most. With --busy_ms, each rank first
// computes (spins) that long, as a training step does, so the collective's
// threads must find a core. Rank 0 prints one JSON line.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "framework/core/blas_report.h"
#include "framework/distributed/communicator.h"
#include "framework/distributed/gradient_averager.h"
#include "framework/distributed/launch_environment.h"
#include "gflags/gflags.h"
#include "glog/logging.h"

DEFINE_int64(parameters, 44426, "Parameters (float32) of the model; LeNet's by default.");
DEFINE_int64(tensor_elements, 1 << 20, "Largest parameter tensor.");
DEFINE_int64(bucket_mb, 25, "Bucket size, MiB.");
DEFINE_int32(rounds, 20, "Steps timed (after 3 untimed).");
DEFINE_double(busy_ms, 0, "Compute (a busy loop) before each step's all-reduce, as a training "
              "step has; 0: ranks meet at a barrier instead.");
DEFINE_bool(shared_memory_all_reduce, true,
            "Sum through shared memory (ranks on one machine) rather than over Gloo.");

int main(int argc, char** argv) {
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  google::InitGoogleLogging(argv[0]);
  FLAGS_logtostderr = true;
  at::set_num_threads(1);
  framework::LogBlasAtStartup();
  absl::StatusOr<framework::LaunchEnvironment> launch = framework::ReadLaunchEnvironment();
  CHECK(launch.ok() && launch->distributed()) << "run under torchrun with 2+ ranks";
  framework::CommunicatorOptions options;
  options.shared_memory = FLAGS_shared_memory_all_reduce;
  absl::StatusOr<std::unique_ptr<framework::Communicator>> group =
      framework::Communicator::Connect(*launch, options);
  CHECK(group.ok()) << group.status();
  std::vector<at::Tensor> parameters;
  for (int64_t left = FLAGS_parameters; left > 0; left -= FLAGS_tensor_elements) {
    at::Tensor parameter = at::zeros({std::min(left, FLAGS_tensor_elements)}).set_requires_grad(true);
    parameter.mutable_grad() = at::ones_like(parameter);
    parameters.push_back(parameter);
  }
  framework::GradientAverager averager(**group, parameters, FLAGS_bucket_mb << 20);
  std::vector<double> milliseconds;
  for (int round = 0; round < FLAGS_rounds + 3; ++round) {
    if (FLAGS_busy_ms > 0) {
      const auto until = std::chrono::steady_clock::now() +
                         std::chrono::microseconds(static_cast<int64_t>(FLAGS_busy_ms * 1000));
      while (std::chrono::steady_clock::now() < until) {
      }
    } else {
      CHECK((*group)->Barrier("before a round").ok());
    }
    const auto start = std::chrono::steady_clock::now();
    averager.StartStep(1.0 / static_cast<double>((*group)->world_size()));
    CHECK(averager.FinishStep().ok());
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (round >= 3) milliseconds.push_back(ms);
  }
  std::sort(milliseconds.begin(), milliseconds.end());
  if ((*group)->rank() == 0) {
    std::printf("{\"parameters\": %lld, \"megabytes\": %.1f, \"buckets\": %lld, "
                "\"median_ms\": %.3f, \"min_ms\": %.3f}\n",
                static_cast<long long>(FLAGS_parameters), FLAGS_parameters * 4 / 1e6,
                static_cast<long long>(averager.bucket_count()),
                milliseconds[milliseconds.size() / 2], milliseconds.front());
  }
  return 0;
}
