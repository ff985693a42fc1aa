// Gradient clipping against Python PyTorch's torch.nn.utils.clip_grad_norm_
// and clip_grad_value_ on the same gradients, to the bit: 2-, 1-, 3.5- and
// inf-norms, clipping that binds and clipping that does not, by value, and
// both. Then the loop: with --clip_grad_norm the recorded norm is the one
// before clipping and the optimizer sees the clipped gradients.
#include "framework/train/gradient_clipping.h"

#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include <torch/types.h>

#include "framework/core/device_map.h"
#include "framework/core/named_tensor.h"
#include "framework/formats/pytorch_file.h"
#include "framework/testing/test_command.h"
#include "framework/weights/weights_file.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace framework {
namespace {

struct Config {
  double max_norm;
  std::string norm_type;
  double max_value;
};

std::vector<at::Tensor> Parameters(const std::vector<at::Tensor>& grads) {
  std::vector<at::Tensor> parameters;
  for (const at::Tensor& grad : grads) {
    at::Tensor p = torch::zeros_like(grad).requires_grad_(true);
    p.mutable_grad() = grad.clone();
    parameters.push_back(p);
  }
  return parameters;
}

TEST(GradientClippingTest, EqualsPyTorchToTheBit) {
  const uint64_t seed = 20261201;
  std::printf("gradients drawn with seed %llu\n", static_cast<unsigned long long>(seed));
  torch::manual_seed(seed);
  // LeNet's parameter shapes, gradients of a few orders of magnitude.
  const std::vector<std::vector<int64_t>> shapes = {{6, 1, 5, 5}, {6},  {16, 6, 5, 5},
                                                    {16},         {120, 256}, {120},
                                                    {84, 120},    {84}, {10, 84}, {10}};
  std::vector<at::Tensor> grads;
  std::vector<NamedTensor> named;
  for (size_t i = 0; i < shapes.size(); ++i) {
    grads.push_back(torch::randn(shapes[i]) * std::pow(10.0, static_cast<double>(i % 3) - 2));
    named.push_back({"grad." + std::to_string(i), grads.back()});
  }
  const std::string dir = ::testing::TempDir();
  ASSERT_TRUE(WritePyTorchStateDict(dir + "/grads.pt", named).ok());

  const std::vector<Config> configs = {
      {0.5, "2", 0},   {1e6, "2", 0},  {0.1, "1", 0}, {0.01, "inf", 0},
      {0.2, "3.5", 0}, {0, "2", 0.005}, {0.3, "2", 0.01}};
  nlohmann::json json = nlohmann::json::array();
  for (const Config& config : configs) {
    json.push_back({{"max_norm", config.max_norm},
                    {"norm_type", config.norm_type},
                    {"max_value", config.max_value}});
  }
  const std::string output = RunCommandForTest("/usr/bin/python3 tests/pytorch_clip_grad.py " +
                                               dir + "/grads.pt '" + json.dump() + "' " + dir +
                                               "/clipped_");
  ASSERT_NE(output.find("\"configs\""), std::string::npos) << output;

  for (size_t c = 0; c < configs.size(); ++c) {
    const Config& config = configs[c];
    SCOPED_TRACE("max_norm " + std::to_string(config.max_norm) + " norm_type " +
                 config.norm_type + " max_value " + std::to_string(config.max_value));
    GradientClipping clipping;
    clipping.max_norm = config.max_norm;
    clipping.norm_type = *ParseNormType(config.norm_type);
    clipping.max_value = config.max_value;
    std::vector<at::Tensor> parameters = Parameters(grads);
    const double norm = ClipGradients(parameters, clipping);

    auto reference = ReadWeights(dir + "/clipped_" + std::to_string(c) + ".pt",
                                 DeviceMap(torch::kCPU));
    ASSERT_TRUE(reference.ok()) << reference.status();
    std::map<std::string, at::Tensor> by_name;
    for (const NamedTensor& tensor : *reference) by_name[tensor.name] = tensor.tensor;
    if (clipping.by_norm()) {
      ASSERT_EQ(by_name.count("total_norm"), 1u);
      EXPECT_EQ(norm, by_name["total_norm"].item<double>());
    } else {
      EXPECT_TRUE(std::isnan(norm));
    }
    bool clipped = false;
    for (size_t i = 0; i < parameters.size(); ++i) {
      const at::Tensor& expected = by_name.at("grad." + std::to_string(i));
      EXPECT_TRUE(parameters[i].grad().equal(expected)) << "gradient " << i;
      clipped = clipped || !parameters[i].grad().equal(grads[i]);
    }
    // The configurations bind except the one with a huge max_norm.
    EXPECT_EQ(clipped, config.max_norm != 1e6) << "clipping changed nothing";
  }
}

TEST(GradientClippingTest, NormTypesAsUsersWriteThem) {
  EXPECT_EQ(*ParseNormType("2"), 2.0);
  EXPECT_EQ(*ParseNormType("1.5"), 1.5);
  EXPECT_EQ(*ParseNormType("inf"), std::numeric_limits<double>::infinity());
  for (const char* bad : {"0", "-1", "two", "", "nan", "Inf"}) {
    absl::StatusOr<double> parsed = ParseNormType(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_NE(parsed.status().message().find("a number > 0"), std::string::npos);
  }
}

TEST(GradientClippingTest, OffChangesNothing) {
  torch::manual_seed(3);
  const std::vector<at::Tensor> grads = {torch::randn({4, 4}), torch::randn({4})};
  std::vector<at::Tensor> parameters = Parameters(grads);
  EXPECT_TRUE(std::isnan(ClipGradients(parameters, GradientClipping())));
  for (size_t i = 0; i < grads.size(); ++i) EXPECT_TRUE(parameters[i].grad().equal(grads[i]));
}

}  // namespace
}  // namespace framework
