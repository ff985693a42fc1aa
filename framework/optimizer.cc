#include "framework/optimizer.h"

#include <exception>

#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/rmsprop.h>
#include <torch/optim/sgd.h>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"

namespace framework {
namespace {

using OptimizerPtr = std::unique_ptr<torch::optim::Optimizer>;

absl::StatusOr<OptimizerPtr> BuildSgd(const OptimizerOptions& o,
                                      std::vector<torch::Tensor> parameters) {
  if (o.nesterov && (o.momentum <= 0 || o.dampening != 0)) {
    return absl::InvalidArgumentError(
        "--nesterov needs --momentum > 0 and --dampening = 0");
  }
  return OptimizerPtr(new torch::optim::SGD(
      std::move(parameters), torch::optim::SGDOptions(o.lr)
                                 .momentum(o.momentum)
                                 .dampening(o.dampening)
                                 .weight_decay(o.weight_decay)
                                 .nesterov(o.nesterov)));
}

absl::StatusOr<OptimizerPtr> BuildAdam(const OptimizerOptions& o,
                                       std::vector<torch::Tensor> parameters) {
  return OptimizerPtr(new torch::optim::Adam(
      std::move(parameters), torch::optim::AdamOptions(o.lr)
                                 .betas({o.beta1, o.beta2})
                                 .eps(o.eps)
                                 .weight_decay(o.weight_decay)
                                 .amsgrad(o.amsgrad)));
}

absl::StatusOr<OptimizerPtr> BuildAdamW(const OptimizerOptions& o,
                                        std::vector<torch::Tensor> parameters) {
  return OptimizerPtr(new torch::optim::AdamW(
      std::move(parameters), torch::optim::AdamWOptions(o.lr)
                                 .betas({o.beta1, o.beta2})
                                 .eps(o.eps)
                                 .weight_decay(o.weight_decay)
                                 .amsgrad(o.amsgrad)));
}

absl::StatusOr<OptimizerPtr> BuildRmsprop(const OptimizerOptions& o,
                                          std::vector<torch::Tensor> parameters) {
  return OptimizerPtr(new torch::optim::RMSprop(
      std::move(parameters), torch::optim::RMSpropOptions(o.lr)
                                 .alpha(o.alpha)
                                 .eps(o.eps)
                                 .weight_decay(o.weight_decay)
                                 .momentum(o.momentum)
                                 .centered(o.centered)));
}

}  // namespace

Registry<OptimizerFactory>& OptimizerRegistry() {
  static auto* registry = [] {
    auto* r = new Registry<OptimizerFactory>("optimizer");
    r->Register("sgd", BuildSgd);
    r->Register("adam", BuildAdam);
    r->Register("adamw", BuildAdamW);
    r->Register("rmsprop", BuildRmsprop);
    return r;
  }();
  return *registry;
}

absl::StatusOr<std::unique_ptr<torch::optim::Optimizer>> BuildOptimizer(
    const OptimizerOptions& options, std::vector<torch::Tensor> parameters) {
  absl::StatusOr<OptimizerFactory> factory =
      OptimizerRegistry().Find(options.name);
  if (!factory.ok()) return factory.status();
  if (!(options.lr > 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--lr must be > 0, got ", options.lr));
  }
  if (options.momentum < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--momentum must be >= 0, got ", options.momentum));
  }
  if (options.weight_decay < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--weight_decay must be >= 0, got ", options.weight_decay));
  }
  if (!(options.beta1 >= 0 && options.beta1 < 1 && options.beta2 >= 0 &&
        options.beta2 < 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--beta1 and --beta2 must be in [0, 1), got ",
                     options.beta1, " and ", options.beta2));
  }
  if (!(options.eps > 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--eps must be > 0, got ", options.eps));
  }
  try {
    return (*factory)(options, std::move(parameters));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        "building optimizer '", options.name, "' failed: ", e.what()));
  }
}

std::vector<double> GetLearningRates(const torch::optim::Optimizer& optimizer) {
  std::vector<double> learning_rates;
  for (const torch::optim::OptimizerParamGroup& group :
       optimizer.param_groups()) {
    learning_rates.push_back(group.options().get_lr());
  }
  return learning_rates;
}

void SetLearningRates(torch::optim::Optimizer& optimizer,
                      const std::vector<double>& learning_rates) {
  CHECK_EQ(learning_rates.size(), optimizer.param_groups().size());
  for (size_t i = 0; i < learning_rates.size(); ++i) {
    optimizer.param_groups()[i].options().set_lr(learning_rates[i]);
  }
}

}  // namespace framework
