// A fully connected autoencoder: image -> bottleneck code -> image. Used with
// the "autoencoder" trainer (reconstruction loss).
#include <torch/nn/modules/linear.h>

#include "framework/core/declared_options.h"
#include "framework/model/model.h"

namespace plugins {
namespace {

class Autoencoder : public framework::Model {
 public:
  Autoencoder(int64_t channels, int64_t height, int64_t width, int64_t hidden,
              int64_t code)
      : shape_({channels, height, width}) {
    const int64_t inputs = channels * height * width;
    encoder1_ = register_module("encoder1", torch::nn::Linear(inputs, hidden));
    encoder2_ = register_module("encoder2", torch::nn::Linear(hidden, code));
    decoder1_ = register_module("decoder1", torch::nn::Linear(code, hidden));
    decoder2_ = register_module("decoder2", torch::nn::Linear(hidden, inputs));
  }

  torch::Tensor forward(torch::Tensor x) override {
    const int64_t batch = x.size(0);
    x = torch::relu(encoder1_->forward(x.flatten(1)));
    x = torch::relu(encoder2_->forward(x));
    x = torch::relu(decoder1_->forward(x));
    // Inputs are scaled to [-1, 1]; tanh keeps reconstructions there.
    x = torch::tanh(decoder2_->forward(x));
    return x.view({batch, shape_[0], shape_[1], shape_[2]});
  }

 private:
  std::vector<int64_t> shape_;
  torch::nn::Linear encoder1_{nullptr};
  torch::nn::Linear encoder2_{nullptr};
  torch::nn::Linear decoder1_{nullptr};
  torch::nn::Linear decoder2_{nullptr};
};

absl::StatusOr<std::shared_ptr<framework::Model>> BuildAutoencoder(
    const framework::OptionValues& options) {
  const framework::ImageInput input = framework::ImageInputOf(options);
  return std::shared_ptr<framework::Model>(std::make_shared<Autoencoder>(
      input.channels, input.height, input.width, options.Int("hidden"), options.Int("code")));
}

}  // namespace

// An autoencoder has no classes; the framework fills the key in anyway.
REGISTER_MODEL("autoencoder", BuildAutoencoder,
               framework::WithImageInput(
                   1, {framework::ClassesOption(0, 0),
                       framework::IntOption("hidden", 128, "Width of the hidden layers.").AtLeast(1),
                       framework::IntOption("code", 32, "Width of the code.").AtLeast(1)}));

}  // namespace plugins
