#include "framework/optim/optimizer.h"

#include <exception>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"

namespace framework {

Registry<OptimizerEntry>& OptimizerRegistry() {
  static auto* registry = new Registry<OptimizerEntry>("optimizer");
  return *registry;
}

absl::StatusOr<std::unique_ptr<torch::optim::Optimizer>> BuildOptimizer(
    const OptimizerOptions& options, std::vector<torch::Tensor> parameters) {
  absl::StatusOr<OptimizerEntry> entry = OptimizerRegistry().Find(options.name);
  if (!entry.ok()) return entry.status();
  if (!(options.lr > 0)) {
    return absl::InvalidArgumentError(absl::StrCat("--lr must be > 0, got ", options.lr));
  }
  if (options.momentum < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--momentum must be >= 0, got ", options.momentum));
  }
  if (options.weight_decay < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--weight_decay must be >= 0, got ", options.weight_decay));
  }
  if (!(options.beta1 >= 0 && options.beta1 < 1 && options.beta2 >= 0 && options.beta2 < 1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--beta1 and --beta2 must be in [0, 1), got ", options.beta1, " and ", options.beta2));
  }
  if (!(options.eps > 0)) {
    return absl::InvalidArgumentError(absl::StrCat("--eps must be > 0, got ", options.eps));
  }
  if (!options.extra.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--optimizer_options must be a JSON object, got ", options.extra.dump()));
  }
  try {
    return entry->build(options, std::move(parameters));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("building optimizer '", options.name, "' failed: ", e.what()));
  }
}

absl::StatusOr<OptimizerStateCodec> FindStateCodec(const torch::optim::Optimizer& optimizer) {
  const std::type_index type(typeid(optimizer));
  for (const auto& [name, entry] : OptimizerRegistry().Entries()) {
    if (entry.state.optimizer_type == type) return entry.state;
  }
  return absl::UnimplementedError(absl::StrCat(
      "no registered optimizer has the type of this one (", type.name(),
      "); optimizers registered with REGISTER_OPTIMIZER bring the codec checkpoints need"));
}

std::vector<double> GetLearningRates(const torch::optim::Optimizer& optimizer) {
  std::vector<double> learning_rates;
  for (const torch::optim::OptimizerParamGroup& group : optimizer.param_groups()) {
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
