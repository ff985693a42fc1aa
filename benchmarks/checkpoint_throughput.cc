// Checkpoint save/load throughput of the CheckpointManager against LibTorch's
// own torch::save / torch::load, on a model of at least 1 GiB of parameters,
// with durability matched (both fsync their files), plus the peak extra
// memory of a save and the training stall of an async save, all measured
// side by side in one process.
//
//   bazel run -c opt //benchmarks:checkpoint_throughput -- --gib=1 --dir=/tmp/bench
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <ATen/Parallel.h>
#include <torch/nn/module.h>
#include <torch/optim/sgd.h>
#include <torch/serialize.h>

#include "framework/checkpoint/checkpoint.h"
#include "framework/checkpoint/checkpoint_manager.h"
#include "framework/data/dataset.h"
#include "framework/model/state_dict.h"
#include "framework/testing/test_task.h"
#include "framework/train/training_loop.h"
#include "gflags/gflags.h"
#include "glog/logging.h"

DEFINE_double(gib, 1.0, "Parameter size of the model in GiB.");
DEFINE_string(dir, "/tmp/checkpoint_benchmark", "Scratch directory (needs ~3x the model size).");
DEFINE_int32(rounds, 2, "Rounds of each measurement; the best is reported.");

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// A model that is nothing but large weight matrices.
class BigModel : public framework::Model {
 public:
  explicit BigModel(int64_t layers) {
    for (int64_t i = 0; i < layers; ++i) {
      weights_.push_back(register_parameter("layer" + std::to_string(i) + "_weight",
                                            torch::randn({4096, 4096})));
    }
  }
  torch::Tensor forward(torch::Tensor x) override { return x; }

 private:
  std::vector<torch::Tensor> weights_;
};

void SyncFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY);
  CHECK_GE(fd, 0) << path;
  CHECK_EQ(fsync(fd), 0);
  close(fd);
}

// Drops the page cache so loads read from disk; returns false if not allowed.
bool DropCaches() {
  sync();
  std::ofstream drop("/proc/sys/vm/drop_caches");
  if (!drop) return false;
  drop << "3\n";
  drop.flush();
  return static_cast<bool>(drop);
}

int64_t ReadStatusKiB(const char* field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(field, 0) == 0) return std::stoll(line.substr(std::strlen(field)));
  }
  return -1;
}

// Resets the peak-RSS counter (Linux >= 4.0).
void ResetPeakRss() { std::ofstream("/proc/self/clear_refs") << "5\n"; }

}  // namespace

int main(int argc, char** argv) {
  FLAGS_logtostderr = true;
  FLAGS_minloglevel = 1;
  google::InitGoogleLogging(argv[0]);
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  fs::remove_all(FLAGS_dir);
  fs::create_directories(FLAGS_dir);

  const int64_t layers = static_cast<int64_t>(FLAGS_gib * 16 + 0.999);  // 64 MiB each
  torch::manual_seed(0);
  auto model = std::make_shared<BigModel>(layers);
  const double bytes = static_cast<double>(layers) * 4096 * 4096 * 4;
  const double gib = bytes / (1 << 30);
  torch::optim::SGD optimizer(model->parameters(), torch::optim::SGDOptions(0.1));
  framework::testing_task::TinyTrainer trainer;
  framework::Dataset empty;
  framework::LoopOptions loop_options;
  framework::TrainingLoop loop(loop_options, *model, trainer, optimizer, nullptr, empty, empty);

  framework::CheckpointOptions options;
  options.directory = FLAGS_dir + "/checkpoints";
  // Old checkpoints are removed outside the timed region, as torch::save's
  // old file is.
  options.keep_last = 1000;
  options.every_epochs = 0;
  auto manager = framework::CheckpointManager::Create(options, {"big", {}}, {});
  CHECK(manager.ok()) << manager.status();
  options.fsync = false;
  options.directory = FLAGS_dir + "/unsynced";
  auto unsynced_manager = framework::CheckpointManager::Create(options, {"big", {}}, {});
  CHECK(unsynced_manager.ok());
  options.fsync = true;
  options.async = true;
  options.directory = FLAGS_dir + "/async";
  auto async_manager = framework::CheckpointManager::Create(options, {"big", {}}, {});
  CHECK(async_manager.ok());

  const std::string torch_path = FLAGS_dir + "/model.pt";
  double torch_save_unsynced = 1e9, ours_save_unsynced = 1e9;
  double torch_load_warm = 1e9, ours_load_warm = 1e9;
  double torch_save = 1e9, ours_save = 1e9, torch_load = 1e9, ours_load = 1e9, stall = 1e9;
  int64_t torch_extra_kib = 0, ours_extra_kib = 0;
  bool cold = true;
  int64_t step = 0;
  for (int round = 0; round < FLAGS_rounds; ++round) {
    // Without fsync, both: what each costs on top of the page cache. Dirty
    // pages of the previous write are flushed first, and the order
    // alternates between rounds, so neither is throttled by the other's
    // writeback more than the other is.
    framework::LoopPosition position;
    position.metric_sums = {0.0};
    auto torch_unsynced = [&] {
      fs::remove(torch_path);
      sync();
      const auto begin = Clock::now();
      torch::save(std::static_pointer_cast<torch::nn::Module>(model), torch_path);
      torch_save_unsynced = std::min(torch_save_unsynced, Seconds(begin));
    };
    auto ours_unsynced = [&] {
      position.global_step = ++step;
      CHECK(loop.Restore(position, {}).ok());
      fs::remove_all(FLAGS_dir + "/unsynced");
      fs::create_directories(FLAGS_dir + "/unsynced");
      sync();
      const auto begin = Clock::now();
      CHECK((*unsynced_manager)->Save(loop).ok());
      ours_save_unsynced = std::min(ours_save_unsynced, Seconds(begin));
    };
    if (round % 2 == 0) {
      torch_unsynced();
      ours_unsynced();
    } else {
      ours_unsynced();
      torch_unsynced();
    }
    sync();

    // torch::save, then fsync of its file.
    fs::remove(torch_path);
    sync();
    int64_t base = ReadStatusKiB("VmRSS:");
    ResetPeakRss();
    auto start = Clock::now();
    torch::save(std::static_pointer_cast<torch::nn::Module>(model), torch_path);
    SyncFile(torch_path);
    torch_save = std::min(torch_save, Seconds(start));
    torch_extra_kib = std::max(torch_extra_kib, ReadStatusKiB("VmHWM:") - base);

    // The CheckpointManager's synchronous, fsynced, atomic save.
    fs::remove_all(FLAGS_dir + "/checkpoints");
    fs::create_directories(FLAGS_dir + "/checkpoints");
    sync();
    position.global_step = ++step;
    CHECK(loop.Restore(position, {}).ok());
    base = ReadStatusKiB("VmRSS:");
    ResetPeakRss();
    start = Clock::now();
    CHECK((*manager)->Save(loop).ok());
    ours_save = std::min(ours_save, Seconds(start));
    ours_extra_kib = std::max(ours_extra_kib, ReadStatusKiB("VmHWM:") - base);

    // Loads, from a cold page cache when allowed.
    cold = DropCaches() && cold;
    start = Clock::now();
    torch::load(model, torch_path);
    torch_load = std::min(torch_load, Seconds(start));
    const std::string newest = (*manager)->last_saved();
    cold = DropCaches() && cold;
    start = Clock::now();
    // As a resume does: weights straight into the model's tensors.
    std::map<std::string, at::Tensor> destinations;
    for (auto& named : framework::StateDict(*model)) destinations[named.name] = named.tensor;
    auto state = framework::ReadCheckpoint(newest, framework::DeviceMap(torch::kCPU), &destinations);
    CHECK(state.ok()) << state.status();
    CHECK(framework::LoadStateDict(*model, state->model, true, newest).ok());
    ours_load = std::min(ours_load, Seconds(start));
    state = absl::UnknownError("released");

    // Loads again, now from the page cache: the loaders' own cost.
    start = Clock::now();
    torch::load(model, torch_path);
    torch_load_warm = std::min(torch_load_warm, Seconds(start));
    start = Clock::now();
    state = framework::ReadCheckpoint(newest, framework::DeviceMap(torch::kCPU), &destinations);
    CHECK(state.ok()) << state.status();
    CHECK(framework::LoadStateDict(*model, state->model, true, newest).ok());
    ours_load_warm = std::min(ours_load_warm, Seconds(start));
    state = absl::UnknownError("released");

    // Async: how long the training thread waits before it can continue.
    position.global_step = ++step;
    CHECK(loop.Restore(position, {}).ok());
    start = Clock::now();
    CHECK((*async_manager)->Save(loop).ok());
    stall = std::min(stall, Seconds(start));
    CHECK((*async_manager)->Wait().ok());
  }

  std::printf("model: %.2f GiB of float32 parameters (%lld x 4096x4096), %d thread(s), best of %d\n",
              gib, static_cast<long long>(layers), at::get_num_threads(), FLAGS_rounds);
  std::printf("%-44s %12s %12s %8s\n", "", "LibTorch", "framework", "ratio");
  std::printf("%-44s %10.0f MB/s %8.0f MB/s %7.2fx\n", "save (no fsync, both)",
              bytes / 1e6 / torch_save_unsynced, bytes / 1e6 / ours_save_unsynced,
              torch_save_unsynced / ours_save_unsynced);
  std::printf("%-44s %10.0f MB/s %8.0f MB/s %7.2fx (target >= 1.5)\n", "save (fsync, both)",
              bytes / 1e6 / torch_save, bytes / 1e6 / ours_save, torch_save / ours_save);
  std::printf("%-44s %10.0f MB/s %8.0f MB/s %7.2fx (target >= 2)\n",
              cold ? "load (cold page cache)" : "load (page cache warm: drop_caches refused)",
              bytes / 1e6 / torch_load, bytes / 1e6 / ours_load, torch_load / ours_load);
  std::printf("%-44s %10.0f MB/s %8.0f MB/s %7.2fx\n", "load (page cache warm)",
              bytes / 1e6 / torch_load_warm, bytes / 1e6 / ours_load_warm,
              torch_load_warm / ours_load_warm);
  std::printf("%-44s %9.1f%% %11.1f%%          (target <= 10%%)\n", "peak extra memory during save / size",
              100.0 * torch_extra_kib * 1024 / bytes, 100.0 * ours_extra_kib * 1024 / bytes);
  std::printf("%-44s %22.1f%%          (target <= 10%%)\n", "async save stall / sync save time",
              100.0 * stall / ours_save);
  std::printf("(sync save %.2f s, async stall %.3f s)\n", ours_save, stall);
  fs::remove_all(FLAGS_dir);
  return 0;
}
