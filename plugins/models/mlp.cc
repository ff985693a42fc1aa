// A multi-layer perceptron with dropout after every hidden layer; dropout
// makes its training depend on the global random generator, which resume
// must restore.
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>

#include "framework/core/config_reader.h"
#include "framework/model/model.h"

namespace plugins {
namespace {

class Mlp : public framework::Model {
 public:
  Mlp(int64_t inputs, const std::vector<int64_t>& hidden, int64_t classes,
      double dropout) {
    layers_ = register_module("layers", torch::nn::ModuleList());
    int64_t width = inputs;
    for (int64_t size : hidden) {
      layers_->push_back(torch::nn::Linear(width, size));
      width = size;
    }
    layers_->push_back(torch::nn::Linear(width, classes));
    dropout_ = register_module("dropout", torch::nn::Dropout(dropout));
  }

  torch::Tensor forward(torch::Tensor x) override {
    x = x.flatten(1);
    const size_t last = layers_->size() - 1;
    for (size_t i = 0; i < last; ++i) {
      x = dropout_->forward(torch::relu(layers_->ptr<torch::nn::LinearImpl>(i)->forward(x)));
    }
    return layers_->ptr<torch::nn::LinearImpl>(last)->forward(x);
  }

 private:
  torch::nn::ModuleList layers_{nullptr};
  torch::nn::Dropout dropout_{nullptr};
};

absl::StatusOr<std::shared_ptr<framework::Model>> BuildMlp(const nlohmann::json& config) {
  framework::ConfigReader reader(config, "model 'mlp'");
  absl::StatusOr<framework::ImageInput> input = framework::ReadImageInput(reader, 1);
  absl::StatusOr<int64_t> classes = reader.Int(framework::kClassesKey, 10, 2);
  absl::StatusOr<std::vector<int64_t>> hidden = reader.IntList("hidden", {256, 128}, 1);
  absl::StatusOr<double> dropout = reader.Double("dropout", 0.2, 0.0, 0.99);
  for (const absl::Status& status :
       {input.status(), classes.status(), hidden.status(), dropout.status(), reader.Finish()}) {
    if (!status.ok()) return status;
  }
  return std::shared_ptr<framework::Model>(std::make_shared<Mlp>(
      input->elements(), *hidden, *classes, *dropout));
}

}  // namespace

REGISTER_MODEL("mlp", BuildMlp);

}  // namespace plugins
