// LeNet-5 as in PyTorch's Fashion-MNIST tutorial (conv 6, conv 16, fc 120,
// fc 84, fc classes, with ReLU and 2x2 max pooling). Parameter names match
// the tutorial's module (conv1, conv2, fc1, fc2, fc3), so its state_dict
// loads by name.
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/functional/activation.h>
#include <torch/nn/functional/pooling.h>

#include "absl/strings/str_cat.h"
#include "framework/core/declared_options.h"
#include "framework/model/model.h"

namespace plugins {
namespace {


struct LeNetOptions {
  int64_t input_channels = 1;
  int64_t input_height = 28;
  int64_t input_width = 28;
  int64_t classes = 10;
};

class LeNet : public framework::Model {
 public:
  explicit LeNet(const LeNetOptions& options);
  torch::Tensor forward(torch::Tensor input) override;

 private:
  torch::nn::Conv2d conv1_{nullptr};
  torch::nn::Conv2d conv2_{nullptr};
  torch::nn::Linear fc1_{nullptr};
  torch::nn::Linear fc2_{nullptr};
  torch::nn::Linear fc3_{nullptr};
};


namespace F = torch::nn::functional;

// Side length after conv 5x5 (no padding) and 2x2 pooling, twice.
int64_t FeatureSide(int64_t side) { return ((side - 4) / 2 - 4) / 2; }

absl::StatusOr<std::shared_ptr<framework::Model>> BuildLeNet(
    const framework::OptionValues& declared) {
  const framework::ImageInput input = framework::ImageInputOf(declared);
  LeNetOptions options;
  options.input_channels = input.channels;
  options.input_height = input.height;
  options.input_width = input.width;
  options.classes = declared.Int(framework::kClassesKey);
  return std::shared_ptr<framework::Model>(std::make_shared<LeNet>(options));
}

LeNet::LeNet(const LeNetOptions& options) {
  const int64_t features =
      16 * FeatureSide(options.input_height) * FeatureSide(options.input_width);
  conv1_ = register_module(
      "conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(options.input_channels, 6, 5)));
  conv2_ = register_module("conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(6, 16, 5)));
  fc1_ = register_module("fc1", torch::nn::Linear(features, 120));
  fc2_ = register_module("fc2", torch::nn::Linear(120, 84));
  fc3_ = register_module("fc3", torch::nn::Linear(84, options.classes));
}

torch::Tensor LeNet::forward(torch::Tensor x) {
  x = F::max_pool2d(torch::relu(conv1_->forward(x)), F::MaxPool2dFuncOptions(2));
  x = F::max_pool2d(torch::relu(conv2_->forward(x)), F::MaxPool2dFuncOptions(2));
  x = x.flatten(1);
  x = torch::relu(fc1_->forward(x));
  x = torch::relu(fc2_->forward(x));
  return fc3_->forward(x);
}

}  // namespace

// Two 5x5 convolutions with 2x2 pooling need a side of at least 16.
REGISTER_MODEL("lenet", BuildLeNet,
               framework::WithImageInput(16, {framework::ClassesOption(10, 2)}));

}  // namespace plugins
