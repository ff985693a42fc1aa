// The optimizers every binary has: LibTorch's SGD (momentum, nesterov, weight
// decay), Adam, AdamW and RMSprop, each with its state codec and its options,
// declared with PyTorch's defaults and param_groups keys.
#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/rmsprop.h>
#include <torch/optim/sgd.h>

#include "absl/status/statusor.h"
#include "framework/optim/optimizer.h"

namespace framework {
namespace {

using OptimizerPtr = std::unique_ptr<torch::optim::Optimizer>;

OptionSpec Lr() { return DoubleOption("lr", 0.01, "Learning rate.").Above(0).PyTorchKey("lr"); }
OptionSpec WeightDecay(const char* help) {
  return DoubleOption("weight_decay", 0.0, help).AtLeast(0).PyTorchKey("weight_decay");
}
OptionSpec Momentum() {
  return DoubleOption("momentum", 0.0, "Momentum factor.").AtLeast(0).PyTorchKey("momentum");
}
OptionSpec Eps(double default_value) {
  return DoubleOption("eps", default_value, "Term added to the denominator for stability.")
      .Above(0)
      .PyTorchKey("eps");
}

const DeclaredOptions& SgdOptions() {
  static const auto* options = new DeclaredOptions{
      Lr(), Momentum(),
      DoubleOption("dampening", 0.0, "Momentum dampening.").AtLeast(0).PyTorchKey("dampening"),
      WeightDecay("Weight decay (L2 penalty)."),
      BoolOption("nesterov", false, "Nesterov momentum (needs momentum > 0 and dampening 0).")
          .PyTorchKey("nesterov"),
  };
  return *options;
}

DeclaredOptions AdamFamilyOptions(const char* weight_decay_help) {
  return {
      Lr(),
      DoubleOption("beta1", 0.9, "Decay of the first-moment estimate.")
          .AtLeast(0)
          .Below(1)
          .PyTorchKey("betas.0"),
      DoubleOption("beta2", 0.999, "Decay of the second-moment estimate.")
          .AtLeast(0)
          .Below(1)
          .PyTorchKey("betas.1"),
      Eps(1e-8),
      WeightDecay(weight_decay_help),
      BoolOption("amsgrad", false, "The AMSGrad variant.").PyTorchKey("amsgrad"),
  };
}

const DeclaredOptions& AdamOptions() {
  static const auto* options = new DeclaredOptions(AdamFamilyOptions("Weight decay (L2 penalty)."));
  return *options;
}

// Weight decay 0 by default, as before options were declared (PyTorch's AdamW
// defaults to 0.01): a run that does not set it trains as it did.
const DeclaredOptions& AdamWOptions() {
  static const auto* options = new DeclaredOptions(AdamFamilyOptions("Decoupled weight decay."));
  return *options;
}

const DeclaredOptions& RmspropOptions() {
  static const auto* options = new DeclaredOptions{
      Lr(),
      DoubleOption("alpha", 0.99, "Smoothing constant.").AtLeast(0).PyTorchKey("alpha"),
      Eps(1e-8),
      WeightDecay("Weight decay (L2 penalty)."),
      Momentum(),
      BoolOption("centered", false, "Normalise by an estimate of the gradient's variance.")
          .PyTorchKey("centered"),
  };
  return *options;
}

absl::StatusOr<OptimizerPtr> BuildSgd(const OptionValues& o,
                                      std::vector<torch::Tensor> parameters) {
  if (o.Bool("nesterov") && (o.Double("momentum") <= 0 || o.Double("dampening") != 0)) {
    return absl::InvalidArgumentError(
        "optimizer 'sgd': option 'nesterov' needs 'momentum' > 0 and 'dampening' = 0");
  }
  return OptimizerPtr(new torch::optim::SGD(std::move(parameters),
                                            torch::optim::SGDOptions(o.Double("lr"))
                                                .momentum(o.Double("momentum"))
                                                .dampening(o.Double("dampening"))
                                                .weight_decay(o.Double("weight_decay"))
                                                .nesterov(o.Bool("nesterov"))));
}

template <typename AdamT, typename AdamOptionsT>
absl::StatusOr<OptimizerPtr> BuildAdamFamily(const OptionValues& o,
                                             std::vector<torch::Tensor> parameters) {
  return OptimizerPtr(new AdamT(std::move(parameters),
                                AdamOptionsT(o.Double("lr"))
                                    .betas({o.Double("beta1"), o.Double("beta2")})
                                    .eps(o.Double("eps"))
                                    .weight_decay(o.Double("weight_decay"))
                                    .amsgrad(o.Bool("amsgrad"))));
}

absl::StatusOr<OptimizerPtr> BuildRmsprop(const OptionValues& o,
                                          std::vector<torch::Tensor> parameters) {
  return OptimizerPtr(new torch::optim::RMSprop(std::move(parameters),
                                                torch::optim::RMSpropOptions(o.Double("lr"))
                                                    .alpha(o.Double("alpha"))
                                                    .eps(o.Double("eps"))
                                                    .weight_decay(o.Double("weight_decay"))
                                                    .momentum(o.Double("momentum"))
                                                    .centered(o.Bool("centered"))));
}

// Adam and AdamW keep the same fields.
template <typename ParamState>
ParamStateFields AdamFields(ParamState& s) {
  return {{{"exp_avg", &s.exp_avg(), true},
           {"exp_avg_sq", &s.exp_avg_sq(), true},
           {"max_exp_avg_sq", &s.max_exp_avg_sq(), false}},
          &s.step()};
}

}  // namespace

REGISTER_OPTIMIZER("sgd", BuildSgd,
                   (StateCodec<torch::optim::SGD, torch::optim::SGDParamState>(
                       [](torch::optim::SGDParamState& s) {
                         return ParamStateFields{{{"momentum_buffer", &s.momentum_buffer(), true}}};
                       })),
                   SgdOptions());
REGISTER_OPTIMIZER("adam", (BuildAdamFamily<torch::optim::Adam, torch::optim::AdamOptions>),
                   (StateCodec<torch::optim::Adam, torch::optim::AdamParamState>(
                       AdamFields<torch::optim::AdamParamState>)),
                   AdamOptions());
REGISTER_OPTIMIZER("adamw", (BuildAdamFamily<torch::optim::AdamW, torch::optim::AdamWOptions>),
                   (StateCodec<torch::optim::AdamW, torch::optim::AdamWParamState>(
                       AdamFields<torch::optim::AdamWParamState>)),
                   AdamWOptions());
REGISTER_OPTIMIZER("rmsprop", BuildRmsprop,
                   (StateCodec<torch::optim::RMSprop, torch::optim::RMSpropParamState>(
                       [](torch::optim::RMSpropParamState& s) {
                         return ParamStateFields{{{"square_avg", &s.square_avg(), true},
                                                  {"momentum_buffer", &s.momentum_buffer(), false},
                                                  {"grad_avg", &s.grad_avg(), false}},
                                                 &s.step()};
                       })),
                   RmspropOptions());

}  // namespace framework
