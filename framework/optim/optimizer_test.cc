#include "framework/optim/optimizer.h"

#include <torch/optim/lbfgs.h>
#include <torch/types.h>

#include "gtest/gtest.h"

namespace framework {
namespace {

std::vector<torch::Tensor> Parameters() {
  return {torch::ones({3}, torch::requires_grad())};
}

// One step on loss = sum(p^2).
void StepOnce(torch::optim::Optimizer& optimizer) {
  optimizer.zero_grad();
  torch::Tensor loss = optimizer.param_groups()[0].params()[0].pow(2).sum();
  loss.backward();
  optimizer.step();
}

TEST(OptimizerTest, BuildsEachRegisteredOptimizerAndExposesItsState) {
  for (const std::string name : {"sgd", "adam", "adamw", "rmsprop"}) {
    OptimizerOptions options;
    options.name = name;
    options.lr = 0.1;
    options.momentum = name == "adam" || name == "adamw" ? 0.0 : 0.9;
    auto optimizer = BuildOptimizer(options, Parameters());
    ASSERT_TRUE(optimizer.ok()) << name << ": " << optimizer.status();
    StepOnce(**optimizer);
    // Momentum buffers / moments are there for checkpoints to save.
    EXPECT_EQ((*optimizer)->state().size(), 1u) << name;
    EXPECT_LT((*optimizer)->param_groups()[0].params()[0][0].item<float>(), 1.0f) << name;
  }
}

TEST(OptimizerTest, SgdWithNesterovMatchesTheUpdateRule) {
  OptimizerOptions options;
  options.lr = 0.1;
  options.momentum = 0.9;
  options.nesterov = true;
  options.weight_decay = 0.01;
  auto optimizer = BuildOptimizer(options, Parameters());
  ASSERT_TRUE(optimizer.ok());
  StepOnce(**optimizer);
  // g = 2p + wd*p = 2.01; buf = g; nesterov step: g + m*buf = 2.01 * 1.9.
  EXPECT_NEAR((*optimizer)->param_groups()[0].params()[0][0].item<double>(),
              1.0 - 0.1 * 2.01 * 1.9, 1e-6);
}

TEST(OptimizerTest, BadOptionsNameTheFlag) {
  OptimizerOptions options;
  options.lr = 0;
  auto zero_lr = BuildOptimizer(options, Parameters());
  ASSERT_FALSE(zero_lr.ok());
  EXPECT_EQ(zero_lr.status().message(), "--lr must be > 0, got 0");

  options.lr = 0.1;
  options.nesterov = true;
  auto nesterov = BuildOptimizer(options, Parameters());
  ASSERT_FALSE(nesterov.ok());
  EXPECT_NE(nesterov.status().message().find("--nesterov"), std::string::npos);

  options.nesterov = false;
  options.name = "lbfgs";
  auto unknown = BuildOptimizer(options, Parameters());
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().message(),
            "unknown optimizer 'lbfgs'; registered optimizers: adam, adamw, rmsprop, sgd");
}

TEST(OptimizerTest, EachBuiltInOptimizerHasTheStateCodecOfItsType) {
  for (const char* name : {"sgd", "adam", "adamw", "rmsprop"}) {
    OptimizerOptions options;
    options.name = name;
    auto optimizer = BuildOptimizer(options, {torch::zeros({2}, torch::requires_grad())});
    ASSERT_TRUE(optimizer.ok()) << name;
    absl::StatusOr<OptimizerStateCodec> codec = FindStateCodec(**optimizer);
    ASSERT_TRUE(codec.ok()) << name;
    EXPECT_EQ(codec->optimizer_type, std::type_index(typeid(**optimizer))) << name;
    EXPECT_FALSE(codec->fields(*codec->new_state()).tensors.empty()) << name;
  }
}

TEST(OptimizerTest, AnUnregisteredOptimizerHasNoStateCodec) {
  torch::optim::LBFGS lbfgs({torch::zeros({2}, torch::requires_grad())});
  absl::StatusOr<OptimizerStateCodec> codec = FindStateCodec(lbfgs);
  ASSERT_FALSE(codec.ok());
  EXPECT_NE(codec.status().message().find("REGISTER_OPTIMIZER"), std::string::npos)
      << codec.status().message();
}

TEST(OptimizerTest, ExtraOptionsAreRefusedByOptimizersWithoutAny) {
  OptimizerOptions options;
  options.extra = {{"lr_decay", 0.1}};
  auto optimizer = BuildOptimizer(options, {torch::zeros({2}, torch::requires_grad())});
  ASSERT_FALSE(optimizer.ok());
  EXPECT_EQ(optimizer.status().message(),
            "--optimizer_options: optimizer 'sgd' takes no extra options, got {\"lr_decay\":0.1}");
}

TEST(OptimizerTest, LearningRatesAreReadAndWrittenPerGroup) {
  OptimizerOptions options;
  options.lr = 0.5;
  auto optimizer = BuildOptimizer(options, Parameters());
  ASSERT_TRUE(optimizer.ok());
  EXPECT_EQ(GetLearningRates(**optimizer), std::vector<double>{0.5});
  SetLearningRates(**optimizer, {0.25});
  EXPECT_EQ(GetLearningRates(**optimizer), std::vector<double>{0.25});
}

}  // namespace
}  // namespace framework
