// PyTorch's training-checkpoint dict (declared in pytorch_file.h): read into
// typed parts, each entry of the wrong kind an error naming its key, and
// written so that torch.load(weights_only=True) and the optimizer's and
// scheduler's load_state_dict accept it.
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "framework/formats/pytorch_file.h"
#include "framework/formats/torch_save_archive.h"
#include "glog/logging.h"

namespace framework {

namespace {

const PyRef* Entry(const PyRef& dict, const std::string& name) {
  for (const auto& [key, value] : dict->entries) {
    if (key->kind == PyValue::Kind::kString && key->text == name) return &value;
  }
  return nullptr;
}

absl::Status WrongKind(const std::string& path, const std::string& key, const char* expected,
                       const PyRef& value) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": '", key, "' is a ",
                                                 KindName(value->kind), ", expected ", expected));
}

absl::StatusOr<PyTorchOptimizerState> ReadOptimizerState(const std::string& path,
                                                         const std::string& name,
                                                         const PyRef& value) {
  if (value->kind != PyValue::Kind::kDict) return WrongKind(path, name, "a dict", value);
  PyTorchOptimizerState optimizer;
  const PyRef* state = Entry(value, "state");
  const PyRef* groups = Entry(value, "param_groups");
  if (state == nullptr || groups == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": '", name, "' lacks 'state' or 'param_groups' (not an optimizer's state_dict)"));
  }
  if ((*state)->kind != PyValue::Kind::kDict) return WrongKind(path, name + ".state", "a dict", *state);
  for (const auto& [key, fields] : (*state)->entries) {
    const std::string where = absl::StrCat(name, ".state[", key->integer, "]");
    if (key->kind != PyValue::Kind::kInt) {
      return WrongKind(path, name + ".state key", "a parameter index (int)", key);
    }
    if (fields->kind != PyValue::Kind::kDict) return WrongKind(path, where, "a dict", fields);
    auto& out = optimizer.state[key->integer];
    for (const auto& [field, item] : fields->entries) {
      const std::string field_name = field->kind == PyValue::Kind::kString ? field->text : "?";
      switch (item->kind) {
        case PyValue::Kind::kTensor: out[field_name] = item->tensor; break;
        case PyValue::Kind::kInt: out[field_name] = torch::tensor(item->integer); break;
        case PyValue::Kind::kFloat: out[field_name] = torch::tensor(item->number, torch::kDouble); break;
        case PyValue::Kind::kNone: break;
        default: return WrongKind(path, where + "." + field_name, "a tensor or number", item);
      }
    }
  }
  if ((*groups)->kind != PyValue::Kind::kList) {
    return WrongKind(path, name + ".param_groups", "a list", *groups);
  }
  for (size_t g = 0; g < (*groups)->items.size(); ++g) {
    const PyRef& group = (*groups)->items[g];
    const std::string where = absl::StrCat(name, ".param_groups[", g, "]");
    if (group->kind != PyValue::Kind::kDict) return WrongKind(path, where, "a dict", group);
    PyTorchOptimizerState::Group out;
    for (const auto& [key, item] : group->entries) {
      const std::string option = key->text;
      if (option == "params") {
        if (item->kind != PyValue::Kind::kList) return WrongKind(path, where + ".params", "a list", item);
        for (const PyRef& index : item->items) {
          if (index->kind != PyValue::Kind::kInt) {
            return WrongKind(path, where + ".params", "a list of ints", index);
          }
          out.params.push_back(index->integer);
        }
      } else if (item->kind == PyValue::Kind::kFloat) {
        out.options[option] = item->number;
      } else if (item->kind == PyValue::Kind::kInt) {
        out.options[option] = static_cast<double>(item->integer);
      } else if (item->kind == PyValue::Kind::kBool) {
        out.options[option] = item->boolean ? 1 : 0;
      } else if (item->kind == PyValue::Kind::kTuple || item->kind == PyValue::Kind::kList) {
        for (size_t i = 0; i < item->items.size(); ++i) {
          const PyRef& element = item->items[i];
          if (element->kind == PyValue::Kind::kFloat || element->kind == PyValue::Kind::kInt) {
            out.options[absl::StrCat(option, ".", i)] =
                element->kind == PyValue::Kind::kFloat ? element->number
                                                      : static_cast<double>(element->integer);
          }
        }
      }
    }
    optimizer.param_groups.push_back(std::move(out));
  }
  return optimizer;
}

nlohmann::json ToJson(const PyRef& value) {
  switch (value->kind) {
    case PyValue::Kind::kBool: return value->boolean;
    case PyValue::Kind::kInt: return value->integer;
    case PyValue::Kind::kFloat: return value->number;
    case PyValue::Kind::kString: return value->text;
    case PyValue::Kind::kList:
    case PyValue::Kind::kTuple: {
      nlohmann::json array = nlohmann::json::array();
      for (const PyRef& item : value->items) array.push_back(ToJson(item));
      return array;
    }
    case PyValue::Kind::kDict: {
      nlohmann::json object = nlohmann::json::object();
      for (const auto& [key, item] : value->entries) {
        if (key->kind == PyValue::Kind::kString) object[key->text] = ToJson(item);
      }
      return object;
    }
    default: return nullptr;
  }
}

}  // namespace

absl::StatusOr<PyTorchTrainingCheckpoint> ReadPyTorchTrainingCheckpoint(const std::string& path,
                                                                        const DeviceMap& devices) {
  absl::StatusOr<PyRef> root = LoadPickleRoot(path, devices);
  if (!root.ok()) return root.status();
  if ((*root)->kind != PyValue::Kind::kDict) return WrongKind(path, "(top level)", "a dict", *root);
  PyTorchTrainingCheckpoint checkpoint;
  const PyRef* model = Entry(*root, "model_state_dict");
  if (model == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": no 'model_state_dict'"));
  }
  if (!IsStateDict(*model)) return WrongKind(path, "model_state_dict", "a dict of tensors", *model);
  checkpoint.model = StateDictTensors(path, *model);
  for (const char* key : {"optimizer_state_dict", "optimizer_state_dic"}) {
    const PyRef* optimizer = Entry(*root, key);
    if (optimizer == nullptr || checkpoint.optimizer.has_value()) continue;
    absl::StatusOr<PyTorchOptimizerState> state = ReadOptimizerState(path, key, *optimizer);
    if (!state.ok()) return state.status();
    checkpoint.optimizer = *std::move(state);
    checkpoint.optimizer_key = key;
  }
  if (const PyRef* epoch = Entry(*root, "epoch"); epoch != nullptr) {
    if ((*epoch)->kind != PyValue::Kind::kInt) return WrongKind(path, "epoch", "an int", *epoch);
    checkpoint.epoch = (*epoch)->integer;
  }
  if (const PyRef* loss = Entry(*root, "loss"); loss != nullptr) {
    if ((*loss)->kind == PyValue::Kind::kFloat) checkpoint.loss = (*loss)->number;
    if ((*loss)->kind == PyValue::Kind::kTensor && (*loss)->tensor.numel() == 1) {
      checkpoint.loss = (*loss)->tensor.item<double>();
    }
  }
  if (const PyRef* scheduler = Entry(*root, "scheduler_state_dict"); scheduler != nullptr) {
    checkpoint.scheduler = ToJson(*scheduler);
  }
  return checkpoint;
}

// Options torch.optim keeps as booleans.
const std::set<std::string> kBooleanOptions = {"nesterov", "amsgrad", "centered", "maximize",
                                               "capturable", "differentiable", "fused"};

absl::Status WritePyTorchTrainingCheckpoint(const std::string& path,
                                            const PyTorchTrainingCheckpoint& checkpoint) {
  PickleWriter pickle;
  std::vector<at::Tensor> storages;
  pickle.Proto();
  pickle.EmptyDict();
  pickle.Mark();
  pickle.String("model_state_dict");
  pickle.EmptyOrderedDict();
  pickle.Mark();
  for (const NamedTensor& named : checkpoint.model) {
    pickle.String(named.name);
    if (absl::Status s = PickleTensor(pickle, path, named.name, named.tensor, storages); !s.ok()) {
      return s;
    }
  }
  pickle.SetItems();
  if (checkpoint.optimizer.has_value()) {
    pickle.String("optimizer_state_dict");
    pickle.EmptyDict();
    pickle.Mark();
    pickle.String("state");
    pickle.EmptyDict();
    if (!checkpoint.optimizer->state.empty()) {
      pickle.Mark();
      for (const auto& [index, fields] : checkpoint.optimizer->state) {
        pickle.Int(index);
        pickle.EmptyDict();
        pickle.Mark();
        for (const auto& [field, tensor] : fields) {
          pickle.String(field);
          const std::string name = absl::StrCat("state[", index, "].", field);
          if (absl::Status s = PickleTensor(pickle, path, name, tensor, storages); !s.ok()) return s;
        }
        pickle.SetItems();
      }
      pickle.SetItems();
    }
    pickle.String("param_groups");
    nlohmann::json groups = nlohmann::json::array();
    for (const PyTorchOptimizerState::Group& group : checkpoint.optimizer->param_groups) {
      nlohmann::json json = nlohmann::json::object();
      for (const auto& [option, value] : group.options) {
        const size_t dot = option.find('.');
        if (dot != std::string::npos) {  // "betas.0", "betas.1" -> "betas": [..., ...]
          json[option.substr(0, dot)].push_back(value);
        } else if (kBooleanOptions.count(option) > 0) {
          json[option] = value != 0;
        } else {
          json[option] = value;
        }
      }
      json["params"] = group.params;
      groups.push_back(json);
    }
    PickleJson(pickle, groups);
    pickle.SetItems();
  }
  if (checkpoint.epoch.has_value()) {
    pickle.String("epoch");
    pickle.Int(*checkpoint.epoch);
  }
  if (checkpoint.loss.has_value()) {
    pickle.String("loss");
    pickle.Float(*checkpoint.loss);
  }
  if (!checkpoint.scheduler.is_null()) {
    pickle.String("scheduler_state_dict");
    PickleJson(pickle, checkpoint.scheduler);
  }
  pickle.SetItems();
  pickle.Stop();
  return WritePickleArchive(path, pickle, storages);
}
}  // namespace framework
