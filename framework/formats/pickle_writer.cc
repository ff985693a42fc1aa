#include "framework/formats/pickle_writer.h"

#include "absl/strings/str_cat.h"
#include "framework/formats/unpickler.h"

namespace framework {
namespace {

std::string StorageTypeName(c10::ScalarType type) {
  for (const auto& [name, dtype] : StorageTypes()) {
    if (dtype == type && name != "torch.UntypedStorage") return name.substr(6);
  }
  return "";
}

}  // namespace

absl::Status PickleTensor(PickleWriter& pickle, const std::string& path, const std::string& name,
                          const at::Tensor& tensor, std::vector<at::Tensor>& storages) {
  const std::string storage_type = StorageTypeName(tensor.scalar_type());
  if (storage_type.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": tensor '", name, "' has dtype ", c10::toString(tensor.scalar_type()),
        ", which this writer does not support"));
  }
  at::Tensor data = tensor.detach().to(torch::kCPU).contiguous();
  const std::string key = std::to_string(storages.size());
  storages.push_back(data);
  pickle.Global("torch._utils", "_rebuild_tensor_v2");
  pickle.Mark();
  {
    pickle.Mark();
    pickle.String("storage");
    pickle.Global("torch", storage_type);
    pickle.String(key);
    pickle.String("cpu");
    pickle.Int(data.numel());
    pickle.Tuple();
    pickle.BinPersId();
  }
  pickle.Int(0);
  pickle.IntTuple(data.sizes());
  pickle.IntTuple(data.strides());
  pickle.False();
  pickle.EmptyOrderedDict();
  pickle.Tuple();
  pickle.Reduce();
  return absl::OkStatus();
}

void PickleJson(PickleWriter& pickle, const nlohmann::json& value) {
  if (value.is_null()) {
    pickle.None();
  } else if (value.is_boolean()) {
    pickle.Bool(value.get<bool>());
  } else if (value.is_number_integer()) {
    pickle.Int(value.get<int64_t>());
  } else if (value.is_number()) {
    pickle.Float(value.get<double>());
  } else if (value.is_string()) {
    pickle.String(value.get<std::string>());
  } else if (value.is_array()) {
    pickle.EmptyList();
    if (!value.empty()) {
      pickle.Mark();
      for (const nlohmann::json& item : value) PickleJson(pickle, item);
      pickle.Appends();
    }
  } else {
    pickle.EmptyDict();
    if (!value.empty()) {
      pickle.Mark();
      for (auto it = value.begin(); it != value.end(); ++it) {
        pickle.String(it.key());
        PickleJson(pickle, it.value());
      }
      pickle.SetItems();
    }
  }
}

}  // namespace framework
