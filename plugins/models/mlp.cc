// A multi-layer perceptron with dropout after every hidden layer; dropout
// makes its training depend on the global random generator, which resume
// must restore.
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>

#include "framework/core/declared_options.h"
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

absl::StatusOr<std::shared_ptr<framework::Model>> BuildMlp(const framework::OptionValues& options) {
  return std::shared_ptr<framework::Model>(std::make_shared<Mlp>(
      framework::ImageInputOf(options).elements(), options.IntList("hidden"),
      options.Int(framework::kClassesKey), options.Double("dropout")));
}

}  // namespace

REGISTER_MODEL("mlp", BuildMlp,
               framework::WithImageInput(
                   1, {framework::ClassesOption(10, 2),
                       framework::IntListOption("hidden", {256, 128},
                                                "Hidden layer widths, input to output.")
                           .AtLeast(1),
                       framework::DoubleOption("dropout", 0.2, "Dropout after each hidden layer.")
                           .AtLeast(0)
                           .AtMost(0.99)}));

}  // namespace plugins
