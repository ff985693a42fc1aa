// The optimizers every binary has: LibTorch's SGD (momentum, nesterov, weight
// decay), Adam, AdamW and RMSprop, each with its state codec.
#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/rmsprop.h>
#include <torch/optim/sgd.h>

#include "absl/status/statusor.h"
#include "framework/optim/optimizer.h"

namespace framework {
namespace {

using OptimizerPtr = std::unique_ptr<torch::optim::Optimizer>;

absl::Status NoExtraOptions(const OptimizerOptions& o) {
  if (o.extra.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError("--optimizer_options: optimizer '" + o.name +
                                    "' takes no extra options, got " + o.extra.dump());
}

absl::StatusOr<OptimizerPtr> BuildSgd(const OptimizerOptions& o,
                                      std::vector<torch::Tensor> parameters) {
  if (absl::Status status = NoExtraOptions(o); !status.ok()) return status;
  if (o.nesterov && (o.momentum <= 0 || o.dampening != 0)) {
    return absl::InvalidArgumentError("--nesterov needs --momentum > 0 and --dampening = 0");
  }
  return OptimizerPtr(new torch::optim::SGD(std::move(parameters),
                                            torch::optim::SGDOptions(o.lr)
                                                .momentum(o.momentum)
                                                .dampening(o.dampening)
                                                .weight_decay(o.weight_decay)
                                                .nesterov(o.nesterov)));
}

absl::StatusOr<OptimizerPtr> BuildAdam(const OptimizerOptions& o,
                                       std::vector<torch::Tensor> parameters) {
  if (absl::Status status = NoExtraOptions(o); !status.ok()) return status;
  return OptimizerPtr(new torch::optim::Adam(std::move(parameters),
                                             torch::optim::AdamOptions(o.lr)
                                                 .betas({o.beta1, o.beta2})
                                                 .eps(o.eps)
                                                 .weight_decay(o.weight_decay)
                                                 .amsgrad(o.amsgrad)));
}

absl::StatusOr<OptimizerPtr> BuildAdamW(const OptimizerOptions& o,
                                        std::vector<torch::Tensor> parameters) {
  if (absl::Status status = NoExtraOptions(o); !status.ok()) return status;
  return OptimizerPtr(new torch::optim::AdamW(std::move(parameters),
                                              torch::optim::AdamWOptions(o.lr)
                                                  .betas({o.beta1, o.beta2})
                                                  .eps(o.eps)
                                                  .weight_decay(o.weight_decay)
                                                  .amsgrad(o.amsgrad)));
}

absl::StatusOr<OptimizerPtr> BuildRmsprop(const OptimizerOptions& o,
                                          std::vector<torch::Tensor> parameters) {
  if (absl::Status status = NoExtraOptions(o); !status.ok()) return status;
  return OptimizerPtr(new torch::optim::RMSprop(std::move(parameters),
                                                torch::optim::RMSpropOptions(o.lr)
                                                    .alpha(o.alpha)
                                                    .eps(o.eps)
                                                    .weight_decay(o.weight_decay)
                                                    .momentum(o.momentum)
                                                    .centered(o.centered)));
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
                       })));
REGISTER_OPTIMIZER("adam", BuildAdam,
                   (StateCodec<torch::optim::Adam, torch::optim::AdamParamState>(
                       AdamFields<torch::optim::AdamParamState>)));
REGISTER_OPTIMIZER("adamw", BuildAdamW,
                   (StateCodec<torch::optim::AdamW, torch::optim::AdamWParamState>(
                       AdamFields<torch::optim::AdamWParamState>)));
REGISTER_OPTIMIZER("rmsprop", BuildRmsprop,
                   (StateCodec<torch::optim::RMSprop, torch::optim::RMSpropParamState>(
                       [](torch::optim::RMSpropParamState& s) {
                         return ParamStateFields{{{"square_avg", &s.square_avg(), true},
                                                  {"momentum_buffer", &s.momentum_buffer(), false},
                                                  {"grad_avg", &s.grad_avg(), false}},
                                                 &s.step()};
                       })));

}  // namespace framework
