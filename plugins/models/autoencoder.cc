// A fully connected autoencoder: image -> bottleneck code -> image. Used with
// the "autoencoder" trainer (reconstruction loss).
#include <torch/nn/modules/linear.h>

#include "framework/core/config_reader.h"
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
    const nlohmann::json& config) {
  framework::ConfigReader reader(config, "model 'autoencoder'");
  absl::StatusOr<framework::ImageInput> input = framework::ReadImageInput(reader, 1);
  // An autoencoder has no classes; the framework fills the key in anyway.
  absl::StatusOr<int64_t> classes = reader.Int(framework::kClassesKey, 0, 0);
  absl::StatusOr<int64_t> hidden = reader.Int("hidden", 128, 1);
  absl::StatusOr<int64_t> code = reader.Int("code", 32, 1);
  for (const absl::Status& status :
       {input.status(), classes.status(), hidden.status(), code.status(), reader.Finish()}) {
    if (!status.ok()) return status;
  }
  return std::shared_ptr<framework::Model>(
      std::make_shared<Autoencoder>(input->channels, input->height, input->width, *hidden, *code));
}

}  // namespace

REGISTER_MODEL("autoencoder", BuildAutoencoder);

}  // namespace plugins
