// Where the options of the selected model, data set, optimizer and schedule
// come from: the JSON flag of their kind (--model_options, --dataset_options,
// --optimizer_options, --scheduler_options) and, for the last two, the
// flags named after an option (--lr, --momentum, --step_size, ... and the old
// spellings --beta1, --plateau_factor, ...), which set it in the selected
// plugin if, and only if, that plugin declares it. The plugin declares each
// option once (core/declared_options.h); this is the only place that knows
// which flag sets which option, so every error names the flag or JSON key the
// user wrote.
//
// The resolved values are recorded with the run's flags under
// "optimizer.<option>" and "scheduler.<option>" (run-defining: a resume
// compares them); checkpoints written before options were declared are read
// as if they had been (WithOptionRecords), so they still resume and export.
#ifndef FRAMEWORK_EXPERIMENT_PLUGIN_OPTION_FLAGS_H_
#define FRAMEWORK_EXPERIMENT_PLUGIN_OPTION_FLAGS_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "framework/checkpoint/pytorch_training_checkpoint.h"
#include "framework/core/declared_options.h"

namespace framework {

enum class OptionOwner { kModel, kDataset, kOptimizer, kScheduler };

// A flag that sets an option of the selected plugin of `owner`'s kind.
struct OptionFlag {
  const char* flag;    // "plateau_factor"
  OptionOwner owner;
  const char* option;  // "factor"
};
const std::vector<OptionFlag>& OptionFlags();

// "model", "dataset", "optimizer" or "scheduler": the flag that selects the
// plugin, and the record keys' prefix.
const char* OwnerName(OptionOwner owner);

// False for an unknown plugin, and for a model that reads its own
// configuration.
bool DeclaresOptions(OptionOwner owner, const std::string& name);

// The selected plugin's options (`flags` are the effective experiment flags,
// which name it and hold the JSON and option flags), checked against its
// declaration.
absl::StatusOr<OptionValues> ResolveSelectedOptions(OptionOwner owner,
                                                    const std::map<std::string, std::string>& flags);

// Adds "optimizer.<option>" (or "scheduler.") = value for every option.
void RecordOptions(OptionOwner owner, const OptionValues& values,
                   std::map<std::string, std::string>& record);

// The options of `owner`'s kind a record holds, as a JSON object (what a
// PyTorch export writes).
nlohmann::json RecordedOptions(OptionOwner owner, const std::map<std::string, std::string>& record);

// True for the record keys above: they are compared on resume.
bool IsOptionRecord(const std::string& key);

// `record` as this version writes it: a record from before options were
// declared gets "optimizer.*" and "scheduler.*" entries from the flags it
// holds (the old flags had the options' names) and its JSON options.
std::map<std::string, std::string> WithOptionRecords(std::map<std::string, std::string> record);

// What a record says of the optimizer and schedule (upgraded first).
OptimisationRecord OptimisationRecordOf(const std::map<std::string, std::string>& record);

// For a tool that takes --model and a JSON flag of its options (`json_flag`:
// "model_options", or ckpt's old "model_config"): `config` checked against
// the model's declaration, errors naming the flag's keys. OK for a model that
// reads its own configuration (its build reports its errors).
absl::Status CheckModelOptionsFlag(const std::string& model, const nlohmann::json& config,
                                   const std::string& json_flag);

// The callbacks a run loads (train/callback.h), in order: those --callbacks
// names, then "ema" if --ema_decay or --ema_warmup is given and
// "early_stopping" if --early_stop_patience or --early_stop_min_delta is
// (each flag sets that callback's option and so selects it). Each has its
// options from its key of --callback_options ({"smoothed_loss":{"beta":0.9}})
// and those flags, checked against its declaration.
struct SelectedCallback {
  std::string name;
  OptionValues options;
};
absl::StatusOr<std::vector<SelectedCallback>> ResolveCallbacks(
    const std::map<std::string, std::string>& flags);

// Records "callbacks" = the names in order, and "callback.<name>.<option>"
// for each option (run-defining, as the other option records).
void RecordCallbacks(const std::vector<SelectedCallback>& callbacks,
                     std::map<std::string, std::string>& record);

// The flags that set a callback's option: {"ema_decay", "ema", "decay"}, ...
struct CallbackOptionFlag {
  const char* flag;
  const char* callback;
  const char* option;
};
const std::vector<CallbackOptionFlag>& CallbackOptionFlags();

// --helpshort's section for the selected callbacks: each one's options with
// their effective values, or the reason they cannot be read.
std::string SelectedCallbacksHelp(const std::map<std::string, std::string>& flags);

// --helpshort's section for the selected plugin of `owner`'s kind: its
// options with their effective values, or the reason they cannot be read.
std::string SelectedOptionsHelp(OptionOwner owner, const std::map<std::string, std::string>& flags);

}  // namespace framework

#endif  // FRAMEWORK_EXPERIMENT_PLUGIN_OPTION_FLAGS_H_
