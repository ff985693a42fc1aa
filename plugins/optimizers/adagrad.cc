// LibTorch's Adagrad as an optimizer plugin: its options (declared here and
// nowhere else, each with its key in PyTorch's param_groups), its factory, and
// the codec that names its per-parameter state (the running sum of squared
// gradients and the step count), which is all checkpoints need to resume it
// bit-exactly and to export it to PyTorch.
//
//   --optimizer=adagrad --lr=0.01
//   --optimizer_options='{"lr_decay": 0.001, "initial_accumulator_value": 0.1, "eps": 1e-10}'
#include <torch/optim/adagrad.h>

#include "framework/core/declared_options.h"
#include "framework/optim/optimizer.h"

namespace {

using framework::DoubleOption;

const framework::DeclaredOptions& AdagradOptions() {
  static const auto* options = new framework::DeclaredOptions{
      DoubleOption("lr", 0.01, "Learning rate.").Above(0).PyTorchKey("lr"),
      DoubleOption("lr_decay", 0.0, "Learning-rate decay per step.")
          .AtLeast(0)
          .PyTorchKey("lr_decay"),
      DoubleOption("weight_decay", 0.0, "Weight decay (L2 penalty).")
          .AtLeast(0)
          .PyTorchKey("weight_decay"),
      DoubleOption("initial_accumulator_value", 0.0,
                   "Starting value of the sum of squared gradients.")
          .AtLeast(0)
          .PyTorchKey("initial_accumulator_value"),
      DoubleOption("eps", 1e-10, "Term added to the denominator for stability.")
          .Above(0)
          .PyTorchKey("eps"),
  };
  return *options;
}

absl::StatusOr<std::unique_ptr<torch::optim::Optimizer>> BuildAdagrad(
    const framework::OptionValues& options, std::vector<torch::Tensor> parameters) {
  return std::unique_ptr<torch::optim::Optimizer>(new torch::optim::Adagrad(
      std::move(parameters),
      torch::optim::AdagradOptions(options.Double("lr"))
          .lr_decay(options.Double("lr_decay"))
          .weight_decay(options.Double("weight_decay"))
          .initial_accumulator_value(options.Double("initial_accumulator_value"))
          .eps(options.Double("eps"))));
}

framework::ParamStateFields AdagradFields(torch::optim::AdagradParamState& state) {
  return {{{"sum", &state.sum(), /*required=*/true}}, &state.step()};
}

}  // namespace

REGISTER_OPTIMIZER("adagrad", BuildAdagrad,
                   (framework::StateCodec<torch::optim::Adagrad, torch::optim::AdagradParamState>(
                       AdagradFields)),
                   AdagradOptions());
