#include "framework/optim/optimizer_state.h"

#include <cstdio>
#include <string_view>

#include <c10/util/string_utils.h>
#include <torch/types.h>

#include "absl/strings/str_cat.h"
#include "framework/optim/optimizer.h"

namespace framework {
namespace {

at::Tensor StepTensor(int64_t step) { return torch::tensor(step, torch::kInt64); }

}  // namespace

std::string OptimizerStateTensorParameter(const std::string& name) {
  constexpr std::string_view kPrefix = "optimizer.";
  if (name.compare(0, kPrefix.size(), kPrefix) != 0) return "";
  const size_t group_end = name.find('.', kPrefix.size());
  if (group_end == std::string::npos) return "";
  const size_t index_end = name.find('.', group_end + 1);
  if (index_end == std::string::npos) return "";
  return name.substr(kPrefix.size(), index_end - kPrefix.size());
}

absl::StatusOr<OptimizerStateTensors> ExtractOptimizerState(
    const torch::optim::Optimizer& optimizer) {
  absl::StatusOr<OptimizerStateCodec> codec = FindStateCodec(optimizer);
  if (!codec.ok()) return codec.status();
  OptimizerStateTensors result;
  const auto& groups = optimizer.param_groups();
  for (size_t g = 0; g < groups.size(); ++g) {
    const auto& params = groups[g].params();
    for (size_t i = 0; i < params.size(); ++i) {
      auto it = optimizer.state().find(OptimizerStateKey(params[i]));
      if (it == optimizer.state().end()) continue;
      const ParamStateFields fields = codec->fields(*it->second);
      const std::string prefix = absl::StrCat("optimizer.", g, ".", i, ".");
      result.parameters_with_state.push_back(absl::StrCat(g, ".", i));
      for (const StateTensorField& field : fields.tensors) {
        if (field.tensor->defined()) result.tensors.push_back({prefix + field.name, *field.tensor});
      }
      if (fields.step != nullptr) result.tensors.push_back({prefix + "step", StepTensor(*fields.step)});
    }
  }
  return result;
}

absl::Status RestoreOptimizerState(
    torch::optim::Optimizer& optimizer, const std::map<std::string, at::Tensor>& tensors,
    const std::vector<std::string>& parameters_with_state, const std::string& source,
    const std::function<bool(const std::string& parameter)>& restores) {
  absl::StatusOr<OptimizerStateCodec> codec = FindStateCodec(optimizer);
  if (!codec.ok()) return codec.status();
  std::map<std::string, std::unique_ptr<torch::optim::OptimizerParamState>> restored;
  const auto& groups = optimizer.param_groups();
  size_t used = 0;
  for (const std::string& id : parameters_with_state) {
    size_t g = 0, i = 0;
    if (std::sscanf(id.c_str(), "%zu.%zu", &g, &i) != 2 || g >= groups.size() ||
        i >= groups[g].params().size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          source, ": optimizer state for parameter ", id,
          ", which this optimizer does not have (", groups.size(), " parameter group(s))"));
    }
    const at::Tensor& parameter = groups[g].params()[i];
    std::unique_ptr<torch::optim::OptimizerParamState> state = codec->new_state();
    const ParamStateFields fields = codec->fields(*state);
    const std::string prefix = absl::StrCat("optimizer.", id, ".");
    const bool kept = !restores || restores(id);
    for (const StateTensorField& field : fields.tensors) {
      auto it = tensors.find(prefix + field.name);
      if (it == tensors.end()) {
        // Another rank's entries may not have been read at all.
        if (field.required && kept) {
          return absl::InvalidArgumentError(
              absl::StrCat(source, ": missing optimizer entry '", prefix + field.name, "'"));
        }
        continue;
      }
      if (it->second.sizes() != parameter.sizes()) {
        return absl::InvalidArgumentError(absl::StrCat(
            source, ": optimizer entry '", prefix + field.name, "' has shape ",
            c10::str(it->second.sizes()), ", its parameter ", c10::str(parameter.sizes())));
      }
      // A copy: the optimizer updates it in place.
      if (kept) {
        *field.tensor = it->second.to(parameter.device(), parameter.scalar_type(), false, true);
      }
      ++used;
    }
    if (fields.step != nullptr) {
      auto it = tensors.find(prefix + "step");
      if (it != tensors.end()) {
        if (kept) *fields.step = it->second.item<int64_t>();
        ++used;
      } else if (kept) {
        return absl::InvalidArgumentError(
            absl::StrCat(source, ": missing optimizer entry '", prefix, "step'"));
      }
    }
    if (kept) restored[OptimizerStateKey(parameter)] = std::move(state);
  }
  if (used != tensors.size()) {
    std::vector<std::string> unexpected;
    for (const auto& [name, tensor] : tensors) {
      bool known = false;
      for (const std::string& id : parameters_with_state) {
        if (name.rfind(absl::StrCat("optimizer.", id, "."), 0) == 0) known = true;
      }
      if (!known) unexpected.push_back(name);
    }
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": unexpected optimizer entries: ",
        unexpected.empty() ? "(fields this optimizer does not use)" : unexpected.front()));
  }
  optimizer.state().clear();
  for (auto& [key, state] : restored) optimizer.state()[key] = std::move(state);
  return absl::OkStatus();
}

}  // namespace framework
