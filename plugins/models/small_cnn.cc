// A small CNN with batch normalisation and dropout: its running statistics
// are buffers (not parameters) and its dropout draws random numbers, so it
// exercises both in checkpoints and resume.
#include <torch/nn/functional/pooling.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>

#include "framework/core/declared_options.h"
#include "framework/model/model.h"

namespace plugins {
namespace {

namespace F = torch::nn::functional;

class SmallCnn : public framework::Model {
 public:
  SmallCnn(int64_t channels, int64_t height, int64_t width, int64_t classes,
           int64_t filters, double dropout) {
    conv1_ = register_module("conv1", torch::nn::Conv2d(
        torch::nn::Conv2dOptions(channels, filters, 3).padding(1).bias(false)));
    bn1_ = register_module("bn1", torch::nn::BatchNorm2d(filters));
    conv2_ = register_module("conv2", torch::nn::Conv2d(
        torch::nn::Conv2dOptions(filters, 2 * filters, 3).padding(1).bias(false)));
    bn2_ = register_module("bn2", torch::nn::BatchNorm2d(2 * filters));
    dropout_ = register_module("dropout", torch::nn::Dropout(dropout));
    fc_ = register_module("fc", torch::nn::Linear(2 * filters * (height / 4) * (width / 4),
                                                  classes));
  }

  torch::Tensor forward(torch::Tensor x) override {
    x = F::max_pool2d(torch::relu(bn1_->forward(conv1_->forward(x))),
                      F::MaxPool2dFuncOptions(2));
    x = F::max_pool2d(torch::relu(bn2_->forward(conv2_->forward(x))),
                      F::MaxPool2dFuncOptions(2));
    return fc_->forward(dropout_->forward(x.flatten(1)));
  }

 private:
  torch::nn::Conv2d conv1_{nullptr};
  torch::nn::BatchNorm2d bn1_{nullptr};
  torch::nn::Conv2d conv2_{nullptr};
  torch::nn::BatchNorm2d bn2_{nullptr};
  torch::nn::Dropout dropout_{nullptr};
  torch::nn::Linear fc_{nullptr};
};

absl::StatusOr<std::shared_ptr<framework::Model>> BuildSmallCnn(
    const framework::OptionValues& options) {
  const framework::ImageInput input = framework::ImageInputOf(options);
  return std::shared_ptr<framework::Model>(std::make_shared<SmallCnn>(
      input.channels, input.height, input.width, options.Int(framework::kClassesKey),
      options.Int("filters"), options.Double("dropout")));
}

}  // namespace

REGISTER_MODEL("small_cnn", BuildSmallCnn,
               framework::WithImageInput(
                   4, {framework::ClassesOption(10, 2),
                       framework::IntOption("filters", 16, "Filters of the first convolution.")
                           .AtLeast(1),
                       framework::DoubleOption("dropout", 0.25, "Dropout before the classifier.")
                           .AtLeast(0)
                           .AtMost(0.99)}));

}  // namespace plugins
