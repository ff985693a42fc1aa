#include "framework/checkpoint/checkpoint_manager.h"

#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "framework/testing/fault_injecting_env.h"
#include "framework/testing/test_task.h"
#include <torch/optim/sgd.h>
#include "framework/model/state_dict.h"
#include "gtest/gtest.h"

namespace framework {
namespace {

namespace fs = std::filesystem;
using testing_task::TinyData;
using testing_task::TinyRun;
using testing_task::TinySpec;

std::string FreshDir(const std::string& name) {
  const std::string dir = ::testing::TempDir() + "/" + name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::vector<std::string> Names(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename());
  std::sort(names.begin(), names.end());
  return names;
}

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Stops a loop at a given global step.
class StopAt : public LoopObserver {
 public:
  explicit StopAt(int64_t step) : step_(step) {}
  absl::Status OnStepEnd(TrainingLoop& loop) override {
    if (loop.position().global_step == step_) loop.RequestStop();
    return absl::OkStatus();
  }

 private:
  int64_t step_;
};

absl::StatusOr<std::unique_ptr<CheckpointManager>> Manager(CheckpointOptions options) {
  return CheckpointManager::Create(std::move(options), TinySpec(), {{"seed", "3"}});
}

TEST(CheckpointManagerTest, SavesOnEpochAndStepTriggersAndAtTheEnd) {
  const DataSplits data = TinyData();
  TinyRun run(data);
  CheckpointOptions options;
  options.directory = FreshDir("triggers");
  options.every_epochs = 2;
  options.every_steps = 5;
  options.keep_last = 100;
  auto manager = Manager(options);
  ASSERT_TRUE(manager.ok());
  run.loop->AddObserver(manager->get());
  ASSERT_TRUE(run.loop->Run().ok());
  std::vector<int64_t> steps;
  for (const CheckpointInfo& info : ListCheckpoints(options.directory)) steps.push_back(info.step);
  // Every 5 steps (step 39 = end of epoch 3 is saved after its evaluation),
  // epoch 2 (step 26), and the end (39).
  EXPECT_EQ(steps, (std::vector<int64_t>{5, 10, 15, 20, 25, 26, 30, 35, 39}));
  auto last = ListCheckpoints(options.directory).back();
  EXPECT_TRUE(last.at_epoch_end());
  EXPECT_EQ(last.manifest->history.size(), 3u);
}

TEST(CheckpointManagerTest, ResumeFromEveryCheckpointEndsBitExactly) {
  const DataSplits data = TinyData();
  TinyRun straight(data);
  CheckpointOptions options;
  options.directory = FreshDir("resume_straight");
  options.every_steps = 4;
  options.keep_last = 100;
  auto manager = Manager(options);
  straight.loop->AddObserver(manager->get());
  ASSERT_TRUE(straight.loop->Run().ok());
  const std::string final_model =
      ReadBytes(ListCheckpoints(options.directory).back().path + "/model.safetensors");
  const std::string final_state =
      ReadBytes(ListCheckpoints(options.directory).back().path + "/state.safetensors");

  for (const CheckpointInfo& info : ListCheckpoints(options.directory)) {
    if (info.step == 39) continue;
    TinyRun resumed(data);
    auto state = ReadCheckpoint(info.path, DeviceMap(torch::kCPU));
    ASSERT_TRUE(state.ok()) << state.status();
    ASSERT_TRUE(RestoreTrainingState(*state, *resumed.loop, info.path).ok());
    CheckpointOptions resumed_options = options;
    resumed_options.directory = FreshDir("resume_" + info.name);
    auto resumed_manager = Manager(resumed_options);
    resumed.loop->AddObserver(resumed_manager->get());
    ASSERT_TRUE(resumed.loop->Run().ok());
    const std::string end = ListCheckpoints(resumed_options.directory).back().path;
    // Parameters, buffers, optimizer state and generator state, to the bit.
    EXPECT_EQ(ReadBytes(end + "/model.safetensors"), final_model) << "from " << info.name;
    EXPECT_EQ(ReadBytes(end + "/state.safetensors"), final_state) << "from " << info.name;
    auto end_manifest = ReadCheckpointManifest(end);
    ASSERT_EQ(end_manifest->history.size(), straight.loop->history().size());
    for (size_t e = 0; e < end_manifest->history.size(); ++e) {
      auto a = end_manifest->history[e].values;
      auto b = straight.loop->history()[e].values;
      a.erase("seconds");
      b.erase("seconds");
      EXPECT_EQ(a, b) << "from " << info.name << " epoch " << e + 1;
    }
  }
}

TEST(CheckpointManagerTest, AsyncSavesHoldTheValuesOfTheStepThatAsked) {
  const DataSplits data = TinyData();
  CheckpointOptions options;
  options.every_steps = 3;
  options.keep_last = 100;
  options.directory = FreshDir("sync");
  TinyRun sync_run(data, 2, "adam");
  auto sync_manager = Manager(options);
  sync_run.loop->AddObserver(sync_manager->get());
  ASSERT_TRUE(sync_run.loop->Run().ok());

  options.directory = FreshDir("async");
  options.async = true;
  TinyRun async_run(data, 2, "adam");
  auto async_manager = Manager(options);
  async_run.loop->AddObserver(async_manager->get());
  ASSERT_TRUE(async_run.loop->Run().ok());

  const auto sync_list = ListCheckpoints(FreshDir("unused") + "/../sync");
  const auto async_list = ListCheckpoints(options.directory);
  ASSERT_EQ(sync_list.size(), async_list.size());
  for (size_t i = 0; i < sync_list.size(); ++i) {
    EXPECT_EQ(async_list[i].name, sync_list[i].name);
    EXPECT_EQ(ReadBytes(async_list[i].path + "/model.safetensors"),
              ReadBytes(sync_list[i].path + "/model.safetensors"))
        << async_list[i].name;
    EXPECT_EQ(ReadBytes(async_list[i].path + "/state.safetensors"),
              ReadBytes(sync_list[i].path + "/state.safetensors"))
        << async_list[i].name;
  }
}

// At most one save in flight, and a trigger that comes while one is writing
// waits for it (none is skipped): the first async save's writes are held
// back until the test lets them go.
TEST(CheckpointManagerTest, ASecondAsyncSaveWaitsForTheOneStillWriting) {
  const DataSplits data = TinyData();
  TinyRun run(data, 1);
  ASSERT_TRUE(run.loop->Run().ok());
  CheckpointOptions options;
  options.directory = FreshDir("one_in_flight");
  options.async = true;
  options.keep_last = 100;
  auto manager = Manager(options);
  ASSERT_TRUE(manager.ok());
  std::atomic<bool> release{false};
  std::atomic<int> held{0};
  auto faults = std::make_unique<ScopedFaultInjection>([&](const char* operation, const std::string& path) {
    if (std::strcmp(operation, "write") == 0 && !release.load()) {
      ++held;
      while (!release.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return 0;
  });
  ASSERT_TRUE((*manager)->Save(*run.loop).ok());  // returns with its write held
  std::atomic<bool> second_returned{false};
  absl::Status second;
  std::thread trigger([&] {
    second = (*manager)->Save(*run.loop);
    second_returned = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_GT(held.load(), 0) << "the first save never reached its writes";
  EXPECT_FALSE(second_returned.load()) << "a second save started while the first was writing";
  EXPECT_EQ(ListCheckpoints(options.directory).size(), 0u);
  release = true;
  trigger.join();
  EXPECT_TRUE(second.ok()) << second;
  ASSERT_TRUE((*manager)->Wait().ok());
  faults.reset();  // after the last file it opened is closed
  const std::vector<CheckpointInfo> saved = ListCheckpoints(options.directory);
  ASSERT_EQ(saved.size(), 2u);
  EXPECT_EQ(saved[1].manifest->parent, saved[0].name);
  EXPECT_TRUE(VerifyCheckpoint(saved[0].path).ok());
  EXPECT_TRUE(VerifyCheckpoint(saved[1].path).ok());
}

// An async save copies parameters while the next step's forward and
// backward passes run; BeforeOptimizerStep must not return before that copy
// is done. 64 MB takes milliseconds to copy, so a parameter changed right
// after it returned would show in the checkpoint if it returned early.
class WideModel : public Model {
 public:
  WideModel() { weight = register_parameter("weight", torch::randn({16 << 20})); }
  torch::Tensor forward(torch::Tensor x) override { return x; }
  torch::Tensor weight;
};

TEST(CheckpointManagerTest, AsyncSnapshotIsCompleteBeforeTheOptimizerStep) {
  WideModel model;
  torch::optim::SGD optimizer(model.parameters(), torch::optim::SGDOptions(0.1));
  testing_task::TinyTrainer trainer;
  Dataset empty;
  TrainingLoop loop(LoopOptions(), model, trainer, optimizer, nullptr, empty, empty);
  CheckpointOptions options;
  options.directory = FreshDir("deferred_copy");
  options.async = true;
  options.fsync = false;
  auto manager = Manager(options);
  ASSERT_TRUE(manager.ok());
  for (int round = 0; round < 3; ++round) {
    const at::Tensor expected = model.weight.detach().clone();
    ASSERT_TRUE((*manager)->Save(loop).ok());
    ASSERT_TRUE((*manager)->BeforeOptimizerStep(loop).ok());
    {
      torch::NoGradGuard no_grad;
      model.weight.add_(1.0);  // what the optimizer step would do
    }
    ASSERT_TRUE((*manager)->Wait().ok());
    auto state = ReadCheckpoint((*manager)->last_saved(), DeviceMap(torch::kCPU));
    ASSERT_TRUE(state.ok()) << state.status();
    ASSERT_EQ(state->model.size(), 1u);
    EXPECT_TRUE(state->model[0].tensor.equal(expected)) << "round " << round;
    framework::LoopPosition position = loop.position();
    position.global_step += 1;
    ASSERT_TRUE(loop.Restore(position, {}).ok());
  }
}

TEST(CheckpointManagerTest, RetentionKeepsLastBestAndMilestonesAcrossRestarts) {
  const DataSplits data = TinyData();
  const std::string dir = FreshDir("retention");
  // Files the manager did not write are never touched.
  std::ofstream(dir + "/notes.txt") << "mine";
  fs::create_directories(dir + "/step-abc");
  CheckpointOptions options;
  options.directory = dir;
  options.every_epochs = 1;
  options.keep_last = 2;
  options.keep_best = 1;
  // "Best" is the highest loss here: epoch 1, which nothing else keeps.
  options.monitor = "valid_loss";
  options.maximize = true;
  options.keep_every_epochs = 4;

  // First process: stopped 3 steps into epoch 6; second process resumes.
  TinyRun first(data, 10);
  auto manager = Manager(options);
  StopAt stop(5 * 13 + 3);
  first.loop->AddObserver(manager->get());
  first.loop->AddObserver(&stop);
  ASSERT_TRUE(first.loop->Run().ok());
  manager->reset();

  auto newest = [&] { return ListCheckpoints(dir).back(); };
  const CheckpointInfo resumed_from = newest();
  TinyRun second(data, 10);
  auto state = ReadCheckpoint(resumed_from.path, DeviceMap(torch::kCPU));
  ASSERT_TRUE(RestoreTrainingState(*state, *second.loop, resumed_from.path).ok());
  auto second_manager = Manager(options);
  (*second_manager)->SetResumedFrom(resumed_from.path, *state);
  second.loop->AddObserver(second_manager->get());
  ASSERT_TRUE(second.loop->Run().ok());

  std::vector<CheckpointInfo> kept = ListCheckpoints(dir);
  std::set<std::pair<int64_t, int64_t>> positions;  // (epochs done, batch)
  for (const CheckpointInfo& info : kept) {
    positions.insert({info.manifest->position.epoch, info.manifest->position.batch});
  }
  const auto& history = second.loop->history();
  int64_t best_epoch = 1;
  for (size_t e = 0; e < history.size(); ++e) {
    if (history[e].values.at("valid_loss") > history[best_epoch - 1].values.at("valid_loss")) {
      best_epoch = e + 1;
    }
  }
  EXPECT_EQ(best_epoch, 1);
  // Last 2, milestones 4 and 8, the best, and the one resumed from.
  std::set<std::pair<int64_t, int64_t>> expected = {
      {9, 0}, {10, 0}, {4, 0}, {8, 0}, {best_epoch, 0}, {5, 3}};
  EXPECT_EQ(positions, expected);
  EXPECT_TRUE(fs::exists(dir + "/notes.txt"));
  EXPECT_TRUE(fs::exists(dir + "/step-abc"));
}

TEST(CheckpointManagerTest, RetentionLeavesACheckpointHoldingAUsersFile) {
  const DataSplits data = TinyData();
  const std::string dir = FreshDir("retention_foreign");
  CheckpointOptions options;
  options.directory = dir;
  options.every_epochs = 1;
  options.keep_last = 1;
  options.keep_best = 0;
  TinyRun first(data, 1);
  auto manager = Manager(options);
  first.loop->AddObserver(manager->get());
  ASSERT_TRUE(first.loop->Run().ok());
  manager->reset();
  const CheckpointInfo annotated = ListCheckpoints(dir).back();
  std::ofstream(annotated.path + "/notes.txt") << "learning rate was too high";

  // Two more epochs: retention would delete the annotated checkpoint.
  TinyRun second(data, 3);
  auto state = ReadCheckpoint(annotated.path, DeviceMap(torch::kCPU));
  ASSERT_TRUE(RestoreTrainingState(*state, *second.loop, annotated.path).ok());
  auto second_manager = Manager(options);
  second.loop->AddObserver(second_manager->get());
  ASSERT_TRUE(second.loop->Run().ok());
  EXPECT_TRUE(fs::exists(annotated.path + "/notes.txt"));
  EXPECT_TRUE(fs::exists(annotated.path + "/" + kCheckpointModelFile));
  // The other checkpoints past retention went: the annotated one and the newest remain.
  EXPECT_EQ(ListCheckpoints(dir).size(), 2u);
}

TEST(CheckpointManagerTest, CorruptNewestIsSkippedAndNothingIsDeleted) {
  const DataSplits data = TinyData();
  CheckpointOptions options;
  options.directory = FreshDir("corrupt");
  options.keep_last = 5;
  TinyRun run(data);
  auto manager = Manager(options);
  run.loop->AddObserver(manager->get());
  ASSERT_TRUE(run.loop->Run().ok());
  auto infos = ListCheckpoints(options.directory);
  ASSERT_EQ(infos.size(), 3u);
  // Flip one byte in the newest checkpoint's model weights.
  {
    std::fstream file(infos[2].path + "/model.safetensors", std::ios::in | std::ios::out | std::ios::binary);
    file.seekg(-3, std::ios::end);
    char byte;
    file.get(byte);
    file.seekp(-3, std::ios::end);
    file.put(static_cast<char>(byte ^ 0x10));
  }
  // Truncate the second newest's state file.
  fs::resize_file(infos[1].path + "/state.safetensors",
                  fs::file_size(infos[1].path + "/state.safetensors") - 10);
  EXPECT_EQ(FindNewestValidCheckpoint(options.directory), infos[0].path);
  EXPECT_EQ(ListCheckpoints(options.directory).size(), 3u);
  absl::Status flipped = VerifyCheckpoint(infos[2].path);
  EXPECT_NE(flipped.message().find("fails its checksum"), std::string::npos) << flipped;
  absl::Status truncated = VerifyCheckpoint(infos[1].path);
  EXPECT_NE(truncated.message().find("state.safetensors"), std::string::npos) << truncated;
}

TEST(CheckpointManagerTest, FailedSaveLeavesOlderCheckpointsIntactAndNoPartialOne) {
  const DataSplits data = TinyData();
  CheckpointOptions options;
  options.directory = FreshDir("failed_save");
  TinyRun run(data);
  auto manager = Manager(options);
  StopAt stop(13);
  run.loop->AddObserver(manager->get());
  run.loop->AddObserver(&stop);
  ASSERT_TRUE(run.loop->Run().ok());  // epoch 1's checkpoint
  const auto before = Names(options.directory);
  const std::string good = ListCheckpoints(options.directory).back().path;

  // A "full disk": writes past 4 KiB fail with EFBIG.
  struct rlimit old_limit;
  getrlimit(RLIMIT_FSIZE, &old_limit);
  struct rlimit small = old_limit;
  small.rlim_cur = 4096;
  std::signal(SIGXFSZ, SIG_IGN);
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  for (int i = 0; i < 3; ++i) run.optimizer->step();  // change the state a little
  absl::Status status = (*manager)->Save(*run.loop);
  setrlimit(RLIMIT_FSIZE, &old_limit);

  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("earlier checkpoints are intact"), std::string::npos) << status;
  EXPECT_NE(status.message().find("File too large"), std::string::npos) << status;
  EXPECT_EQ(Names(options.directory), before);  // no partial directory left
  EXPECT_TRUE(VerifyCheckpoint(good).ok());
}

TEST(CheckpointManagerTest, RejectsBadRetentionOptions) {
  CheckpointOptions options;
  options.directory = FreshDir("bad_options");
  options.keep_last = 0;
  auto manager = Manager(options);
  ASSERT_FALSE(manager.ok());
  EXPECT_EQ(manager.status().message(), "checkpoint option keep_last must be >= 1, got 0");
}

}  // namespace
}  // namespace framework
