#include "framework/optim/optimizer_state.h"

#include <cstdio>

#include <c10/util/string_utils.h>
#include <torch/types.h>

#include "absl/strings/str_cat.h"
#include "framework/optim/optimizer.h"

namespace framework {
namespace {

// LibTorch keys optimizer state by the parameter's TensorImpl address.
std::string StateKey(const at::Tensor& parameter) {
  return c10::guts::to_string(parameter.unsafeGetTensorImpl());
}

at::Tensor StepTensor(int64_t step) { return torch::tensor(step, torch::kInt64); }

}  // namespace

absl::StatusOr<OptimizerStateTensors> ExtractOptimizerState(
    const torch::optim::Optimizer& optimizer) {
  absl::StatusOr<OptimizerStateCodec> codec = FindStateCodec(optimizer);
  if (!codec.ok()) return codec.status();
  OptimizerStateTensors result;
  const auto& groups = optimizer.param_groups();
  for (size_t g = 0; g < groups.size(); ++g) {
    const auto& params = groups[g].params();
    for (size_t i = 0; i < params.size(); ++i) {
      auto it = optimizer.state().find(StateKey(params[i]));
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

absl::Status RestoreOptimizerState(torch::optim::Optimizer& optimizer,
                                   const std::map<std::string, at::Tensor>& tensors,
                                   const std::vector<std::string>& parameters_with_state,
                                   const std::string& source) {
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
    for (const StateTensorField& field : fields.tensors) {
      auto it = tensors.find(prefix + field.name);
      if (it == tensors.end()) {
        if (field.required) {
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
      *field.tensor = it->second.to(parameter.device(), parameter.scalar_type(), false, true);
      ++used;
    }
    if (fields.step != nullptr) {
      auto it = tensors.find(prefix + "step");
      if (it == tensors.end()) {
        return absl::InvalidArgumentError(
            absl::StrCat(source, ": missing optimizer entry '", prefix, "step'"));
      }
      *fields.step = it->second.item<int64_t>();
      ++used;
    }
    restored[StateKey(parameter)] = std::move(state);
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
