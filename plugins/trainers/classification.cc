// Supervised classification: cross-entropy loss on logits, accuracy metric.
#include <torch/nn/functional/loss.h>

#include "absl/strings/str_cat.h"
#include "framework/train/trainer.h"

namespace plugins {
namespace {

class ClassificationTrainer : public framework::Trainer {
 public:
  std::vector<framework::MetricSpec> Metrics() const override {
    return {{"acc", /*percent=*/true}};
  }

  absl::Status CheckData(const framework::Dataset& data) const override {
    if (data.classes < 2) {
      return absl::InvalidArgumentError(absl::StrCat(
          "trainer 'classification' needs a data set with >= 2 classes, got ",
          data.classes));
    }
    return absl::OkStatus();
  }

  framework::StepResult TrainStep(framework::Model& model,
                                  const framework::Batch& batch) override {
    const torch::Tensor logits = model.forward(batch.inputs);
    framework::StepResult result;
    result.loss = torch::nn::functional::cross_entropy(logits, batch.targets);
    const double correct =
        logits.argmax(1).eq(batch.targets).sum().item<int64_t>();
    result.metric_sums = {correct};
    return result;
  }
};

}  // namespace

REGISTER_TRAINER("classification",
                 [] { return std::make_unique<ClassificationTrainer>(); });

}  // namespace plugins
