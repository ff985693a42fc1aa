#include "framework/model/state_dict.h"

#include <algorithm>

#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/types.h>

#include "gtest/gtest.h"

namespace framework {
namespace {

// Nested children, a Sequential, buffers, an undefined parameter (a Linear
// without bias registers an empty "bias") and a parameter registered after
// a child: the shapes a model's state dict comes in.
struct Block : torch::nn::Module {
  Block() {
    conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 4, 3)));
    norm = register_module("norm", torch::nn::BatchNorm2d(4));
    scale = register_parameter("scale", torch::ones({4}));
  }
  torch::nn::Conv2d conv{nullptr};
  torch::nn::BatchNorm2d norm{nullptr};
  torch::Tensor scale;
};

struct Net : torch::nn::Module {
  Net() {
    first = register_parameter("first", torch::randn({2}));
    block = register_module("block", std::make_shared<Block>());
    head = register_module("head", torch::nn::Sequential(
                                       torch::nn::Linear(torch::nn::LinearOptions(4, 3).bias(false)),
                                       torch::nn::Linear(3, 2)));
    last = register_parameter("last", torch::randn({1}));
  }
  torch::Tensor first, last;
  std::shared_ptr<Block> block;
  torch::nn::Sequential head{nullptr};
};

TEST(StateDictTest, NamesAndOrderAreLibTorchsOwn) {
  Net net;
  std::vector<std::pair<std::string, at::Tensor>> expected;
  for (const auto& item : net.named_parameters()) expected.push_back({item.key(), item.value()});
  for (const auto& item : net.named_buffers()) expected.push_back({item.key(), item.value()});
  const std::vector<NamedTensor> tensors = StateDict(net);
  ASSERT_EQ(tensors.size(), expected.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    EXPECT_EQ(tensors[i].name, expected[i].first) << i;
    EXPECT_TRUE(tensors[i].tensor.is_same(expected[i].second)) << tensors[i].name;
  }
  // The undefined bias is left out, as named_parameters() leaves it out.
  for (const NamedTensor& named : tensors) EXPECT_NE(named.name, "head.0.bias");
  EXPECT_EQ(tensors.front().name, "first");
  EXPECT_EQ(tensors[1].name, "last");  // own parameters come before the children's
}

TEST(StateDictTest, StrictLoadListsEveryProblem) {
  Net net;
  std::vector<NamedTensor> tensors = StateDict(net);
  tensors.erase(tensors.begin());                   // "first" missing
  tensors.push_back({"extra", torch::zeros({1})});  // unexpected
  tensors[0].tensor = torch::zeros({7});            // "last" mis-shaped
  const absl::Status status = LoadStateDict(net, tensors, /*strict=*/true, "file.pt");
  EXPECT_NE(status.message().find("missing keys: first"), std::string::npos) << status;
  EXPECT_NE(status.message().find("unexpected keys: extra"), std::string::npos) << status;
  EXPECT_NE(status.message().find("mis-shaped keys: last"), std::string::npos) << status;
}

// The model's own tensors under their own names (what a resume that read
// straight into the model passes) load without a change; the same tensors
// under other names are still loaded by name, not taken as in place.
TEST(StateDictTest, TensorsAlreadyInPlaceAndTensorsUnderOtherNames) {
  Net net;
  torch::NoGradGuard no_grad;
  const at::Tensor first = net.first.clone();
  const at::Tensor last = net.last.clone();
  std::vector<NamedTensor> own = StateDict(net);
  std::reverse(own.begin(), own.end());  // any order
  ASSERT_TRUE(LoadStateDict(net, own, /*strict=*/true, "in place").ok());
  EXPECT_TRUE(net.first.equal(first));
  EXPECT_TRUE(net.last.equal(last));

  // The model's own "first" and "head.1.bias" (both of shape {2}) given
  // under each other's names: every tensor is the model's own, but two are
  // not in place, so they are loaded by name.
  std::vector<NamedTensor> swapped = StateDict(net);
  const at::Tensor bias = net.head[1]->as<torch::nn::Linear>()->bias;
  ASSERT_EQ(bias.sizes(), (c10::IntArrayRef{2}));
  ASSERT_EQ(net.first.sizes(), (c10::IntArrayRef{2}));
  const at::Tensor bias_before = bias.clone();
  for (NamedTensor& named : swapped) {
    if (named.name == "first") named.tensor = bias;
    if (named.name == "head.1.bias") named.tensor = net.first;
  }
  ASSERT_FALSE(net.first.equal(bias_before));
  ASSERT_TRUE(LoadStateDict(net, swapped, /*strict=*/true, "renamed").ok());
  EXPECT_TRUE(net.first.equal(bias_before));

  // The model's own tensors with one left out is still a missing key.
  std::vector<NamedTensor> short_of_one = StateDict(net);
  short_of_one.pop_back();
  EXPECT_FALSE(LoadStateDict(net, short_of_one, /*strict=*/true, "short").ok());
  // And with one twice (in place of another), a missing one.
  std::vector<NamedTensor> twice = StateDict(net);
  twice.back() = twice.front();
  EXPECT_FALSE(LoadStateDict(net, twice, /*strict=*/true, "twice").ok());
}

}  // namespace
}  // namespace framework
