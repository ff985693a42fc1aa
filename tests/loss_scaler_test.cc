// Dynamic loss scaling (fp16's GradScaler semantics) on the CPU: its scales
// and skipped steps over a pattern of inf/NaN steps equal PyTorch's
// GradScaler rule (transcribed in Python from its kernels, which 1.13 has
// for CUDA only); the unscaled gradients equal GradScaler's float32
// arithmetic to the bit; and in the training loop, with inf gradients
// injected at chosen steps, those steps change no weight and no optimizer
// state, and a run restored from a checkpoint in the middle ends
// bit-identical to one that never stopped, scaler state and all.
#include "framework/train/loss_scaler.h"

#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <torch/types.h>

#include "framework/checkpoint/checkpoint.h"
#include "framework/checkpoint/training_state_capture.h"
#include "framework/core/random_state.h"
#include "framework/model/state_dict.h"
#include "framework/testing/test_command.h"
#include "framework/testing/test_task.h"
#include "framework/train/training_loop.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace framework {
namespace {

std::map<std::string, at::Tensor> StateDictMap(const Model& model) {
  std::map<std::string, at::Tensor> tensors;
  for (const NamedTensor& named : StateDict(model)) tensors[named.name] = named.tensor;
  return tensors;
}

TEST(LossScalerTest, FollowsGradScalersRule) {
  const uint64_t seed = 20261201;
  std::printf("inf pattern drawn with seed %llu\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 random(seed);
  // Bursts of overflow among long runs without: backoffs, growths and a
  // growth capped by float32's range (init near the top).
  std::vector<int> found_inf;
  for (int i = 0; i < 400; ++i) found_inf.push_back(random() % 13 == 0 ? 1 : 0);
  for (int i = 0; i < 5; ++i) found_inf[100 + i] = 1;
  const std::vector<double> grads = {1.5, -3e-4, 65504.0, 7e-8, 1e30, -2.25};
  for (const double init_scale : {65536.0, 1.0e38}) {
    LossScalerOptions options;
    options.init_scale = init_scale;
    options.growth_interval = 7;
    nlohmann::json config = {{"init_scale", options.init_scale},
                             {"growth_factor", options.growth_factor},
                             {"backoff_factor", options.backoff_factor},
                             {"growth_interval", options.growth_interval},
                             {"found_inf", found_inf},
                             {"grads", grads}};
    const std::string output = RunCommandForTest(
        "/usr/bin/python3 tests/pytorch_grad_scaler_rule.py '" + config.dump() + "'");
    const nlohmann::json expected = nlohmann::json::parse(output);
    LossScaler scaler(options);
    int growths = 0, backoffs = 0;
    for (size_t step = 0; step < found_inf.size(); ++step) {
      ASSERT_EQ(scaler.scale(), expected["scales"][step].get<float>()) << "step " << step;
      const float before = scaler.scale();
      scaler.Update(found_inf[step] != 0);
      growths += scaler.scale() > before;
      backoffs += scaler.scale() < before;
    }
    EXPECT_EQ(scaler.scale(), expected["final_scale"].get<float>());
    EXPECT_EQ(scaler.growth_tracker(), expected["final_tracker"].get<int64_t>());
    std::printf("init %g: %d growths, %d backoffs, final scale %g\n", init_scale, growths,
                backoffs, scaler.scale());
    EXPECT_GT(backoffs, 10);
    if (init_scale == 65536.0) {
      EXPECT_GT(growths, 10);
    }

    // Unscaling at the initial scale, to the bit; an inf is found.
    at::Tensor parameter = torch::zeros({static_cast<int64_t>(grads.size())}).requires_grad_();
    parameter.mutable_grad() = torch::tensor(grads, torch::kFloat32);
    LossScaler fresh(options);
    EXPECT_FALSE(fresh.Unscale({parameter}));
    for (size_t i = 0; i < grads.size(); ++i) {
      EXPECT_EQ(parameter.grad()[i].item<float>(), expected["unscaled"][i].get<float>()) << i;
    }
    parameter.mutable_grad()[2] = std::numeric_limits<float>::infinity();
    EXPECT_TRUE(fresh.Unscale({parameter}));
    parameter.mutable_grad()[2] = std::numeric_limits<float>::quiet_NaN();
    EXPECT_TRUE(fresh.Unscale({parameter}));
  }
}

TEST(LossScalerTest, StateRoundTripsAndBadStateIsRefused) {
  LossScaler scaler({1024.0, 2.0, 0.25, 3});
  for (bool found : {false, false, true, false, false}) scaler.Update(found);
  LossScaler restored;
  ASSERT_TRUE(restored.LoadState(scaler.State()).ok());
  EXPECT_EQ(restored.scale(), scaler.scale());
  EXPECT_EQ(restored.growth_tracker(), scaler.growth_tracker());
  EXPECT_EQ(restored.State(), scaler.State());
  nlohmann::json bad = scaler.State();
  bad["scale"] = -1.0;
  EXPECT_FALSE(LossScaler().LoadState(bad).ok());
  bad.erase("scale");
  EXPECT_FALSE(LossScaler().LoadState(bad).ok());
}

// The test task's trainer, with an overflowing loss at chosen global steps.
class OverflowAt : public testing_task::TinyTrainer {
 public:
  explicit OverflowAt(std::set<int64_t> steps) : steps_(std::move(steps)) {}
  void set_step(int64_t step) { step_ = step; }
  StepResult TrainStep(Model& model, const Batch& batch) override {
    StepResult result = TinyTrainer::TrainStep(model, batch);
    // 1e38 x the loss scale overflows float32 in backward.
    if (steps_.count(step_) > 0) result.loss = result.loss * 1e38;
    return result;
  }

 private:
  std::set<int64_t> steps_;
  int64_t step_ = 1;
};

// Tells the trainer which step comes, and checks skipped steps change nothing.
class StepWatcher : public LoopObserver {
 public:
  explicit StepWatcher(OverflowAt& trainer) : trainer_(trainer) {}
  absl::Status OnEpochStart(TrainingLoop& loop) override {
    trainer_.set_step(loop.position().global_step + 1);
    return absl::OkStatus();
  }
  absl::Status AfterBackward(TrainingLoop& loop) override {
    before_ = loop.model().parameters()[0].detach().clone();
    return absl::OkStatus();
  }
  absl::Status OnStepEnd(TrainingLoop& loop) override {
    const StepRecord& step = loop.last_step();
    if (step.skipped) {
      ++skipped;
      unchanged_when_skipped &= loop.model().parameters()[0].equal(before_);
    }
    scales.push_back(step.loss_scale);
    trainer_.set_step(loop.position().global_step + 1);
    return absl::OkStatus();
  }
  int skipped = 0;
  bool unchanged_when_skipped = true;
  std::vector<double> scales;

 private:
  OverflowAt& trainer_;
  at::Tensor before_;
};

struct ScaledRun {
  explicit ScaledRun(const DataSplits& data, std::set<int64_t> overflow)
      : trainer(std::move(overflow)), watcher(trainer) {
    SeedGlobalGenerator(11);
    model = std::make_shared<testing_task::TinyModel>();
    optimizer = *BuildOptimizer("adam", {{"lr", 0.01}}, model->parameters());
    LoopOptions options;
    options.epochs = 3;
    options.batch_size = 16;
    options.seed = 3;
    options.log_interval = 0;
    options.loss_scaling = LossScalerOptions{256.0, 2.0, 0.5, 4};
    loop = std::make_unique<TrainingLoop>(options, *model, trainer, *optimizer, nullptr,
                                          data.train, data.valid);
    loop->AddObserver(&watcher);
  }
  OverflowAt trainer;
  StepWatcher watcher;
  std::shared_ptr<testing_task::TinyModel> model;
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  std::unique_ptr<TrainingLoop> loop;
};

TEST(LossScalerTest, InTheLoopSkippedStepsChangeNothingAndResumeIsExact) {
  const DataSplits data = testing_task::TinyData();
  const std::set<int64_t> overflow = {2, 3, 9, 20, 21, 22, 30};
  ScaledRun straight(data, overflow);
  ASSERT_TRUE(straight.loop->Run().ok());
  EXPECT_EQ(straight.watcher.skipped, static_cast<int>(overflow.size()));
  EXPECT_TRUE(straight.watcher.unchanged_when_skipped);
  ASSERT_EQ(straight.watcher.scales.size(), 39u);
  EXPECT_EQ(straight.watcher.scales[0], 256.0);
  EXPECT_EQ(straight.watcher.scales[2], 128.0);  // after step 2's overflow
  EXPECT_EQ(straight.watcher.scales[3], 64.0);

  // Stopped after step 21 (in an overflow burst), saved, restored, resumed.
  ScaledRun first(data, overflow);
  testing_task::StopAfterStep stop(21);
  first.loop->AddObserver(&stop);
  ASSERT_TRUE(first.loop->Run().ok());
  ASSERT_EQ(first.loop->position().global_step, 21);
  absl::StatusOr<TrainingState> state =
      CaptureTrainingState(*first.loop, testing_task::TinySpec(), {});
  ASSERT_TRUE(state.ok());
  const std::string dir = ::testing::TempDir() + "/scaled-step-21";
  ASSERT_TRUE(WriteCheckpoint(dir, *state).ok());
  absl::StatusOr<TrainingState> read = ReadCheckpoint(dir, DeviceMap(torch::kCPU));
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_FALSE(read->loss_scaler.is_null());
  ScaledRun resumed(data, overflow);
  ASSERT_TRUE(RestoreTrainingState(*read, *resumed.loop, dir).ok());
  EXPECT_EQ(resumed.loop->loss_scaler()->scale(), first.loop->loss_scaler()->scale());
  ASSERT_TRUE(resumed.loop->Run().ok());
  for (const auto& [name, tensor] : StateDictMap(*straight.model)) {
    EXPECT_TRUE(tensor.equal(StateDictMap(*resumed.model).at(name))) << name;
  }
  EXPECT_EQ(resumed.loop->loss_scaler()->State(), straight.loop->loss_scaler()->State());

  // A checkpoint without scaler state does not resume a scaled run.
  read->loss_scaler = nullptr;
  ScaledRun again(data, overflow);
  absl::Status refused = RestoreTrainingState(*read, *again.loop, dir);
  EXPECT_NE(refused.message().find("no loss scaler state"), std::string::npos) << refused;
}

}  // namespace
}  // namespace framework
