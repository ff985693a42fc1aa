// Unsupervised reconstruction: the model maps an image to an image of the
// same shape and is trained on mean squared error; labels are ignored. Its
// metric is the peak signal-to-noise ratio for inputs in [-1, 1].
#include <cmath>

#include <torch/nn/functional/loss.h>

#include "absl/strings/str_cat.h"
#include "framework/train/trainer.h"

namespace plugins {
namespace {

class AutoencoderTrainer : public framework::Trainer {
 public:
  std::vector<framework::MetricSpec> Metrics() const override {
    return {{"psnr", /*percent=*/false}};
  }

  framework::StepResult TrainStep(framework::Model& model,
                                  const framework::Batch& batch) override {
    const torch::Tensor reconstruction = model.forward(batch.inputs);
    TORCH_CHECK(reconstruction.sizes() == batch.inputs.sizes(),
                "trainer 'autoencoder' needs a model whose output has its "
                "input's shape ", batch.inputs.sizes(), ", got ",
                reconstruction.sizes());
    framework::StepResult result;
    result.loss = torch::nn::functional::mse_loss(reconstruction, batch.inputs);
    // Per-sample PSNR with peak-to-peak range 2 (data in [-1, 1]).
    const torch::Tensor per_sample_mse =
        (reconstruction.detach() - batch.inputs).pow(2).flatten(1).mean(1);
    const torch::Tensor psnr = 10.0 * torch::log10(4.0 / per_sample_mse.clamp_min(1e-12));
    result.metric_sums = {psnr.sum().item<double>()};
    return result;
  }
};

}  // namespace

REGISTER_TRAINER("autoencoder",
                 [] { return std::make_unique<AutoencoderTrainer>(); });

}  // namespace plugins
