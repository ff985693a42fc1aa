// An optimizer's per-parameter state as named tensors, for checkpoints.
//
// Names are "optimizer.<group>.<index>.<field>", the fields being those the
// optimizer's registered state codec names (momentum_buffer, exp_avg, sum,
// step...), so a checkpoint tool can list and diff them without the
// optimizer's code. Works for every optimizer registered with
// REGISTER_OPTIMIZER, plugins included.
#ifndef FRAMEWORK_OPTIM_OPTIMIZER_STATE_H_
#define FRAMEWORK_OPTIM_OPTIMIZER_STATE_H_

#include <functional>
#include <map>
#include <string>
#include <vector>

#include <torch/optim/optimizer.h>

#include "absl/status/statusor.h"
#include "framework/core/named_tensor.h"

namespace framework {

struct OptimizerStateTensors {
  std::vector<NamedTensor> tensors;
  // "<group>.<index>" of every parameter that has state; a checkpoint records
  // it so that a missing tensor is told apart from a parameter without state.
  std::vector<std::string> parameters_with_state;
};

// The parameter ("<group>.<index>") whose state tensor `name`
// ("optimizer.<group>.<index>.<field>") holds; empty for any other name.
std::string OptimizerStateTensorParameter(const std::string& name);

absl::StatusOr<OptimizerStateTensors> ExtractOptimizerState(
    const torch::optim::Optimizer& optimizer);

// Replaces the optimizer's state with `tensors` (moved to each parameter's
// device). `source` names the file in errors. With `restores`, only the
// parameters it accepts (by "<group>.<index>") get their state: a sharded
// optimizer's own (optim/optimizer_sharding.h); the others' entries are
// checked as everywhere else and left out.
absl::Status RestoreOptimizerState(
    torch::optim::Optimizer& optimizer, const std::map<std::string, at::Tensor>& tensors,
    const std::vector<std::string>& parameters_with_state, const std::string& source,
    const std::function<bool(const std::string& parameter)>& restores = nullptr);

}  // namespace framework

#endif  // FRAMEWORK_OPTIM_OPTIMIZER_STATE_H_
