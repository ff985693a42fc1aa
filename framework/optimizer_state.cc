#include "framework/optimizer_state.h"

#include <c10/util/string_utils.h>
#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/rmsprop.h>
#include <torch/optim/sgd.h>

#include "absl/strings/str_cat.h"

namespace framework {
namespace {

// LibTorch keys optimizer state by the parameter's TensorImpl address.
std::string StateKey(const at::Tensor& parameter) {
  return c10::guts::to_string(parameter.unsafeGetTensorImpl());
}

absl::Status UnsupportedOptimizer() {
  return absl::UnimplementedError(
      "checkpoints support the state of sgd, adam, adamw and rmsprop optimizers only");
}

at::Tensor StepTensor(int64_t step) { return torch::tensor(step, torch::kInt64); }

// The fields of one parameter's state: tensor fields by reference, and the
// step counter where the optimizer has one.
struct StateFields {
  std::vector<std::pair<std::string, at::Tensor*>> tensors;
  int64_t* step = nullptr;
};

absl::StatusOr<StateFields> FieldsOf(torch::optim::OptimizerParamState& state) {
  StateFields fields;
  if (auto* sgd = dynamic_cast<torch::optim::SGDParamState*>(&state)) {
    fields.tensors = {{"momentum_buffer", &sgd->momentum_buffer()}};
  } else if (auto* adam = dynamic_cast<torch::optim::AdamParamState*>(&state)) {
    fields.tensors = {{"exp_avg", &adam->exp_avg()},
                      {"exp_avg_sq", &adam->exp_avg_sq()},
                      {"max_exp_avg_sq", &adam->max_exp_avg_sq()}};
    fields.step = &adam->step();
  } else if (auto* adamw = dynamic_cast<torch::optim::AdamWParamState*>(&state)) {
    fields.tensors = {{"exp_avg", &adamw->exp_avg()},
                      {"exp_avg_sq", &adamw->exp_avg_sq()},
                      {"max_exp_avg_sq", &adamw->max_exp_avg_sq()}};
    fields.step = &adamw->step();
  } else if (auto* rmsprop = dynamic_cast<torch::optim::RMSpropParamState*>(&state)) {
    fields.tensors = {{"square_avg", &rmsprop->square_avg()},
                      {"momentum_buffer", &rmsprop->momentum_buffer()},
                      {"grad_avg", &rmsprop->grad_avg()}};
    fields.step = &rmsprop->step();
  } else {
    return UnsupportedOptimizer();
  }
  return fields;
}

// A fresh, empty state object of the optimizer's kind.
absl::StatusOr<std::unique_ptr<torch::optim::OptimizerParamState>> NewState(
    const torch::optim::Optimizer& optimizer) {
  if (dynamic_cast<const torch::optim::SGD*>(&optimizer)) {
    return std::unique_ptr<torch::optim::OptimizerParamState>(new torch::optim::SGDParamState());
  }
  if (dynamic_cast<const torch::optim::Adam*>(&optimizer)) {
    return std::unique_ptr<torch::optim::OptimizerParamState>(new torch::optim::AdamParamState());
  }
  if (dynamic_cast<const torch::optim::AdamW*>(&optimizer)) {
    return std::unique_ptr<torch::optim::OptimizerParamState>(new torch::optim::AdamWParamState());
  }
  if (dynamic_cast<const torch::optim::RMSprop*>(&optimizer)) {
    return std::unique_ptr<torch::optim::OptimizerParamState>(
        new torch::optim::RMSpropParamState());
  }
  return UnsupportedOptimizer();
}

}  // namespace

absl::StatusOr<OptimizerStateTensors> ExtractOptimizerState(
    const torch::optim::Optimizer& optimizer) {
  OptimizerStateTensors result;
  const auto& groups = optimizer.param_groups();
  for (size_t g = 0; g < groups.size(); ++g) {
    const auto& params = groups[g].params();
    for (size_t i = 0; i < params.size(); ++i) {
      auto it = optimizer.state().find(StateKey(params[i]));
      if (it == optimizer.state().end()) continue;
      absl::StatusOr<StateFields> fields = FieldsOf(*it->second);
      if (!fields.ok()) return fields.status();
      const std::string prefix = absl::StrCat("optimizer.", g, ".", i, ".");
      result.parameters_with_state.push_back(absl::StrCat(g, ".", i));
      for (const auto& [field, tensor] : fields->tensors) {
        if (tensor->defined()) result.tensors.push_back({prefix + field, *tensor});
      }
      if (fields->step != nullptr) {
        result.tensors.push_back({prefix + "step", StepTensor(*fields->step)});
      }
    }
  }
  return result;
}

absl::Status RestoreOptimizerState(torch::optim::Optimizer& optimizer,
                                   const std::map<std::string, at::Tensor>& tensors,
                                   const std::vector<std::string>& parameters_with_state,
                                   const std::string& source) {
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
    absl::StatusOr<std::unique_ptr<torch::optim::OptimizerParamState>> state = NewState(optimizer);
    if (!state.ok()) return state.status();
    absl::StatusOr<StateFields> fields = FieldsOf(**state);
    if (!fields.ok()) return fields.status();
    const std::string prefix = absl::StrCat("optimizer.", id, ".");
    int found = 0;
    for (const auto& [field, slot] : fields->tensors) {
      auto it = tensors.find(prefix + field);
      if (it == tensors.end()) continue;
      if (it->second.sizes() != parameter.sizes()) {
        return absl::InvalidArgumentError(absl::StrCat(
            source, ": optimizer entry '", prefix + field, "' has shape ",
            c10::str(it->second.sizes()), ", its parameter ", c10::str(parameter.sizes())));
      }
      *slot = it->second.to(parameter.device(), parameter.scalar_type(), false, true);
      ++found;
      ++used;
    }
    // The first field is never optional: momentum buffer (SGD: present
    // whenever there is state), exp_avg, square_avg.
    if (!tensors.count(prefix + fields->tensors[0].first)) {
      return absl::InvalidArgumentError(absl::StrCat(
          source, ": missing optimizer entry '", prefix + fields->tensors[0].first, "'"));
    }
    if (dynamic_cast<const torch::optim::Adam*>(&optimizer) ||
        dynamic_cast<const torch::optim::AdamW*>(&optimizer)) {
      if (!tensors.count(prefix + "exp_avg_sq")) {
        return absl::InvalidArgumentError(
            absl::StrCat(source, ": missing optimizer entry '", prefix, "exp_avg_sq'"));
      }
    }
    if (fields->step != nullptr) {
      auto it = tensors.find(prefix + "step");
      if (it == tensors.end()) {
        return absl::InvalidArgumentError(
            absl::StrCat(source, ": missing optimizer entry '", prefix, "step'"));
      }
      *fields->step = it->second.item<int64_t>();
      ++used;
    }
    restored[StateKey(parameter)] = *std::move(state);
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
