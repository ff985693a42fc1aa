#include "framework/checkpoint/pytorch_training_checkpoint.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

#include <torch/types.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "framework/model/state_dict.h"
#include "framework/core/declared_options.h"
#include "framework/optim/lr_scheduler.h"
#include "framework/optim/optimizer.h"
#include "framework/optim/optimizer_state.h"
#include "glog/logging.h"

namespace framework {
namespace {

// The optimizer's declared options that PyTorch's param_groups hold.
absl::StatusOr<std::vector<OptionSpec>> PyTorchGroupOptions(const std::string& optimizer) {
  absl::StatusOr<OptimizerEntry> entry = OptimizerRegistry().Find(optimizer);
  if (!entry.ok()) return entry.status();
  std::vector<OptionSpec> keyed;
  for (const OptionSpec& spec : entry->options) {
    if (!spec.pytorch_key.empty()) keyed.push_back(spec);
  }
  if (keyed.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "optimizer '", optimizer, "' declares no PyTorch param_groups key for its options"));
  }
  return keyed;
}

// A value of the run's options as PyTorch's param_groups hold numbers.
double GroupNumber(const nlohmann::json& options, const std::string& name) {
  auto it = options.find(name);
  if (it == options.end()) return 0;
  if (it->is_boolean()) return it->get<bool>() ? 1 : 0;
  return it->is_number() ? it->get<double>() : 0;
}

// The schedule's options under PyTorch's names, when every one of them has
// one (a schedule with none, such as "none", is not PyTorch's).
absl::StatusOr<nlohmann::json> PyTorchScheduleOptions(const OptimisationRecord& run) {
  absl::StatusOr<SchedulerEntry> entry = SchedulerRegistry().Find(run.scheduler);
  if (!entry.ok()) return entry.status();
  if (entry->options.empty()) return absl::NotFoundError("no PyTorch counterpart");
  nlohmann::json options = nlohmann::json::object();
  for (const OptionSpec& spec : entry->options) {
    if (spec.pytorch_key.empty()) return absl::NotFoundError("no PyTorch counterpart");
    auto value = run.scheduler_options.find(spec.name);
    if (value == run.scheduler_options.end()) return absl::NotFoundError("option not recorded");
    options[spec.pytorch_key] = *value;
  }
  // PyTorch has no "the run's length" for a cosine period.
  if (options.contains("T_max") && options["T_max"] == 0) {
    options["T_max"] = std::max<int64_t>(1, run.epochs - run.warmup_epochs);
  }
  return options;
}

absl::Status Refuse(const std::string& source, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat("cannot resume from ", source, ": ", what));
}

}  // namespace

absl::StatusOr<PyTorchEpoch> ParsePyTorchEpoch(absl::string_view text) {
  if (text == "index") return PyTorchEpoch::kIndex;
  if (text == "count") return PyTorchEpoch::kCount;
  return absl::InvalidArgumentError(absl::StrCat(
      "must be index (the recipe's 'epoch': the 0-based index of the last finished "
      "epoch) or count (the number of epochs finished), got '", text, "'"));
}

const char* PyTorchEpochName(PyTorchEpoch convention) {
  return convention == PyTorchEpoch::kIndex ? "index" : "count";
}

absl::StatusOr<int64_t> EpochsFinished(int64_t epoch, PyTorchEpoch convention) {
  const int64_t finished = convention == PyTorchEpoch::kIndex ? epoch + 1 : epoch;
  if (finished < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'epoch' is ", epoch, ", which under --pytorch_epoch=", PyTorchEpochName(convention),
        convention == PyTorchEpoch::kIndex ? " (the 0-based index of the last finished epoch; "
                                             "-1: none finished) must be >= -1"
                                           : " (the number of epochs finished) must be >= 0"));
  }
  return finished;
}

int64_t PyTorchEpochValue(int64_t epochs_finished, PyTorchEpoch convention) {
  return convention == PyTorchEpoch::kIndex ? epochs_finished - 1 : epochs_finished;
}

std::string Ordinal(int64_t n) {
  const int64_t last_two = n % 100;
  const int64_t last = n % 10;
  const char* suffix = "th";
  if (last_two < 11 || last_two > 13) {
    if (last == 1) suffix = "st";
    if (last == 2) suffix = "nd";
    if (last == 3) suffix = "rd";
  }
  return absl::StrCat(n, suffix);
}

std::string DescribePyTorchEpoch(int64_t epoch, PyTorchEpoch convention) {
  absl::StatusOr<int64_t> finished = EpochsFinished(epoch, convention);
  const int64_t count = finished.ok() ? *finished : 0;
  return absl::StrCat(convention == PyTorchEpoch::kIndex ? "the recipe's epoch " : "epoch ",
                      epoch, " = ", count, count == 1 ? " epoch" : " epochs",
                      " finished (--pytorch_epoch=", PyTorchEpochName(convention), ")");
}

absl::StatusOr<PyTorchRestore> RestoreFromPyTorch(const PyTorchTrainingCheckpoint& checkpoint,
                                                  const std::string& source,
                                                  const OptimisationRecord& run,
                                                  PyTorchEpoch convention, TrainingLoop& loop) {
  const std::string& optimizer_name = run.optimizer;
  absl::StatusOr<std::vector<OptionSpec>> keys = PyTorchGroupOptions(optimizer_name);
  if (!keys.ok()) return Refuse(source, std::string(keys.status().message()));
  if (!checkpoint.epoch.has_value()) return Refuse(source, "there is no 'epoch'");
  absl::StatusOr<int64_t> finished = EpochsFinished(*checkpoint.epoch, convention);
  if (!finished.ok()) return Refuse(source, std::string(finished.status().message()));
  if (!checkpoint.optimizer.has_value()) {
    return Refuse(source, "no 'optimizer_state_dict' (nor the recipe's 'optimizer_state_dic'): "
                          "without it the optimizer's state would restart; use --init_from for "
                          "the weights alone");
  }
  const PyTorchOptimizerState& optimizer_state = *checkpoint.optimizer;
  const std::string key = checkpoint.optimizer_key;
  torch::optim::Optimizer& optimizer = loop.optimizer();
  const std::vector<at::Tensor> parameters = loop.model().parameters();
  const auto& live_groups = optimizer.param_groups();
  if (optimizer_state.param_groups.size() != live_groups.size()) {
    return Refuse(source, absl::StrCat("'", key, ".param_groups' has ",
                                       optimizer_state.param_groups.size(),
                                       " group(s); this run's optimizer has ", live_groups.size(),
                                       " (--weight_decay_params=",
                                       DecayedParametersName(run.decayed_parameters), ")"));
  }
  // PyTorch numbers the parameters group after group: group g's are the
  // next ids after group g - 1's.
  std::map<int64_t, std::pair<size_t, size_t>> group_and_index;
  int64_t next_id = 0;
  for (size_t g = 0; g < live_groups.size(); ++g) {
    const PyTorchOptimizerState::Group& group = optimizer_state.param_groups[g];
    const std::string where = absl::StrCat("'", key, ".param_groups[", g, "].params'");
    if (group.params.size() != live_groups[g].params().size()) {
      return Refuse(source, absl::StrCat(where, " lists ", group.params.size(),
                                         " parameters, this run's group has ",
                                         live_groups[g].params().size(), " (the model has ",
                                         parameters.size(), ")"));
    }
    for (size_t i = 0; i < group.params.size(); ++i) {
      if (group.params[i] != next_id) {
        return Refuse(source, absl::StrCat(where, " is not ", next_id - static_cast<int64_t>(i),
                                           "..", next_id - static_cast<int64_t>(i) +
                                                     static_cast<int64_t>(group.params.size()) - 1,
                                           " in order (unknown layout)"));
      }
      group_and_index[next_id++] = {g, i};
    }
    std::vector<std::string> missing;
    for (const OptionSpec& spec : *keys) {
      if (group.options.count(spec.pytorch_key) == 0) missing.push_back(spec.pytorch_key);
    }
    if (!missing.empty()) {
      return Refuse(source, absl::StrCat("'", key, ".param_groups[", g, "]' lacks ",
                                         absl::StrJoin(missing, ", "),
                                         ": it was written by another optimizer than '",
                                         optimizer_name, "'"));
    }
  }
  const PyTorchOptimizerState::Group& group = optimizer_state.param_groups[0];
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
    auto place = group_and_index.find(index);
    if (place == group_and_index.end()) {
      return Refuse(source, absl::StrCat("'", key, ".state' has parameter ", index,
                                         "; the model has ", parameters.size()));
    }
    const std::string id = absl::StrCat(place->second.first, ".", place->second.second);
    with_state.push_back(id);
    for (const auto& [field, tensor] : fields) {
      if (known_fields.count(field) == 0) {
        return Refuse(source, absl::StrCat("'", key, ".state[", index, "].", field,
                                           "' is not a field of optimizer ", optimizer_name,
                                           " (", absl::StrJoin(known_fields, ", "), ")"));
      }
      // PyTorch 1.13 keeps Adam's step as a float tensor; ours is an int64.
      tensors[absl::StrCat("optimizer.", id, ".", field)] =
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
  PyTorchRestore restored;
  restored.epochs_finished = *finished;
  std::vector<std::string>& differences = restored.differences;
  for (size_t g = 0; g < optimizer_state.param_groups.size(); ++g) {
    for (const OptionSpec& spec : *keys) {
      if (spec.pytorch_key == "lr") continue;  // the schedule sets it
      const double in_file = optimizer_state.param_groups[g].options.at(spec.pytorch_key);
      // Group 1 is the one without weight decay.
      const double in_run = g == 1 && spec.pytorch_key == "weight_decay"
                                ? 0.0
                                : GroupNumber(run.optimizer_options, spec.name);
      if (in_file != in_run) {
        differences.push_back(absl::StrCat(key, ".param_groups[", g, "].", spec.pytorch_key,
                                           ": file ", in_file, ", optimizer option ", spec.name,
                                           " ", in_run));
      }
    }
  }

  // Where a run that never stopped is after that many epochs.
  const int64_t epochs_done = *finished;
  LrScheduler* scheduler = loop.scheduler();
  if (scheduler != nullptr) {
    absl::StatusOr<SchedulerEntry> schedule = SchedulerRegistry().Find(run.scheduler);
    if (schedule.ok() && schedule->standalone && epochs_done > 0) {
      return Refuse(source, absl::StrCat("scheduler '", run.scheduler,
                                         "' steps on each epoch's validation metric, which the "
                                         "PyTorch checkpoint does not hold"));
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
  return restored;
}

absl::StatusOr<PyTorchTrainingCheckpoint> ToPyTorchTrainingCheckpoint(
    const TrainingState& state, const OptimisationRecord& run, const std::string& source,
    PyTorchEpoch convention) {
  const std::string& optimizer_name = run.optimizer;
  absl::StatusOr<std::vector<OptionSpec>> keys = PyTorchGroupOptions(optimizer_name);
  if (!keys.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", keys.status().message()));
  }
  if (state.position.batch != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        source, " was saved in the middle of epoch ", state.position.epoch + 1, " (batch ",
        state.position.batch, "); PyTorch's recipe resumes at epoch boundaries: export a "
        "checkpoint saved at an epoch's end"));
  }
  PyTorchTrainingCheckpoint out;
  out.model = state.model;
  out.epoch = PyTorchEpochValue(state.position.epoch, convention);
  if (!state.history.empty()) {
    auto loss = state.history.back().values.find("train_loss");
    if (loss != state.history.back().values.end()) out.loss = loss->second;
  }
  // The learning rates the next epoch uses, group by group: the scheduler's
  // current ones (the run's lr without a schedule).
  std::vector<double> group_lrs;
  nlohmann::json chainable;  // the state of a schedule PyTorch has too
  if (state.scheduler.is_object() && state.scheduler.contains("lrs")) {
    group_lrs = state.scheduler["lrs"].get<std::vector<double>>();
    chainable = state.scheduler;
  } else if (state.scheduler.is_object() && state.scheduler.contains("schedulers")) {
    group_lrs = state.scheduler["schedulers"].back()["lrs"].get<std::vector<double>>();
  }
  const double lr = group_lrs.empty() ? GroupNumber(run.optimizer_options, "lr") : group_lrs[0];
  // Every parameter, in order: PyTorch's params lists cover those without
  // state too, so the model (rebuilt through the registry) is counted and
  // grouped as the run grouped it.
  absl::StatusOr<std::shared_ptr<Model>> model = BuildModel(state.model_spec);
  if (!model.ok()) return model.status();
  const std::vector<std::vector<int64_t>> groups =
      DecayGroups((*model)->parameters(), run.decayed_parameters);
  PyTorchOptimizerState optimizer;
  std::vector<int64_t> first_id;
  int64_t next_id = 0;
  for (size_t g = 0; g < groups.size(); ++g) {
    PyTorchOptimizerState::Group group;
    for (const OptionSpec& spec : *keys) {
      group.options[spec.pytorch_key] = GroupNumber(run.optimizer_options, spec.name);
    }
    if (g == 1) group.options["weight_decay"] = 0.0;
    group.options["lr"] = g < group_lrs.size() ? group_lrs[g] : lr;
    first_id.push_back(next_id);
    for (size_t i = 0; i < groups[g].size(); ++i) group.params.push_back(next_id++);
    optimizer.param_groups.push_back(group);
  }
  for (const NamedTensor& named : state.optimizer) {
    int group_index = 0, index = 0;
    char field[64] = {};
    if (std::sscanf(named.name.c_str(), "optimizer.%d.%d.%63s", &group_index, &index, field) != 3 ||
        group_index < 0 || group_index >= static_cast<int>(groups.size()) || index < 0 ||
        index >= static_cast<int>(groups[group_index].size())) {
      return absl::InvalidArgumentError(absl::StrCat(
          source, ": optimizer entry '", named.name, "' is not of the run's ", groups.size(),
          " parameter group(s) (--weight_decay_params=",
          DecayedParametersName(run.decayed_parameters), ")"));
    }
    at::Tensor tensor = named.tensor;
    // PyTorch 1.13's Adam and AdamW keep the step as a float tensor.
    if (std::string(field) == "step" && (optimizer_name == "adam" || optimizer_name == "adamw")) {
      tensor = tensor.to(torch::kFloat);
    }
    optimizer.state[first_id[group_index] + index][field] = tensor;
  }
  out.optimizer = optimizer;

  if (!chainable.is_null() && run.warmup_epochs == 0) {
    if (absl::StatusOr<nlohmann::json> options = PyTorchScheduleOptions(run); options.ok()) {
      nlohmann::json dict = {{"base_lrs", chainable["base_lrs"]},
                             {"last_epoch", chainable["last_epoch"]},
                             {"_step_count", chainable["step_count"]},
                             {"verbose", false},
                             {"_get_lr_called_within_step", false},
                             {"_last_lr", chainable["lrs"]}};
      dict.update(*options);
      out.scheduler = dict;
      // PyTorch's schedulers leave it in every group, and one built with
      // last_epoch = start_epoch (a common form of the recipe) requires it.
      for (size_t g = 0; g < out.optimizer->param_groups.size(); ++g) {
        const nlohmann::json& base = chainable["base_lrs"];
        out.optimizer->param_groups[g].options["initial_lr"] =
            base.at(std::min(g, base.size() - 1)).get<double>();
      }
    }
  }
  return out;
}

}  // namespace framework
