#include "framework/optim/optimizer.h"

#include <exception>

#include <c10/util/string_utils.h>

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

absl::StatusOr<DecayedParameters> ParseDecayedParameters(const std::string& text) {
  if (text == "all") return DecayedParameters::kAll;
  if (text == "matrices") return DecayedParameters::kMatrices;
  return absl::InvalidArgumentError(absl::StrCat(
      "must be all (weight decay on every parameter) or matrices (on parameters of 2+ "
      "dimensions only, not biases and normalisation weights), got '", text, "'"));
}

const char* DecayedParametersName(DecayedParameters which) {
  return which == DecayedParameters::kAll ? "all" : "matrices";
}

std::vector<std::vector<int64_t>> DecayGroups(const std::vector<torch::Tensor>& parameters,
                                              DecayedParameters which) {
  std::vector<std::vector<int64_t>> groups(which == DecayedParameters::kAll ? 1 : 2);
  for (size_t i = 0; i < parameters.size(); ++i) {
    const bool decayed = which == DecayedParameters::kAll || parameters[i].dim() >= 2;
    groups[decayed ? 0 : 1].push_back(static_cast<int64_t>(i));
  }
  if (groups.size() == 2 && groups[1].empty()) groups.pop_back();
  return groups;
}

absl::StatusOr<std::string> WeightDecayOption(const std::string& optimizer_name) {
  absl::StatusOr<OptimizerEntry> entry = OptimizerRegistry().Find(optimizer_name);
  if (!entry.ok()) return entry.status();
  for (const OptionSpec& spec : entry->options) {
    if (spec.pytorch_key == "weight_decay") return spec.name;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("optimizer '", optimizer_name, "' has no weight decay option"));
}

absl::StatusOr<std::unique_ptr<torch::optim::Optimizer>> BuildOptimizer(
    const std::string& name, const OptionValues& options, std::vector<torch::Tensor> parameters,
    DecayedParameters which) {
  if (which == DecayedParameters::kAll) return BuildOptimizer(name, options, std::move(parameters));
  absl::StatusOr<std::string> decay = WeightDecayOption(name);
  if (!decay.ok()) return decay.status();
  const std::vector<std::vector<int64_t>> groups = DecayGroups(parameters, which);
  std::vector<torch::Tensor> matrices, others;
  for (int64_t i : groups[0]) matrices.push_back(parameters[i]);
  for (int64_t i : groups[1]) others.push_back(parameters[i]);
  absl::StatusOr<std::unique_ptr<torch::optim::Optimizer>> optimizer =
      BuildOptimizer(name, options, matrices);
  if (!optimizer.ok() || others.empty()) return optimizer;
  nlohmann::json undecayed = options.json();
  undecayed[*decay] = 0.0;
  // The second group's options are those of an optimizer built the same
  // way with no decay: LibTorch's options classes differ by optimizer.
  absl::StatusOr<std::unique_ptr<torch::optim::Optimizer>> template_optimizer =
      BuildOptimizer(name, undecayed, others);
  if (!template_optimizer.ok()) return template_optimizer.status();
  (*optimizer)->add_param_group(torch::optim::OptimizerParamGroup(
      others, (*template_optimizer)->param_groups().at(0).options().clone()));
  return optimizer;
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

std::string OptimizerStateKey(const at::Tensor& parameter) {
  return c10::guts::to_string(parameter.unsafeGetTensorImpl());
}

absl::StatusOr<int64_t> OptimizerStateBytes(const torch::optim::Optimizer& optimizer) {
  absl::StatusOr<OptimizerStateCodec> codec = FindStateCodec(optimizer);
  if (!codec.ok()) return codec.status();
  int64_t bytes = 0;
  for (const auto& [key, state] : optimizer.state()) {
    for (const StateTensorField& field : codec->fields(*state).tensors) {
      if (field.tensor->defined()) bytes += static_cast<int64_t>(field.tensor->nbytes());
    }
  }
  return bytes;
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
