#include "framework/model/state_dict.h"

#include <map>

#include <torch/csrc/autograd/grad_mode.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "glog/logging.h"

namespace framework {

std::vector<NamedTensor> StateDict(const torch::nn::Module& module) {
  std::vector<NamedTensor> tensors;
  for (const auto& item : module.named_parameters()) tensors.push_back({item.key(), item.value()});
  for (const auto& item : module.named_buffers()) tensors.push_back({item.key(), item.value()});
  return tensors;
}

absl::Status LoadStateDict(torch::nn::Module& module, const std::vector<NamedTensor>& tensors,
                           bool strict, const std::string& source) {
  std::map<std::string, at::Tensor> targets;
  for (const NamedTensor& named : StateDict(module)) targets[named.name] = named.tensor;
  std::map<std::string, const at::Tensor*> given;
  for (const NamedTensor& named : tensors) given[named.name] = &named.tensor;

  std::vector<std::string> missing, unexpected, misshaped;
  for (const auto& [name, target] : targets) {
    auto it = given.find(name);
    if (it == given.end()) {
      missing.push_back(name);
    } else if (it->second->sizes() != target.sizes()) {
      misshaped.push_back(absl::StrCat(name, " (file ", c10::str(it->second->sizes()), ", model ",
                                       c10::str(target.sizes()), ")"));
    }
  }
  for (const auto& [name, tensor] : given) {
    if (targets.count(name) == 0) unexpected.push_back(name);
  }
  std::string problems;
  if (!missing.empty()) absl::StrAppend(&problems, "; missing keys: ", absl::StrJoin(missing, ", "));
  if (!unexpected.empty()) {
    absl::StrAppend(&problems, "; unexpected keys: ", absl::StrJoin(unexpected, ", "));
  }
  if (!misshaped.empty()) {
    absl::StrAppend(&problems, "; mis-shaped keys: ", absl::StrJoin(misshaped, ", "));
  }
  if (strict && !problems.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, " does not fit the model", problems));
  }
  if (!problems.empty()) {
    LOG(WARNING) << source << ": loading the matching keys only" << problems;
  }
  torch::NoGradGuard no_grad;
  for (auto& [name, target] : targets) {
    auto it = given.find(name);
    if (it == given.end() || it->second->sizes() != target.sizes()) continue;
    // Already there: a reader that loaded straight into the model's memory.
    if (it->second->is_same(target)) continue;
    target.copy_(*it->second);
  }
  return absl::OkStatus();
}

}  // namespace framework
