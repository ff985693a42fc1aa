// Resume-style checkpoint loads only, many rounds, side by side: 64 MiB in
// one tensor against the same bytes in --tensors tensors (each saved once by
// the CheckpointManager), loaded as --resume loads them (straight into the
// model, then LoadStateDict), the two models alternating round by round.
// Cold: the checkpoint's pages dropped before each load; warm: left in the
// page cache, which leaves the CPU's share of a load (what per-tensor work
// costs, without the device). checkpoint_throughput measures saves and
// devices as well but only a few load rounds; this one is for the load.
//   bazel run -c opt //benchmarks:checkpoint_load -- --rounds=30
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include <torch/optim/sgd.h>

#include "benchmarks/flat_model.h"
#include "framework/checkpoint/checkpoint.h"
#include "framework/checkpoint/checkpoint_manager.h"
#include "framework/core/blas_report.h"
#include "framework/data/dataset.h"
#include "framework/model/state_dict.h"
#include "framework/testing/test_task.h"
#include "framework/train/training_loop.h"
#include "gflags/gflags.h"
#include "glog/logging.h"

DEFINE_int32(tensors, 10000, "Tensors of the many-tensor model (64 MiB in all).");
DEFINE_int32(rounds, 20, "Loads of each model and kind; best and median reported.");
DEFINE_string(dir, "/var/tmp/checkpoint_load_benchmark", "Scratch directory on the device.");

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

using benchmarks::FlatModel;

void DropFromPageCache(const std::string& dir) {
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    const int fd = open(entry.path().c_str(), O_RDONLY);
    CHECK_GE(fd, 0) << entry.path();
    CHECK_EQ(fdatasync(fd), 0);
    CHECK_EQ(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
    close(fd);
  }
}

// A model of `tensors` tensors holding 64 MiB, its training loop and one
// checkpoint of it.
struct Subject {
  Subject(int64_t tensors, const std::string& dir) {
    const int64_t each = (int64_t{64} << 20) / 4 / tensors;
    model = std::make_shared<FlatModel>(std::vector<int64_t>(tensors, each));
    optimizer = std::make_unique<torch::optim::SGD>(model->parameters(),
                                                    torch::optim::SGDOptions(0.1));
    loop = std::make_unique<framework::TrainingLoop>(framework::LoopOptions(), *model, trainer,
                                                     *optimizer, nullptr, empty, empty);
    framework::CheckpointOptions options;
    options.directory = dir;
    options.every_epochs = 0;
    fs::remove_all(dir);
    auto manager = framework::CheckpointManager::Create(options, {"flat", {}}, {});
    CHECK(manager.ok()) << manager.status();
    CHECK((*manager)->Save(*loop).ok());
    checkpoint = (*manager)->last_saved();
  }

  // One load as --resume makes it; seconds.
  double Load(bool cold) {
    if (cold) DropFromPageCache(checkpoint);
    const auto start = Clock::now();
    framework::TensorDestinations destinations;
    for (auto& named : framework::StateDict(*model)) destinations[named.name] = named.tensor;
    auto state =
        framework::ReadCheckpoint(checkpoint, framework::DeviceMap(torch::kCPU), &destinations);
    CHECK(state.ok()) << state.status();
    CHECK(framework::LoadStateDict(*model, state->model, true, checkpoint).ok());
    state = absl::UnknownError("released");  // its release is part of a load
    return std::chrono::duration<double>(Clock::now() - start).count();
  }

  std::shared_ptr<FlatModel> model;
  std::unique_ptr<torch::optim::SGD> optimizer;
  framework::testing_task::TinyTrainer trainer;
  framework::Dataset empty;
  std::unique_ptr<framework::TrainingLoop> loop;
  std::string checkpoint;
};

struct Times {
  std::vector<double> seconds;
  double Best() const { return *std::min_element(seconds.begin(), seconds.end()); }
  double Median() {
    std::sort(seconds.begin(), seconds.end());
    return seconds[seconds.size() / 2];
  }
};

}  // namespace

int main(int argc, char** argv) {
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  google::InitGoogleLogging(argv[0]);
  FLAGS_logtostderr = true;
  FLAGS_minloglevel = 1;  // not every save's line
  framework::LogBlasAtStartup();
  CHECK_GE(FLAGS_tensors, 1);
  CHECK_GE(FLAGS_rounds, 1);
  Subject one(1, FLAGS_dir + "/one");
  Subject many(FLAGS_tensors, FLAGS_dir + "/many");
  Times one_cold, many_cold, one_warm, many_warm;
  for (int round = 0; round < FLAGS_rounds; ++round) {
    // Alternating which goes first, so that neither always follows the other.
    if (round % 2 == 0) {
      one_cold.seconds.push_back(one.Load(true));
      many_cold.seconds.push_back(many.Load(true));
      one_warm.seconds.push_back(one.Load(false));
      many_warm.seconds.push_back(many.Load(false));
    } else {
      many_cold.seconds.push_back(many.Load(true));
      one_cold.seconds.push_back(one.Load(true));
      many_warm.seconds.push_back(many.Load(false));
      one_warm.seconds.push_back(one.Load(false));
    }
  }
  const std::string many_name = std::to_string(FLAGS_tensors) + " tensors";
  std::printf("64 MiB, %d rounds (seconds: best, median)\n", FLAGS_rounds);
  std::printf("%-8s %22s %22s %16s\n", "load", "1 tensor", many_name.c_str(), "ratio of bests");
  for (auto [name, a, b] : {std::make_tuple("cold", &one_cold, &many_cold),
                            std::make_tuple("warm", &one_warm, &many_warm)}) {
    std::printf("%-8s %10.4f %10.4f  %10.4f %10.4f %15.2fx\n", name, a->Best(), a->Median(),
                b->Best(), b->Median(), b->Best() / a->Best());
  }
  std::printf("(cold: pages dropped before each load; warm: in the page cache, the CPU's share)\n");
  fs::remove_all(FLAGS_dir);
  return 0;
}
