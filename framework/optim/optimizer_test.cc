#include "framework/optim/optimizer.h"

#include <torch/optim/lbfgs.h>
#include <torch/types.h>

#include <map>
#include <set>

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
    nlohmann::json options = {{"lr", 0.1}};
    if (name == "sgd" || name == "rmsprop") options["momentum"] = 0.9;
    auto optimizer = BuildOptimizer(name, options, Parameters());
    ASSERT_TRUE(optimizer.ok()) << name << ": " << optimizer.status();
    StepOnce(**optimizer);
    // Momentum buffers / moments are there for checkpoints to save.
    EXPECT_EQ((*optimizer)->state().size(), 1u) << name;
    EXPECT_LT((*optimizer)->param_groups()[0].params()[0][0].item<float>(), 1.0f) << name;
  }
}

TEST(OptimizerTest, SgdWithNesterovMatchesTheUpdateRule) {
  auto optimizer = BuildOptimizer(
      "sgd", {{"lr", 0.1}, {"momentum", 0.9}, {"nesterov", true}, {"weight_decay", 0.01}},
      Parameters());
  ASSERT_TRUE(optimizer.ok());
  StepOnce(**optimizer);
  // g = 2p + wd*p = 2.01; buf = g; nesterov step: g + m*buf = 2.01 * 1.9.
  EXPECT_NEAR((*optimizer)->param_groups()[0].params()[0][0].item<double>(),
              1.0 - 0.1 * 2.01 * 1.9, 1e-6);
}

TEST(OptimizerTest, BadOptionsNameTheOption) {
  auto zero_lr = BuildOptimizer("sgd", {{"lr", 0}}, Parameters());
  ASSERT_FALSE(zero_lr.ok());
  EXPECT_EQ(zero_lr.status().message(), "'lr': option 'lr' of optimizer 'sgd' must be > 0, got 0.0");

  auto beta = BuildOptimizer("adam", {{"beta2", 1}}, Parameters());
  ASSERT_FALSE(beta.ok());
  EXPECT_EQ(beta.status().message(),
            "'beta2': option 'beta2' of optimizer 'adam' must be in [0, 1), got 1.0");

  auto nesterov = BuildOptimizer("sgd", {{"nesterov", true}}, Parameters());
  ASSERT_FALSE(nesterov.ok());
  EXPECT_EQ(nesterov.status().message(),
            "optimizer 'sgd': option 'nesterov' needs 'momentum' > 0 and 'dampening' = 0");

  auto unknown = BuildOptimizer("lbfgs", nlohmann::json::object(), Parameters());
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().message(),
            "unknown optimizer 'lbfgs'; registered optimizers: adam, adamw, rmsprop, sgd");
}

TEST(OptimizerTest, EachBuiltInOptimizerDeclaresItsPyTorchKeys) {
  // PyTorch's param_groups keys of each optimizer, as torch.optim writes them.
  const std::map<std::string, std::set<std::string>> pytorch = {
      {"sgd", {"lr", "momentum", "dampening", "weight_decay", "nesterov"}},
      {"adam", {"lr", "betas.0", "betas.1", "eps", "weight_decay", "amsgrad"}},
      {"adamw", {"lr", "betas.0", "betas.1", "eps", "weight_decay", "amsgrad"}},
      {"rmsprop", {"lr", "alpha", "eps", "weight_decay", "momentum", "centered"}},
  };
  for (const auto& [name, keys] : pytorch) {
    std::set<std::string> declared;
    for (const OptionSpec& spec : OptimizerRegistry().Find(name)->options) {
      declared.insert(spec.pytorch_key);
    }
    EXPECT_EQ(declared, keys) << name;
  }
}

TEST(OptimizerTest, EachBuiltInOptimizerHasTheStateCodecOfItsType) {
  for (const char* name : {"sgd", "adam", "adamw", "rmsprop"}) {
    auto optimizer =
        BuildOptimizer(name, nlohmann::json::object(), {torch::zeros({2}, torch::requires_grad())});
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

TEST(OptimizerTest, AnOptionTheOptimizerDoesNotDeclareIsRefused) {
  auto optimizer =
      BuildOptimizer("sgd", {{"lr_decay", 0.1}}, {torch::zeros({2}, torch::requires_grad())});
  ASSERT_FALSE(optimizer.ok());
  EXPECT_EQ(optimizer.status().message(),
            "'lr_decay': optimizer 'sgd' has no option 'lr_decay'; its options are lr, momentum, "
            "dampening, weight_decay, nesterov");
}

TEST(OptimizerTest, LearningRatesAreReadAndWrittenPerGroup) {
  auto optimizer = BuildOptimizer("sgd", {{"lr", 0.5}}, Parameters());
  ASSERT_TRUE(optimizer.ok());
  EXPECT_EQ(GetLearningRates(**optimizer), std::vector<double>{0.5});
  SetLearningRates(**optimizer, {0.25});
  EXPECT_EQ(GetLearningRates(**optimizer), std::vector<double>{0.25});
}

}  // namespace
}  // namespace framework
