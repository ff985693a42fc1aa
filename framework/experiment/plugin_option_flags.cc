#include "framework/experiment/plugin_option_flags.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "framework/train/callback.h"
#include "framework/experiment/flag_error.h"
#include "framework/data/dataset.h"
#include "framework/model/model.h"
#include "framework/optim/lr_scheduler.h"
#include "framework/optim/optimizer.h"
#include "glog/logging.h"

namespace framework {
namespace {

std::string JsonFlag(OptionOwner owner) { return absl::StrCat(OwnerName(owner), "_options"); }

std::string Get(const std::map<std::string, std::string>& flags, const std::string& name) {
  auto it = flags.find(name);
  return it == flags.end() ? "" : it->second;
}

absl::StatusOr<DeclaredOptions> DeclaredOf(OptionOwner owner, const std::string& name) {
  if (owner == OptionOwner::kModel) {
    absl::StatusOr<ModelEntry> entry = ModelRegistry().Find(name);
    if (!entry.ok()) return entry.status();
    if (!entry->declares_options()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "model '", name, "' reads --model_options itself (it declares no options)"));
    }
    return entry->options;
  }
  if (owner == OptionOwner::kDataset) {
    absl::StatusOr<DatasetEntry> entry = DatasetRegistry().Find(name);
    if (!entry.ok()) return entry.status();
    return entry->options;
  }
  if (owner == OptionOwner::kOptimizer) {
    absl::StatusOr<OptimizerEntry> entry = OptimizerRegistry().Find(name);
    if (!entry.ok()) return entry.status();
    return entry->options;
  }
  absl::StatusOr<SchedulerEntry> entry = SchedulerRegistry().Find(name);
  if (!entry.ok()) return entry.status();
  return entry->options;
}

// "--momentum" for the optimizer's "momentum"; empty when no flag sets it.
std::string FlagOf(OptionOwner owner, const std::string& option) {
  for (const OptionFlag& option_flag : OptionFlags()) {
    if (option_flag.owner == owner && option == option_flag.option) {
      return absl::StrCat("--", option_flag.flag);
    }
  }
  return "";
}

std::string What(OptionOwner owner, const std::string& name) {
  return absl::StrCat(OwnerName(owner), " '", name, "'");
}

// Option `spec` of `what` set by `flag` (its text), into `given`, unless a
// JSON key set it too; `sources` says where each given key was set.
absl::Status SetOptionFromFlag(const OptionSpec& spec, const std::string& flag,
                               const std::string& text, const std::string& what,
                               nlohmann::json& given, std::map<std::string, std::string>& sources) {
  if (given.contains(spec.name)) {
    return absl::InvalidArgumentError(absl::StrCat(flag, " and ", sources[spec.name],
                                                   " both set option '", spec.name, "' of ", what,
                                                   ": give one"));
  }
  absl::StatusOr<nlohmann::json> value = ParseOptionText(spec, text);
  if (!value.ok()) return absl::InvalidArgumentError(absl::StrCat(flag, ": ", value.status().message()));
  given[spec.name] = *value;
  sources[spec.name] = flag;
  return absl::OkStatus();
}

}  // namespace

const std::vector<OptionFlag>& OptionFlags() {
  static const auto* flags = new std::vector<OptionFlag>{
      {"lr", OptionOwner::kOptimizer, "lr"},
      {"momentum", OptionOwner::kOptimizer, "momentum"},
      {"dampening", OptionOwner::kOptimizer, "dampening"},
      {"nesterov", OptionOwner::kOptimizer, "nesterov"},
      {"weight_decay", OptionOwner::kOptimizer, "weight_decay"},
      {"beta1", OptionOwner::kOptimizer, "beta1"},
      {"beta2", OptionOwner::kOptimizer, "beta2"},
      {"eps", OptionOwner::kOptimizer, "eps"},
      {"amsgrad", OptionOwner::kOptimizer, "amsgrad"},
      {"alpha", OptionOwner::kOptimizer, "alpha"},
      {"centered", OptionOwner::kOptimizer, "centered"},
      {"step_size", OptionOwner::kScheduler, "step_size"},
      {"gamma", OptionOwner::kScheduler, "gamma"},
      {"milestones", OptionOwner::kScheduler, "milestones"},
      {"t_max", OptionOwner::kScheduler, "t_max"},
      {"eta_min", OptionOwner::kScheduler, "eta_min"},
      {"plateau_factor", OptionOwner::kScheduler, "factor"},
      {"plateau_patience", OptionOwner::kScheduler, "patience"},
      {"plateau_threshold", OptionOwner::kScheduler, "threshold"},
      {"plateau_threshold_mode", OptionOwner::kScheduler, "threshold_mode"},
      {"plateau_cooldown", OptionOwner::kScheduler, "cooldown"},
      {"plateau_min_lr", OptionOwner::kScheduler, "min_lr"},
  };
  return *flags;
}

const char* OwnerName(OptionOwner owner) {
  switch (owner) {
    case OptionOwner::kModel:
      return "model";
    case OptionOwner::kDataset:
      return "dataset";
    case OptionOwner::kOptimizer:
      return "optimizer";
    case OptionOwner::kScheduler:
      return "scheduler";
  }
  return "";
}

bool DeclaresOptions(OptionOwner owner, const std::string& name) {
  return DeclaredOf(owner, name).ok();
}

absl::StatusOr<OptionValues> ResolveSelectedOptions(
    OptionOwner owner, const std::map<std::string, std::string>& flags) {
  const std::string name = Get(flags, OwnerName(owner));
  absl::StatusOr<DeclaredOptions> declared = DeclaredOf(owner, name);
  if (!declared.ok()) {
    return FlagError(OwnerName(owner), declared.status().message());
  }
  const std::string json_flag = JsonFlag(owner);
  const std::string json_text = Get(flags, json_flag);
  absl::StatusOr<nlohmann::json> parsed = ParseJsonObjectFlag(json_flag, json_text);
  if (!parsed.ok()) return parsed.status();
  nlohmann::json given = *std::move(parsed);
  // Where each given key was set, for errors.
  std::map<std::string, std::string> sources;
  for (auto it = given.begin(); it != given.end(); ++it) {
    sources[it.key()] = absl::StrCat(FlagName(json_flag), " key \"", it.key(), "\"");
  }
  for (const OptionFlag& option_flag : OptionFlags()) {
    if (option_flag.owner != owner) continue;
    const std::string text = Get(flags, option_flag.flag);
    if (text.empty()) continue;
    const std::string flag = FlagName(option_flag.flag);
    const OptionSpec* spec = FindOption(*declared, option_flag.option);
    if (spec == nullptr) {
      // Not an error: a flag file declares the options of its own choice
      // (lenet.flags: --step_size), and a command line that selects another
      // plugin (--scheduler=cosine) must not have to unset them.
      LOG(WARNING) << flag << "=" << text << " is ignored: " << What(owner, name)
                   << " has no option '" << option_flag.option << "' (its options: "
                   << (declared->empty() ? "none" : OptionNames(*declared)) << ")";
      continue;
    }
    if (absl::Status status = SetOptionFromFlag(*spec, flag, text, What(owner, name), given, sources);
        !status.ok()) {
      return status;
    }
  }
  return ResolveOptions(*declared, given, What(owner, name), [&](const std::string& key) {
    if (auto it = sources.find(key); it != sources.end()) return it->second;
    // Not given: say how it is.
    const std::string flag = FlagOf(owner, key);
    return flag.empty() ? absl::StrCat("--", json_flag, " key \"", key, "\"") : flag;
  });
}

void RecordOptions(OptionOwner owner, const OptionValues& values,
                   std::map<std::string, std::string>& record) {
  for (auto it = values.json().begin(); it != values.json().end(); ++it) {
    record[absl::StrCat(OwnerName(owner), ".", it.key())] = values.Text(it.key());
  }
}

nlohmann::json RecordedOptions(OptionOwner owner, const std::map<std::string, std::string>& record) {
  nlohmann::json options = nlohmann::json::object();
  const std::string prefix = absl::StrCat(OwnerName(owner), ".");
  absl::StatusOr<DeclaredOptions> declared = DeclaredOf(owner, Get(record, OwnerName(owner)));
  for (const auto& [key, text] : record) {
    if (!absl::StartsWith(key, prefix)) continue;
    const std::string option = key.substr(prefix.size());
    const OptionSpec* spec = declared.ok() ? FindOption(*declared, option) : nullptr;
    absl::StatusOr<nlohmann::json> value =
        spec != nullptr ? ParseOptionText(*spec, text) : absl::StatusOr<nlohmann::json>(text);
    options[option] = value.ok() ? *value : nlohmann::json(text);
  }
  return options;
}

bool IsOptionRecord(const std::string& key) {
  return absl::StartsWith(key, "optimizer.") || absl::StartsWith(key, "scheduler.") ||
         absl::StartsWith(key, "callback.");
}

std::map<std::string, std::string> WithOptionRecords(std::map<std::string, std::string> record) {
  for (const auto& [key, value] : record) {
    if (absl::StartsWith(key, "optimizer.") || absl::StartsWith(key, "scheduler.")) return record;
  }
  for (OptionOwner owner : {OptionOwner::kOptimizer, OptionOwner::kScheduler}) {
    const std::string name = Get(record, OwnerName(owner));
    absl::StatusOr<DeclaredOptions> declared = DeclaredOf(owner, name);
    if (!declared.ok()) continue;  // a resume says which plugin is missing
    // The old flags of an option the plugin declares were what it used.
    std::map<std::string, std::string> upgraded = record;
    for (const OptionFlag& option_flag : OptionFlags()) {
      if (option_flag.owner == owner && FindOption(*declared, option_flag.option) == nullptr) {
        upgraded.erase(option_flag.flag);
      }
    }
    absl::StatusOr<OptionValues> values = ResolveSelectedOptions(owner, upgraded);
    if (!values.ok()) {
      LOG(WARNING) << "The recorded " << OwnerName(owner) << " options do not fit '" << name
                   << "' as it is declared now: " << values.status().message();
      continue;
    }
    RecordOptions(owner, *values, record);
  }
  return record;
}

OptimisationRecord OptimisationRecordOf(const std::map<std::string, std::string>& record) {
  const std::map<std::string, std::string> upgraded = WithOptionRecords(record);
  OptimisationRecord run;
  run.optimizer = Get(upgraded, "optimizer");
  run.optimizer_options = RecordedOptions(OptionOwner::kOptimizer, upgraded);
  run.scheduler = Get(upgraded, "scheduler");
  run.scheduler_options = RecordedOptions(OptionOwner::kScheduler, upgraded);
  // Runs recorded before --weight_decay_params had one group.
  if (absl::StatusOr<DecayedParameters> decayed =
          ParseDecayedParameters(Get(upgraded, "weight_decay_params"));
      decayed.ok()) {
    run.decayed_parameters = *decayed;
  }
  int64_t number = 0;
  if (absl::SimpleAtoi(Get(upgraded, "warmup_epochs"), &number)) run.warmup_epochs = number;
  if (absl::SimpleAtoi(Get(upgraded, "epochs"), &number)) run.epochs = number;
  return run;
}

absl::Status CheckModelOptionsFlag(const std::string& model, const nlohmann::json& config,
                                   const std::string& json_flag) {
  if (!DeclaresOptions(OptionOwner::kModel, model)) return absl::OkStatus();
  return ResolveModelOptions(model, config,
                             [&json_flag](const std::string& key) {
                               return absl::StrCat(FlagName(json_flag), " key \"", key, "\"");
                             })
      .status();
}

const std::vector<CallbackOptionFlag>& CallbackOptionFlags() {
  static const auto* flags = new std::vector<CallbackOptionFlag>{
      {"ema_decay", "ema", "decay"},
      {"ema_warmup", "ema", "warmup"},
      {"early_stop_patience", "early_stopping", "patience"},
      {"early_stop_min_delta", "early_stopping", "min_delta"},
  };
  return *flags;
}

absl::StatusOr<std::vector<SelectedCallback>> ResolveCallbacks(
    const std::map<std::string, std::string>& flags) {
  std::vector<std::string> names;
  for (absl::string_view name : absl::StrSplit(Get(flags, "callbacks"), ',', absl::SkipEmpty())) {
    const std::string callback(absl::StripAsciiWhitespace(name));
    if (!CallbackRegistry().Contains(callback)) {
      return FlagError("callbacks", CallbackRegistry().Find(callback).status().message());
    }
    if (std::find(names.begin(), names.end(), callback) != names.end()) {
      return FlagError("callbacks", absl::StrCat("names '", callback, "' twice"));
    }
    names.push_back(callback);
  }
  for (const CallbackOptionFlag& option_flag : CallbackOptionFlags()) {
    if (!Get(flags, option_flag.flag).empty() &&
        std::find(names.begin(), names.end(), option_flag.callback) == names.end()) {
      names.push_back(option_flag.callback);
    }
  }
  absl::StatusOr<nlohmann::json> parsed =
      ParseJsonObjectFlag("callback_options", Get(flags, "callback_options"));
  if (!parsed.ok()) return parsed.status();
  for (auto it = parsed->begin(); it != parsed->end(); ++it) {
    if (std::find(names.begin(), names.end(), it.key()) == names.end()) {
      return FlagError("callback_options",
                       absl::StrCat("has options for callback '", it.key(),
                                    "', which is not selected (--callbacks=",
                                    Get(flags, "callbacks"), ")"));
    }
    if (!it->is_object()) {
      return FlagError("callback_options", absl::StrCat("key \"", it.key(), "\" must be a JSON "
                                                        "object of the callback's options, got ",
                                                        it->dump()));
    }
  }
  std::vector<SelectedCallback> selected;
  for (const std::string& name : names) {
    nlohmann::json given = parsed->value(name, nlohmann::json::object());
    std::map<std::string, std::string> sources;
    for (auto it = given.begin(); it != given.end(); ++it) {
      sources[it.key()] = absl::StrCat(FlagName("callback_options"), " key \"", name, "\".\"",
                                       it.key(), "\"");
    }
    const DeclaredOptions declared = CallbackRegistry().Find(name)->options;
    for (const CallbackOptionFlag& option_flag : CallbackOptionFlags()) {
      const std::string text = Get(flags, option_flag.flag);
      if (option_flag.callback != name || text.empty()) continue;
      const OptionSpec* spec = FindOption(declared, option_flag.option);
      CHECK(spec != nullptr) << option_flag.flag;
      if (absl::Status status =
              SetOptionFromFlag(*spec, FlagName(option_flag.flag), text,
                                absl::StrCat("callback '", name, "'"), given, sources);
          !status.ok()) {
        return status;
      }
    }
    absl::StatusOr<OptionValues> values =
        ResolveCallbackOptions(name, given, [&](const std::string& key) {
          if (auto it = sources.find(key); it != sources.end()) return it->second;
          return absl::StrCat("--callback_options key \"", name, "\".\"", key, "\"");
        });
    if (!values.ok()) return values.status();
    selected.push_back({name, *std::move(values)});
  }
  return selected;
}

void RecordCallbacks(const std::vector<SelectedCallback>& callbacks,
                     std::map<std::string, std::string>& record) {
  std::vector<std::string> names;
  for (const SelectedCallback& callback : callbacks) {
    names.push_back(callback.name);
    for (auto it = callback.options.json().begin(); it != callback.options.json().end(); ++it) {
      record[absl::StrCat("callback.", callback.name, ".", it.key())] =
          callback.options.Text(it.key());
    }
  }
  record["callbacks"] = absl::StrJoin(names, ",");
}

std::string SelectedCallbacksHelp(const std::map<std::string, std::string>& flags) {
  absl::StatusOr<std::vector<SelectedCallback>> callbacks = ResolveCallbacks(flags);
  if (!callbacks.ok()) {
    return absl::StrCat("\nThe callbacks cannot be read: ", callbacks.status().message(), "\n");
  }
  std::string text;
  for (const SelectedCallback& callback : *callbacks) {
    absl::StrAppend(&text, "\ncallback '", callback.name,
                    "', its options (set in --callback_options as {\"", callback.name,
                    "\":{\"option\": value}}, or by the flag shown):\n");
    const DeclaredOptions declared = CallbackRegistry().Find(callback.name)->options;
    if (declared.empty()) {
      absl::StrAppend(&text, "  (none)\n");
      continue;
    }
    absl::StrAppend(&text, DescribeOptions(declared, callback.options, [&](const std::string& option) {
                      for (const CallbackOptionFlag& option_flag : CallbackOptionFlags()) {
                        if (option_flag.callback == callback.name && option == option_flag.option) {
                          return absl::StrCat("--", option_flag.flag);
                        }
                      }
                      return std::string();
                    }));
  }
  return text;
}

std::string SelectedOptionsHelp(OptionOwner owner,
                                const std::map<std::string, std::string>& flags) {
  const std::string name = Get(flags, OwnerName(owner));
  std::string text = absl::StrCat("\n", What(owner, name), ", its options (set in --",
                                  JsonFlag(owner), " as {\"option\": value}, or by the flag "
                                  "shown):\n");
  absl::StatusOr<DeclaredOptions> declared = DeclaredOf(owner, name);
  if (absl::IsFailedPrecondition(declared.status())) {
    return absl::StrCat(text, "  (", declared.status().message(), ")\n");
  }
  absl::StatusOr<OptionValues> values = ResolveSelectedOptions(owner, flags);
  if (!values.ok()) return absl::StrCat(text, "  cannot be read: ", values.status().message(), "\n");
  if (declared->empty()) return absl::StrCat(text, "  (none)\n");
  return absl::StrCat(text, DescribeOptions(*declared, *values, [owner](const std::string& option) {
                        return FlagOf(owner, option);
                      }));
}

}  // namespace framework
