// The gpt model plugin against nanoGPT's model transcribed in Python
// PyTorch, loaded with the same weights: logits within 1e-5, and the training
// loss of each of 10 AdamW steps on the same batches within 1e-5; causal
// masking (a token's logits do not depend on later tokens); GPT-2's
// initialisation; and the options' checks.
#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include <torch/nn/functional/loss.h>
#include <torch/types.h>

#include "framework/core/device_map.h"
#include "framework/core/random_state.h"
#include "framework/formats/pytorch_file.h"
#include "framework/model/model.h"
#include "framework/model/state_dict.h"
#include "framework/optim/optimizer.h"
#include "framework/testing/test_command.h"
#include "framework/weights/weights_file.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace framework {
namespace {

const nlohmann::json kConfig = {{"n_layer", 2},   {"n_head", 2},     {"n_embd", 32},
                                {"block_size", 16}, {"vocab_size", 11}, {"dropout", 0.0},
                                {"bias", true}};

std::shared_ptr<Model> BuildGpt(nlohmann::json config = kConfig) {
  absl::StatusOr<std::shared_ptr<Model>> model = BuildModel({"gpt", std::move(config)});
  EXPECT_TRUE(model.ok()) << model.status();
  return model.ok() ? *model : nullptr;
}

TEST(GptTest, EqualsNanoGptInPythonForwardAndTenTrainingSteps) {
  const uint64_t seed = 20261201;
  std::printf("weights, tokens and batches drawn with seed %llu\n",
              static_cast<unsigned long long>(seed));
  SeedGlobalGenerator(seed);
  std::shared_ptr<Model> model = BuildGpt();
  const std::string dir = ::testing::TempDir();
  ASSERT_TRUE(WritePyTorchStateDict(dir + "/gpt.pt", StateDict(*model)).ok());
  const int64_t steps = 10;
  std::vector<NamedTensor> data = {{"tokens", torch::randint(11, {3, 16}, torch::kLong)}};
  for (int64_t step = 0; step < steps; ++step) {
    const torch::Tensor window = torch::randint(11, {4, 17}, torch::kLong);
    data.push_back({"x" + std::to_string(step), window.narrow(1, 0, 16).contiguous()});
    data.push_back({"y" + std::to_string(step), window.narrow(1, 1, 16).contiguous()});
  }
  ASSERT_TRUE(WritePyTorchStateDict(dir + "/data.pt", data).ok());
  nlohmann::json config = kConfig;
  config["lr"] = 3e-3;
  config["weight_decay"] = 0.1;
  config["steps"] = steps;
  RunCommandForTest("/usr/bin/python3 tests/pytorch_gpt.py '" + config.dump() + "' " + dir +
                    "/gpt.pt " + dir + "/data.pt " + dir + "/python.pt");
  absl::StatusOr<std::vector<NamedTensor>> python =
      ReadWeights(dir + "/python.pt", DeviceMap(torch::kCPU));
  ASSERT_TRUE(python.ok()) << python.status();
  std::map<std::string, at::Tensor> reference;
  for (const NamedTensor& named : *python) reference[named.name] = named.tensor;

  model->eval();
  torch::Tensor logits;
  {
    torch::NoGradGuard no_grad;
    logits = model->forward(data[0].tensor);
  }
  ASSERT_EQ(logits.sizes(), (std::vector<int64_t>{3, 16, 11}));
  const double forward_difference = (logits - reference.at("logits")).abs().max().item<double>();
  std::printf("max |logits - nanoGPT's| %g\n", forward_difference);
  EXPECT_LE(forward_difference, 1e-5);

  model->train();
  std::unique_ptr<torch::optim::Optimizer> optimizer =
      *BuildOptimizer("adamw", {{"lr", 3e-3}, {"weight_decay", 0.1}}, model->parameters());
  double worst = 0;
  for (int64_t step = 0; step < steps; ++step) {
    const torch::Tensor x = data[1 + 2 * step].tensor, y = data[2 + 2 * step].tensor;
    torch::Tensor out = model->forward(x);
    torch::Tensor loss = torch::nn::functional::cross_entropy(out.view({-1, 11}), y.view({-1}));
    optimizer->zero_grad();
    loss.backward();
    optimizer->step();
    const double python_loss = reference.at("loss" + std::to_string(step)).item<double>();
    worst = std::max(worst, std::abs(loss.item<double>() - python_loss));
    if (step == 0 || step == steps - 1) {
      std::printf("step %lld: loss %.7f, nanoGPT's %.7f\n", static_cast<long long>(step + 1),
                  loss.item<double>(), python_loss);
    }
  }
  std::printf("max |loss - nanoGPT's| over %lld AdamW steps: %g\n",
              static_cast<long long>(steps), worst);
  EXPECT_LE(worst, 1e-5);
  // Training moved the loss: the comparison is not of ten equal numbers.
  EXPECT_GT(std::abs(reference.at("loss0").item<double>() - reference.at("loss9").item<double>()),
            1e-3);
}

TEST(GptTest, ATokensLogitsDoNotDependOnLaterTokens) {
  SeedGlobalGenerator(7);
  std::shared_ptr<Model> model = BuildGpt();
  model->eval();
  torch::NoGradGuard no_grad;
  const torch::Tensor tokens = torch::randint(11, {2, 16}, torch::kLong);
  for (int64_t t : {0, 5, 15}) {
    torch::Tensor changed = tokens.clone();
    if (t + 1 < 16) changed.narrow(1, t + 1, 16 - t - 1).random_(11);
    const torch::Tensor before = model->forward(tokens).narrow(1, 0, t + 1);
    const torch::Tensor after = model->forward(changed).narrow(1, 0, t + 1);
    EXPECT_TRUE(before.equal(after)) << "position " << t;
  }
  // And they do depend on earlier ones.
  torch::Tensor changed = tokens.clone();
  changed.index_put_({0, 0}, (tokens.index({0, 0}) + 1) % 11);
  EXPECT_FALSE(model->forward(tokens).narrow(1, 15, 1).equal(model->forward(changed).narrow(1, 15, 1)));
}

TEST(GptTest, Gpt2Initialisation) {
  SeedGlobalGenerator(3);
  nlohmann::json config = kConfig;
  config["n_layer"] = 4;
  config["n_embd"] = 256;
  std::shared_ptr<Model> model = BuildGpt(config);
  std::map<std::string, at::Tensor> weights;
  for (const NamedTensor& named : StateDict(*model)) weights[named.name] = named.tensor;
  EXPECT_EQ(weights.count("lm_head.weight"), 0u);  // tied: the token embedding itself
  EXPECT_NEAR(weights.at("transformer.wte.weight").std().item<double>(), 0.02, 0.002);
  EXPECT_NEAR(weights.at("transformer.h.0.mlp.c_fc.weight").std().item<double>(), 0.02, 0.002);
  const double residual = 0.02 / std::sqrt(8.0);
  EXPECT_NEAR(weights.at("transformer.h.3.attn.c_proj.weight").std().item<double>(), residual,
              residual / 10);
  EXPECT_NEAR(weights.at("transformer.h.1.mlp.c_proj.weight").std().item<double>(), residual,
              residual / 10);
  EXPECT_EQ(weights.at("transformer.h.0.attn.c_attn.bias").abs().max().item<double>(), 0.0);
  EXPECT_TRUE(weights.at("transformer.ln_f.weight").equal(torch::ones({256})));
  // One tensor per parameter: the tied weight is not stepped twice.
  EXPECT_EQ(model->parameters().size(), weights.size());
}

TEST(GptTest, OptionsAreChecked) {
  nlohmann::json config = kConfig;
  config["n_head"] = 3;
  absl::StatusOr<std::shared_ptr<Model>> model = BuildModel({"gpt", config});
  ASSERT_FALSE(model.ok());
  EXPECT_NE(model.status().message().find("must divide by 'n_head' (3)"), std::string::npos)
      << model.status();
  config = kConfig;
  config["dropout"] = 1.0;
  EXPECT_FALSE(BuildModel({"gpt", config}).ok());
}

}  // namespace
}  // namespace framework
