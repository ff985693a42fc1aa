// The weights' moving average (callback "ema") against a Python transcription
// of timm's ModelEmaV3 rule over the same 50 optimizer steps: the average of
// a model with batch-norm buffers (its counter copied, its statistics
// averaged) within 1e-6, with timm's warm-up and without it. And the decay
// schedule itself, step by step.
#include "framework/train/model_ema.h"

#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <torch/nn/functional/loss.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/linear.h>

#include "framework/core/device_map.h"
#include "framework/core/random_state.h"
#include "framework/formats/pytorch_file.h"
#include "framework/model/state_dict.h"
#include "framework/optim/optimizer.h"
#include "framework/testing/test_command.h"
#include "framework/testing/test_task.h"
#include "framework/train/callback.h"
#include "framework/train/training_loop.h"
#include "framework/weights/weights_file.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace framework {
namespace {

class NormModel : public Model {
 public:
  NormModel() {
    hidden_ = register_module("hidden", torch::nn::Linear(64, 16));
    norm_ = register_module("norm", torch::nn::BatchNorm1d(16));
    out_ = register_module("out", torch::nn::Linear(16, 4));
  }
  torch::Tensor forward(torch::Tensor x) override {
    return out_->forward(torch::relu(norm_->forward(hidden_->forward(x.flatten(1)))));
  }

 private:
  torch::nn::Linear hidden_{nullptr};
  torch::nn::BatchNorm1d norm_{nullptr};
  torch::nn::Linear out_{nullptr};
};

// The model's state dict before training and after every optimizer step,
// observed after the average's update.
class WeightsRecorder : public LoopObserver {
 public:
  absl::Status OnEpochStart(TrainingLoop& loop) override {
    if (loop.position().global_step == 0) Record(loop, "init.");
    return absl::OkStatus();
  }
  absl::Status AfterOptimizerStep(TrainingLoop& loop) override {
    Record(loop, "step" + std::to_string(loop.position().global_step + 1) + ".");
    return absl::OkStatus();
  }
  std::vector<NamedTensor> recorded;

 private:
  void Record(TrainingLoop& loop, const std::string& prefix) {
    for (const NamedTensor& named : StateDict(loop.model())) {
      recorded.push_back({prefix + named.name, named.tensor.detach().clone()});
    }
  }
};

void ExpectMatchesTimm(const nlohmann::json& options) {
  SCOPED_TRACE(options.dump());
  const uint64_t seed = 20261201;
  std::printf("model initialised and data drawn with seed %llu\n",
              static_cast<unsigned long long>(seed));
  SeedGlobalGenerator(seed);
  const DataSplits data = testing_task::TinyData();
  NormModel model;
  testing_task::TinyTrainer trainer;
  std::unique_ptr<torch::optim::Optimizer> optimizer =
      *BuildOptimizer("sgd", {{"lr", 0.1}, {"momentum", 0.9}}, model.parameters());
  LoopOptions loop_options;
  loop_options.epochs = 5;
  loop_options.batch_size = 20;  // 10 steps an epoch: 50 in all
  loop_options.log_interval = 0;
  TrainingLoop loop(loop_options, model, trainer, *optimizer, nullptr, data.train, data.valid);

  CallbackContext context;
  context.name = "ema";
  context.options = *ResolveCallbackOptions("ema", options, [](const std::string& k) { return k; });
  context.build_model = []() -> absl::StatusOr<std::shared_ptr<Model>> {
    return std::make_shared<NormModel>();
  };
  std::unique_ptr<Callback> ema = *BuildCallback(context);
  loop.AddCallback("ema", ema.get());
  WeightsRecorder recorder;
  loop.AddObserver(&recorder);
  ASSERT_TRUE(loop.Run().ok());
  ASSERT_EQ(loop.position().global_step, 50);
  EXPECT_TRUE(loop.history().back().values.count("valid_ema_loss"));
  EXPECT_TRUE(loop.history().back().values.count("valid_ema_acc"));

  const std::string dir = ::testing::TempDir();
  ASSERT_TRUE(WritePyTorchStateDict(dir + "/weights.pt", recorder.recorded).ok());
  nlohmann::json config = context.options.json();
  config["steps"] = 50;
  const std::string output =
      RunCommandForTest("/usr/bin/python3 tests/pytorch_model_ema.py " + dir + "/weights.pt '" +
                        config.dump() + "' " + dir + "/reference.pt");
  ASSERT_NE(output.find("\"names\""), std::string::npos) << output;
  absl::StatusOr<std::vector<NamedTensor>> reference =
      ReadWeights(dir + "/reference.pt", DeviceMap(torch::kCPU));
  ASSERT_TRUE(reference.ok()) << reference.status();
  std::map<std::string, at::Tensor> expected;
  for (const NamedTensor& named : *reference) expected[named.name] = named.tensor;

  const CallbackState state = ema->State();
  EXPECT_EQ(state.values.at("updates"), 50);
  ASSERT_EQ(state.tensors.size(), expected.size());
  double worst = 0;
  for (const NamedTensor& named : state.tensors) {
    ASSERT_EQ(expected.count(named.name), 1u) << named.name;
    const at::Tensor& want = expected[named.name];
    if (!named.tensor.is_floating_point()) {
      EXPECT_TRUE(named.tensor.equal(want)) << named.name;  // the batch counter, copied
      EXPECT_EQ(named.tensor.item<int64_t>(), 50);
      continue;
    }
    worst = std::max(worst, (named.tensor - want).abs().max().item<double>());
  }
  std::printf("max |ema - timm's rule| after 50 steps: %g (%s)\n", worst, output.c_str());
  EXPECT_LE(worst, 1e-6);
  // The average is not the model: the decay did something.
  EXPECT_GT((state.tensors[0].tensor - model.named_parameters()["hidden.weight"]).abs().max().item<double>(),
            1e-4);
}

TEST(ModelEmaTest, MatchesTimmsRuleWithWarmup) {
  ExpectMatchesTimm({{"decay", 0.999}, {"warmup", true}});
}

TEST(ModelEmaTest, MatchesTimmsRuleWithoutWarmup) {
  ExpectMatchesTimm({{"decay", 0.9}, {"update_after_step", 3}});
}

TEST(ModelEmaTest, DecaySchedule) {
  EmaSchedule plain;
  plain.decay = 0.9;
  EXPECT_EQ(EmaDecay(plain, 1), 0.0);  // the first update copies
  EXPECT_EQ(EmaDecay(plain, 2), 0.9);
  EmaSchedule warm = plain;
  warm.decay = 0.999;
  warm.warmup = true;
  EXPECT_DOUBLE_EQ(EmaDecay(warm, 2), 1 - std::pow(2.0, -2.0 / 3.0));
  EXPECT_DOUBLE_EQ(EmaDecay(warm, 1000001), 0.999);  // capped
  warm.min_decay = 0.5;
  EXPECT_EQ(EmaDecay(warm, 2), 0.5);
  EmaSchedule late = plain;
  late.update_after_step = 5;
  EXPECT_EQ(EmaDecay(late, 6), 0.0);
  EXPECT_EQ(EmaDecay(late, 7), 0.9);
}

}  // namespace
}  // namespace framework
