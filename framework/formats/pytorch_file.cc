#include "framework/formats/pytorch_file.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "framework/formats/torch_save_archive.h"
#include "glog/logging.h"

namespace framework {

absl::StatusOr<std::vector<NamedTensor>> ReadPyTorchStateDict(const std::string& path,
                                                              const DeviceMap& devices) {
  absl::StatusOr<PyRef> root = LoadPickleRoot(path, devices);
  if (!root.ok()) return root.status();
  PyRef state_dict;
  std::string found_under;
  if (IsStateDict(*root)) {
    state_dict = *root;
  } else if ((*root)->kind == PyValue::Kind::kDict) {
    std::vector<std::string> keys;
    for (const char* candidate : {"model_state_dict", "state_dict", "model", "module"}) {
      for (const auto& [key, value] : (*root)->entries) {
        if (key->kind == PyValue::Kind::kString && key->text == candidate && IsStateDict(value) &&
            state_dict == nullptr) {
          state_dict = value;
          found_under = candidate;
        }
      }
    }
    if (state_dict == nullptr) {
      for (const auto& [key, value] : (*root)->entries) {
        keys.push_back(key->kind == PyValue::Kind::kString ? key->text : KindName(key->kind));
      }
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": no state_dict found; top-level keys are ", absl::StrJoin(keys, ", "),
          " (expected a dict of tensors, or one under model_state_dict, state_dict or model)"));
    }
  } else {
    return absl::InvalidArgumentError(absl::StrCat(path, ": holds a ", KindName((*root)->kind),
                                                   ", not a state_dict"));
  }
  if (!found_under.empty()) LOG(INFO) << path << ": using the state dict under '" << found_under << "'";
  return StateDictTensors(path, state_dict);
}

absl::Status WritePyTorchStateDict(const std::string& path, const std::vector<NamedTensor>& tensors) {
  PickleWriter pickle;
  pickle.Proto();
  pickle.EmptyOrderedDict();
  pickle.Mark();
  std::vector<at::Tensor> storages;
  for (const NamedTensor& named : tensors) {
    pickle.String(named.name);
    if (absl::Status s = PickleTensor(pickle, path, named.name, named.tensor, storages); !s.ok()) {
      return s;
    }
  }
  pickle.SetItems();
  pickle.Stop();
  return WritePickleArchive(path, pickle, storages);
}
}  // namespace framework
