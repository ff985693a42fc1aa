#include "framework/model/state_dict.h"

#include <algorithm>
#include <string_view>

#include <torch/csrc/autograd/grad_mode.h>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "glog/logging.h"

namespace framework {

namespace {

// Reads a module's own registered parameters in place. Module::parameters_
// is protected (LibTorch's ParameterDict reaches it the same way, by being
// derived); a pointer to the member taken through a derived class is
// ordinary C++ and applies to any Module.
struct OwnParameters : torch::nn::Module {
  static const torch::OrderedDict<std::string, at::Tensor>& Of(const torch::nn::Module& module) {
    return module.*(&OwnParameters::parameters_);
  }
};

// named_parameters()'s order and names (this module's own, then each child's
// in registration order, depth first; undefined ones left out), without the
// two ordered dicts with a hashed index that it builds and copies per module:
// for a model of 10,000 small tensors they were most of a checkpoint's
// per-tensor cost (StateDict runs at every save and twice per resume).
// `visit(name, tensor)` gets each by reference, so a caller that only looks
// touches no tensor's reference count.
template <typename Visit>
void VisitParameters(const torch::nn::Module& module, const std::string& prefix, Visit& visit) {
  const torch::OrderedDict<std::string, at::Tensor>& own = OwnParameters::Of(module);
  for (const auto& item : own) {
    if (!item.value().defined()) continue;
    visit(prefix.empty() ? item.key() : absl::StrCat(prefix, ".", item.key()), item.value());
  }
  for (const auto& child : module.named_children()) {
    VisitParameters(*child.value(),
                    prefix.empty() ? child.key() : absl::StrCat(prefix, ".", child.key()), visit);
  }
}

// A model tensor by name, held by reference (valid while the module and
// `buffers`, which named_buffers() returns by value, are).
struct TargetRef {
  std::string name;
  const at::Tensor* tensor;
};

}  // namespace

std::vector<NamedTensor> StateDict(const torch::nn::Module& module) {
  std::vector<NamedTensor> tensors;
  auto append = [&tensors](std::string name, const at::Tensor& tensor) {
    tensors.push_back({std::move(name), tensor});
  };
  VisitParameters(module, "", append);
  for (const auto& item : module.named_buffers()) tensors.push_back({item.key(), item.value()});
  return tensors;
}

namespace {

// Whether `tensors` are exactly the targets themselves, each once under its
// own name: tensors a reader put straight into the model's memory by name
// (a resume). Then loading has nothing to check or copy. Matched by identity
// (a hash of tensor addresses) with one name comparison each, where the
// general path hashes every name twice and looks at every tensor's shape:
// for 10,000 tensors 3-4 ms of a resume. Tied weights (one tensor under two
// names) are left to the general path.
bool AlreadyInPlace(const std::vector<TargetRef>& targets, const std::vector<NamedTensor>& tensors) {
  if (tensors.size() != targets.size()) return false;
  absl::flat_hash_map<const c10::TensorImpl*, size_t> target_of;
  target_of.reserve(targets.size());
  for (size_t i = 0; i < targets.size(); ++i) {
    if (!target_of.emplace(targets[i].tensor->unsafeGetTensorImpl(), i).second) return false;
  }
  std::vector<bool> given(targets.size(), false);
  for (const NamedTensor& named : tensors) {
    auto it = target_of.find(named.tensor.unsafeGetTensorImpl());
    if (it == target_of.end() || given[it->second] || targets[it->second].name != named.name) {
      return false;
    }
    given[it->second] = true;
  }
  return true;  // as many tensors as targets, each a distinct target: all of them
}

}  // namespace

absl::Status LoadStateDict(torch::nn::Module& module, const std::vector<NamedTensor>& tensors,
                           bool strict, const std::string& source) {
  // By reference: the model's tensors are only looked at, and copied into.
  std::vector<TargetRef> targets;
  auto add = [&targets](std::string name, const at::Tensor& tensor) {
    targets.push_back({std::move(name), &tensor});
  };
  VisitParameters(module, "", add);
  const torch::OrderedDict<std::string, at::Tensor> buffers = module.named_buffers();
  for (const auto& item : buffers) targets.push_back({item.key(), &item.value()});
  if (AlreadyInPlace(targets, tensors)) return absl::OkStatus();

  // Hashed by name: a transformer has thousands of tensors.
  absl::flat_hash_map<std::string_view, const at::Tensor*> given;
  given.reserve(tensors.size());
  for (const NamedTensor& named : tensors) given[named.name] = &named.tensor;

  // Each target's tensor from `tensors`, null where it has none that fits;
  // looked up once.
  std::vector<const at::Tensor*> source_of(targets.size(), nullptr);
  std::vector<std::string> missing, unexpected, misshaped;
  for (size_t i = 0; i < targets.size(); ++i) {
    const TargetRef& target = targets[i];
    auto it = given.find(target.name);
    if (it == given.end()) {
      missing.push_back(target.name);
    } else if (it->second->sizes() != target.tensor->sizes()) {
      misshaped.push_back(absl::StrCat(target.name, " (file ", c10::str(it->second->sizes()),
                                       ", model ", c10::str(target.tensor->sizes()), ")"));
    } else {
      source_of[i] = it->second;
    }
  }
  // Every target found among as many distinct names: none is unexpected.
  const bool all_found = missing.empty() && given.size() == tensors.size() &&
                         tensors.size() == targets.size();
  if (!all_found) {
    absl::flat_hash_map<std::string_view, const at::Tensor*> target_of;
    target_of.reserve(targets.size());
    for (const TargetRef& target : targets) target_of[target.name] = target.tensor;
    for (const NamedTensor& named : tensors) {
      if (target_of.count(named.name) == 0) unexpected.push_back(named.name);
    }
  }
  std::sort(missing.begin(), missing.end());
  std::sort(unexpected.begin(), unexpected.end());
  std::sort(misshaped.begin(), misshaped.end());
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
  for (size_t i = 0; i < targets.size(); ++i) {
    const at::Tensor* source = source_of[i];
    // Already there: a reader that loaded straight into the model's memory.
    if (source == nullptr || source->is_same(*targets[i].tensor)) continue;
    at::Tensor target = *targets[i].tensor;
    target.copy_(*source);
  }
  return absl::OkStatus();
}

}  // namespace framework
