#include "framework/optim/optimizer.h"

#include <exception>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"

namespace framework {

Registry<OptimizerEntry>& OptimizerRegistry() {
  static auto* registry = new Registry<OptimizerEntry>("optimizer");
  return *registry;
}

absl::StatusOr<OptionValues> ResolveOptimizerOptions(
    const std::string& name, const nlohmann::json& given,
    const std::function<std::string(const std::string& key)>& where) {
  absl::StatusOr<OptimizerEntry> entry = OptimizerRegistry().Find(name);
  if (!entry.ok()) return entry.status();
  return ResolveOptions(entry->options, given, absl::StrCat("optimizer '", name, "'"), where);
}

absl::StatusOr<std::unique_ptr<torch::optim::Optimizer>> BuildOptimizer(
    const std::string& name, const OptionValues& options, std::vector<torch::Tensor> parameters) {
  absl::StatusOr<OptimizerEntry> entry = OptimizerRegistry().Find(name);
  if (!entry.ok()) return entry.status();
  try {
    return entry->build(options, std::move(parameters));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("building optimizer '", name, "' failed: ", e.what()));
  }
}

absl::StatusOr<std::unique_ptr<torch::optim::Optimizer>> BuildOptimizer(
    const std::string& name, const nlohmann::json& given, std::vector<torch::Tensor> parameters) {
  absl::StatusOr<OptionValues> options =
      ResolveOptimizerOptions(name, given, [](const std::string& key) { return "'" + key + "'"; });
  if (!options.ok()) return options.status();
  return BuildOptimizer(name, *options, std::move(parameters));
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
