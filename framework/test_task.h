// Test doubles for framework tests that need a model and a trainer without
// depending on any plugin: a small classifier with dropout (so the global
// generator matters) and a cross-entropy trainer, plus a matching data set.
#ifndef FRAMEWORK_TEST_TASK_H_
#define FRAMEWORK_TEST_TASK_H_

#include <torch/nn/functional/loss.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>

#include "framework/dataset.h"
#include "framework/model.h"
#include "framework/trainer.h"

namespace framework {
namespace testing_task {

class TinyModel : public Model {
 public:
  TinyModel() {
    hidden_ = register_module("hidden", torch::nn::Linear(64, 16));
    dropout_ = register_module("dropout", torch::nn::Dropout(0.3));
    out_ = register_module("out", torch::nn::Linear(16, 4));
  }
  torch::Tensor forward(torch::Tensor x) override {
    return out_->forward(dropout_->forward(torch::relu(hidden_->forward(x.flatten(1)))));
  }

 private:
  torch::nn::Linear hidden_{nullptr};
  torch::nn::Dropout dropout_{nullptr};
  torch::nn::Linear out_{nullptr};
};

class TinyTrainer : public Trainer {
 public:
  std::vector<MetricSpec> Metrics() const override { return {{"acc", true}}; }
  StepResult TrainStep(Model& model, const Batch& batch) override { return Step(model, batch); }
  StepResult EvalStep(Model& model, const Batch& batch) override { return Step(model, batch); }

 private:
  static StepResult Step(Model& model, const Batch& batch) {
    torch::Tensor logits = model.forward(batch.inputs);
    StepResult result;
    result.loss = torch::nn::functional::cross_entropy(logits, batch.targets);
    result.metric_sums = {
        static_cast<double>(logits.argmax(1).eq(batch.targets).sum().item<int64_t>())};
    return result;
  }
};

// 200 training samples (13 batches of 16), 100 validation samples, 4
// classes of 8x8 images: what TinyModel takes.
inline DataSplits TinyData() {
  SyntheticOptions options;
  options.train_size = 200;
  options.valid_size = 100;
  options.classes = 4;
  options.height = 8;
  options.width = 8;
  options.seed = 2;
  return MakeSyntheticDataset(options);
}

}  // namespace testing_task
}  // namespace framework

#endif  // FRAMEWORK_TEST_TASK_H_
