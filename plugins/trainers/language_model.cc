// The language_model trainer: next-token prediction. A batch's inputs are
// token ids [B, T] and its targets the same windows shifted by one (the
// token_file data set); the model gives logits [B, T, vocab]. The loss is
// the mean cross-entropy over every position of every window, and the
// metrics are per token: accuracy (the most likely next token is the right
// one) and bits per token (the loss in base 2). Every window has T tokens,
// so the loop's means over windows are means over tokens.
#include <cmath>
#include <memory>

#include <torch/nn/functional/loss.h>

#include "absl/strings/str_cat.h"
#include "framework/train/trainer.h"

namespace plugins {
namespace {

class LanguageModelTrainer : public framework::Trainer {
 public:
  std::vector<framework::MetricSpec> Metrics() const override {
    return {{"acc", /*percent=*/true}, {"bpt", /*percent=*/false}};
  }

  absl::Status CheckData(const framework::Dataset& data) const override {
    if (!data.ModelFacts().contains("vocab_size")) {
      return absl::InvalidArgumentError(
          "trainer 'language_model' needs windows of token ids with a vocabulary (e.g. "
          "--dataset=token_file); this data set gives none");
    }
    return absl::OkStatus();
  }

  framework::StepResult TrainStep(framework::Model& model, const framework::Batch& batch) override {
    const torch::Tensor logits = model.forward(batch.inputs);
    TORCH_CHECK(logits.dim() == 3 && logits.size(0) == batch.targets.size(0) &&
                    logits.size(1) == batch.targets.size(1),
                "trainer 'language_model' needs logits [batch, T, vocab] for targets ",
                batch.targets.sizes(), ", the model gave ", logits.sizes());
    const int64_t vocab = logits.size(2);
    framework::StepResult result;
    result.loss = torch::nn::functional::cross_entropy(logits.reshape({-1, vocab}).to(torch::kFloat),
                                                       batch.targets.reshape({-1}));
    const double windows = static_cast<double>(batch.targets.size(0));
    const double tokens_per_window = static_cast<double>(batch.targets.size(1));
    const double correct =
        logits.detach().argmax(2).eq(batch.targets).sum().item<double>();
    result.metric_sums = {correct / tokens_per_window,
                          result.loss.item<double>() * windows / std::log(2.0)};
    return result;
  }
};

}  // namespace

REGISTER_TRAINER("language_model", [] { return std::make_unique<LanguageModelTrainer>(); });

}  // namespace plugins
