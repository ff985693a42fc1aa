#include "framework/checkpoint/pytorch_training_checkpoint.h"

#include <cstdio>
#include <set>

#include <torch/types.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "framework/model/state_dict.h"
#include "framework/optim/optimizer.h"
#include "framework/optim/optimizer_state.h"
#include "glog/logging.h"

namespace framework {
namespace {

// Each optimizer's hyper-parameters: our flag, PyTorch's param_groups key.
// The keys also tell the optimizer that wrote a file.
const std::map<std::string, std::vector<std::pair<std::string, std::string>>>& GroupKeys() {
  static const auto* keys = new std::map<std::string, std::vector<std::pair<std::string, std::string>>>{
      {"sgd", {{"lr", "lr"}, {"momentum", "momentum"}, {"dampening", "dampening"},
               {"weight_decay", "weight_decay"}, {"nesterov", "nesterov"}}},
      {"adam", {{"lr", "lr"}, {"beta1", "betas.0"}, {"beta2", "betas.1"}, {"eps", "eps"},
                {"weight_decay", "weight_decay"}, {"amsgrad", "amsgrad"}}},
      {"adamw", {{"lr", "lr"}, {"beta1", "betas.0"}, {"beta2", "betas.1"}, {"eps", "eps"},
                 {"weight_decay", "weight_decay"}, {"amsgrad", "amsgrad"}}},
      {"rmsprop", {{"lr", "lr"}, {"alpha", "alpha"}, {"eps", "eps"},
                   {"weight_decay", "weight_decay"}, {"momentum", "momentum"},
                   {"centered", "centered"}}},
  };
  return *keys;
}

double FlagNumber(const std::map<std::string, std::string>& flags, const std::string& name) {
  auto it = flags.find(name);
  if (it == flags.end()) return 0;
  if (it->second == "true") return 1;
  if (it->second == "false") return 0;
  double value = 0;
  return absl::SimpleAtod(it->second, &value) ? value : 0;
}

std::string Get(const std::map<std::string, std::string>& flags, const std::string& name) {
  auto it = flags.find(name);
  return it == flags.end() ? "" : it->second;
}

absl::Status Refuse(const std::string& source, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat("cannot resume from ", source, ": ", what));
}

}  // namespace

absl::StatusOr<std::vector<std::string>> RestoreFromPyTorch(
    const PyTorchTrainingCheckpoint& checkpoint, const std::string& source,
    const std::map<std::string, std::string>& flags, TrainingLoop& loop) {
  const std::string optimizer_name = Get(flags, "optimizer");
  auto keys = GroupKeys().find(optimizer_name);
  if (keys == GroupKeys().end()) {
    return Refuse(source, absl::StrCat("PyTorch's optimizer layout is known for sgd, adam, adamw "
                                       "and rmsprop, not --optimizer=", optimizer_name));
  }
  if (!checkpoint.epoch.has_value() || *checkpoint.epoch < 0) {
    return Refuse(source, "'epoch' is missing or negative");
  }
  if (!checkpoint.optimizer.has_value()) {
    return Refuse(source, "no 'optimizer_state_dict' (nor the recipe's 'optimizer_state_dic'): "
                          "without it the optimizer's state would restart; use --init_from for "
                          "the weights alone");
  }
  const PyTorchOptimizerState& optimizer_state = *checkpoint.optimizer;
  const std::string key = checkpoint.optimizer_key;
  torch::optim::Optimizer& optimizer = loop.optimizer();
  const std::vector<at::Tensor> parameters = loop.model().parameters();
  if (optimizer_state.param_groups.size() != 1 || optimizer.param_groups().size() != 1) {
    return Refuse(source, absl::StrCat("'", key, ".param_groups' has ",
                                       optimizer_state.param_groups.size(),
                                       " groups; only one parameter group is supported"));
  }
  const PyTorchOptimizerState::Group& group = optimizer_state.param_groups[0];
  if (group.params.size() != parameters.size()) {
    return Refuse(source, absl::StrCat("'", key, ".param_groups[0].params' lists ",
                                       group.params.size(), " parameters, the model has ",
                                       parameters.size()));
  }
  for (size_t i = 0; i < group.params.size(); ++i) {
    if (group.params[i] != static_cast<int64_t>(i)) {
      return Refuse(source, absl::StrCat("'", key, ".param_groups[0].params' is not 0..",
                                         parameters.size() - 1, " in order (unknown layout)"));
    }
  }
  std::vector<std::string> missing;
  for (const auto& [flag, group_key] : keys->second) {
    if (group.options.count(group_key) == 0) missing.push_back(group_key);
  }
  if (!missing.empty()) {
    return Refuse(source, absl::StrCat("'", key, ".param_groups[0]' lacks ",
                                       absl::StrJoin(missing, ", "),
                                       ": it was written by another optimizer than --optimizer=",
                                       optimizer_name));
  }
  absl::StatusOr<OptimizerStateCodec> codec = FindStateCodec(optimizer);
  if (!codec.ok()) return codec.status();
  std::set<std::string> known_fields = {"step"};
  {
    auto probe = codec->new_state();
    for (const StateTensorField& field : codec->fields(*probe).tensors) known_fields.insert(field.name);
  }
  std::map<std::string, at::Tensor> tensors;
  std::vector<std::string> with_state;
  for (const auto& [index, fields] : optimizer_state.state) {
    if (index < 0 || index >= static_cast<int64_t>(parameters.size())) {
      return Refuse(source, absl::StrCat("'", key, ".state' has parameter ", index,
                                         "; the model has ", parameters.size()));
    }
    with_state.push_back(absl::StrCat("0.", index));
    for (const auto& [field, tensor] : fields) {
      if (known_fields.count(field) == 0) {
        return Refuse(source, absl::StrCat("'", key, ".state[", index, "].", field,
                                           "' is not a field of --optimizer=", optimizer_name,
                                           " (", absl::StrJoin(known_fields, ", "), ")"));
      }
      // PyTorch 1.13 keeps Adam's step as a float tensor; ours is an int64.
      tensors[absl::StrCat("optimizer.0.", index, ".", field)] =
          field == "step" ? torch::tensor(static_cast<int64_t>(tensor.item<double>())) : tensor;
    }
  }
  if (absl::Status status = LoadStateDict(loop.model(), checkpoint.model, /*strict=*/true, source);
      !status.ok()) {
    return status;
  }
  if (absl::Status status = RestoreOptimizerState(optimizer, tensors, with_state,
                                                  absl::StrCat(source, " (", key, ")"));
      !status.ok()) {
    return status;
  }
  std::vector<std::string> differences;
  for (const auto& [flag, group_key] : keys->second) {
    const double in_file = group.options.at(group_key);
    const double in_flags = FlagNumber(flags, flag);
    if (flag == "lr") continue;  // the schedule sets it
    if (in_file != in_flags) {
      differences.push_back(absl::StrCat(key, ".param_groups[0].", group_key, ": file ", in_file,
                                         ", --", flag, " ", in_flags));
    }
  }

  // Where a run that never stopped is after `epoch` epochs.
  const int64_t epochs_done = *checkpoint.epoch;
  LrScheduler* scheduler = loop.scheduler();
  if (scheduler != nullptr) {
    if (Get(flags, "scheduler") == "plateau" && epochs_done > 0) {
      return Refuse(source, "--scheduler=plateau needs each epoch's validation metric, which the "
                            "PyTorch checkpoint does not hold");
    }
    for (int64_t e = 0; e < epochs_done; ++e) scheduler->Step(0.0);
  }
  const double file_lr = group.options.at("lr");
  const double lr = GetLearningRates(optimizer).at(0);
  if (file_lr != lr) {
    differences.push_back(absl::StrCat(key, ".param_groups[0].lr: file ", file_lr,
                                       ", the schedule's after ", epochs_done, " epoch(s) ", lr));
  }
  LoopPosition position;
  position.epoch = epochs_done;
  position.global_step = epochs_done * loop.batches_per_epoch();
  position.metric_sums.assign(loop.metrics().size(), 0.0);
  std::vector<EpochRecord> history;
  for (int64_t e = 1; e <= epochs_done; ++e) {
    EpochRecord record;
    record.epoch = e;
    record.step = e * loop.batches_per_epoch();
    if (e == epochs_done && checkpoint.loss.has_value()) record.values["train_loss"] = *checkpoint.loss;
    history.push_back(record);
  }
  if (absl::Status status = loop.Restore(position, std::move(history)); !status.ok()) return status;
  return differences;
}

absl::StatusOr<PyTorchTrainingCheckpoint> ToPyTorchTrainingCheckpoint(const TrainingState& state,
                                                                      const std::string& source) {
  const std::map<std::string, std::string>& flags = state.flags;
  const std::string optimizer_name = Get(flags, "optimizer");
  auto keys = GroupKeys().find(optimizer_name);
  if (keys == GroupKeys().end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": PyTorch's optimizer layout is known for sgd, adam, adamw and rmsprop, not '",
        optimizer_name, "'"));
  }
  if (state.position.batch != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        source, " was saved in the middle of epoch ", state.position.epoch + 1, " (batch ",
        state.position.batch, "); PyTorch's recipe resumes at epoch boundaries: export a "
        "checkpoint saved at an epoch's end"));
  }
  PyTorchTrainingCheckpoint out;
  out.model = state.model;
  out.epoch = state.position.epoch;
  if (!state.history.empty()) {
    auto loss = state.history.back().values.find("train_loss");
    if (loss != state.history.back().values.end()) out.loss = loss->second;
  }
  // The learning rate the next epoch uses: the scheduler's current one.
  double lr = FlagNumber(flags, "lr");
  nlohmann::json chainable;  // the state of a schedule PyTorch has too
  if (state.scheduler.is_object() && state.scheduler.contains("lrs")) {
    lr = state.scheduler["lrs"].at(0).get<double>();
    chainable = state.scheduler;
  } else if (state.scheduler.is_object() && state.scheduler.contains("schedulers")) {
    lr = state.scheduler["schedulers"].back()["lrs"].at(0).get<double>();
  }
  PyTorchOptimizerState optimizer;
  PyTorchOptimizerState::Group group;
  for (const auto& [flag, group_key] : keys->second) group.options[group_key] = FlagNumber(flags, flag);
  group.options["lr"] = lr;
  std::set<int64_t> indices;
  for (const NamedTensor& named : state.optimizer) {
    int group_index = 0, index = 0;
    char field[64] = {};
    if (std::sscanf(named.name.c_str(), "optimizer.%d.%d.%63s", &group_index, &index, field) != 3 ||
        group_index != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": optimizer entry '", named.name, "' is not of one parameter group"));
    }
    at::Tensor tensor = named.tensor;
    // PyTorch 1.13's Adam and AdamW keep the step as a float tensor.
    if (std::string(field) == "step" && (optimizer_name == "adam" || optimizer_name == "adamw")) {
      tensor = tensor.to(torch::kFloat);
    }
    optimizer.state[index][field] = tensor;
  }
  // Every parameter, in order: PyTorch's params list covers those without
  // state too, so the model (rebuilt through the registry) is counted.
  absl::StatusOr<std::shared_ptr<Model>> model = BuildModel(state.model_spec);
  if (!model.ok()) return model.status();
  const int64_t parameter_count = static_cast<int64_t>((*model)->parameters().size());
  for (int64_t i = 0; i < parameter_count; ++i) group.params.push_back(i);
  optimizer.param_groups.push_back(group);
  out.optimizer = optimizer;

  const std::string scheduler = Get(flags, "scheduler");
  if (!chainable.is_null() && FlagNumber(flags, "warmup_epochs") == 0 &&
      (scheduler == "step" || scheduler == "exponential" || scheduler == "cosine")) {
    nlohmann::json dict = {{"base_lrs", chainable["base_lrs"]},
                           {"last_epoch", chainable["last_epoch"]},
                           {"_step_count", chainable["step_count"]},
                           {"verbose", false},
                           {"_get_lr_called_within_step", false},
                           {"_last_lr", chainable["lrs"]}};
    if (scheduler == "step") {
      dict["step_size"] = static_cast<int64_t>(FlagNumber(flags, "step_size"));
      dict["gamma"] = FlagNumber(flags, "gamma");
    } else if (scheduler == "exponential") {
      dict["gamma"] = FlagNumber(flags, "gamma");
    } else {
      const int64_t t_max = static_cast<int64_t>(FlagNumber(flags, "t_max"));
      dict["T_max"] = t_max > 0 ? t_max : static_cast<int64_t>(FlagNumber(flags, "epochs"));
      dict["eta_min"] = FlagNumber(flags, "eta_min");
    }
    out.scheduler = dict;
  }
  return out;
}

}  // namespace framework
