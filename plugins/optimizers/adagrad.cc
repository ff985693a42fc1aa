// LibTorch's Adagrad as an optimizer plugin: its factory, and the codec that
// names its per-parameter state (the running sum of squared gradients and the
// step count), which is all checkpoints need to resume it bit-exactly.
//
//   --optimizer=adagrad --lr=0.01 --eps=1e-10
//   --optimizer_options='{"lr_decay": 0.001, "initial_accumulator_value": 0.1}'
#include <limits>

#include <torch/optim/adagrad.h>

#include "framework/core/config_reader.h"
#include "framework/optim/optimizer.h"

namespace {

absl::StatusOr<std::unique_ptr<torch::optim::Optimizer>> BuildAdagrad(
    const framework::OptimizerOptions& options, std::vector<torch::Tensor> parameters) {
  framework::ConfigReader reader(options.extra, "optimizer 'adagrad'");
  constexpr double kNoLimit = std::numeric_limits<double>::infinity();
  auto lr_decay = reader.Double("lr_decay", 0.0, 0.0, kNoLimit);
  auto initial_accumulator = reader.Double("initial_accumulator_value", 0.0, 0.0, kNoLimit);
  for (const absl::Status& status : {lr_decay.status(), initial_accumulator.status(), reader.Finish()}) {
    if (!status.ok()) return status;
  }
  return std::unique_ptr<torch::optim::Optimizer>(new torch::optim::Adagrad(
      std::move(parameters), torch::optim::AdagradOptions(options.lr)
                                 .lr_decay(*lr_decay)
                                 .weight_decay(options.weight_decay)
                                 .initial_accumulator_value(*initial_accumulator)
                                 .eps(options.eps)));
}

framework::ParamStateFields AdagradFields(torch::optim::AdagradParamState& state) {
  return {{{"sum", &state.sum(), /*required=*/true}}, &state.step()};
}

}  // namespace

REGISTER_OPTIMIZER("adagrad", BuildAdagrad,
                   (framework::StateCodec<torch::optim::Adagrad, torch::optim::AdagradParamState>(
                       AdagradFields)));
