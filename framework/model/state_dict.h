// A module's parameters and buffers as named tensors, and loading them back
// with the checks PyTorch's load_state_dict(strict=True) makes.
#ifndef FRAMEWORK_MODEL_STATE_DICT_H_
#define FRAMEWORK_MODEL_STATE_DICT_H_

#include <string>
#include <vector>

#include <torch/nn/module.h>

#include "absl/status/status.h"
#include "framework/core/named_tensor.h"

namespace framework {

// Parameters then buffers, by their dotted names ("conv1.weight").
std::vector<NamedTensor> StateDict(const torch::nn::Module& module);

// Copies `tensors` into the module's parameters and buffers (converting
// device and dtype to the module's). Strict: any missing, unexpected or
// mis-shaped key is an error listing all of them, and nothing is changed.
// Not strict: loads the keys that match and logs the rest. `source` names
// the file in messages.
absl::Status LoadStateDict(torch::nn::Module& module, const std::vector<NamedTensor>& tensors,
                           bool strict, const std::string& source);

}  // namespace framework

#endif  // FRAMEWORK_MODEL_STATE_DICT_H_
