#include "framework/experiment/experiment_settings.h"

#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "framework/experiment/flag_error.h"
#include "framework/core/user_path.h"
#include "framework/data/dataset.h"
#include "framework/experiment/experiment_flags.h"
#include "framework/experiment/stop_signals.h"
#include "framework/experiment/plugin_option_flags.h"
#include "framework/model/model.h"
#include "framework/optim/optimizer.h"
#include "framework/train/trainer.h"
#include "gflags/gflags.h"

namespace framework {
namespace {

// A flag's range, checked: `ok` is whether its value is in it.
absl::Status Require(bool ok, const std::string& flag, const std::string& range,
                     const std::string& value) {
  if (ok) return absl::OkStatus();
  return FlagError(flag, absl::StrCat("must be ", range, ", got ", value));
}

absl::Status CheckRanges() {
  for (const absl::Status& status : {
           Require(FLAGS_epochs >= 0, "epochs", ">= 0", absl::StrCat(FLAGS_epochs)),
           Require(FLAGS_batch_size >= 1, "batch_size", ">= 1", absl::StrCat(FLAGS_batch_size)),
           Require(FLAGS_eval_batch_size >= 1, "eval_batch_size", ">= 1",
                   absl::StrCat(FLAGS_eval_batch_size)),
           Require(FLAGS_classes == 0 || FLAGS_classes >= 2, "classes",
                   ">= 2 (or 0 for the data set's)", absl::StrCat(FLAGS_classes)),
           Require(FLAGS_train_samples >= 0, "train_samples", ">= 0",
                   absl::StrCat(FLAGS_train_samples)),
           Require(FLAGS_threads >= 0, "threads", ">= 0", absl::StrCat(FLAGS_threads)),
           Require(FLAGS_data_workers >= -1, "data_workers", ">= 0 (or -1: auto)",
                   absl::StrCat(FLAGS_data_workers)),
           Require(FLAGS_prefetch_batches >= 1, "prefetch_batches", ">= 1",
                   absl::StrCat(FLAGS_prefetch_batches)),
           Require(FLAGS_prefetch_max_mib >= 1, "prefetch_max_mib", ">= 1",
                   absl::StrCat(FLAGS_prefetch_max_mib)),
           Require(FLAGS_log_every_steps >= 1, "log_every_steps", ">= 1",
                   absl::StrCat(FLAGS_log_every_steps)),
           Require(FLAGS_log_interval >= 0, "log_interval", ">= 0",
                   absl::StrCat(FLAGS_log_interval)),
           Require(FLAGS_progress == "auto" || FLAGS_progress == "always" ||
                       FLAGS_progress == "never",
                   "progress", "auto, always or never", absl::StrCat("'", FLAGS_progress, "'")),
           Require(FLAGS_monitor_mode == "auto" || FLAGS_monitor_mode == "min" ||
                       FLAGS_monitor_mode == "max",
                   "monitor_mode", "auto, min or max", absl::StrCat("'", FLAGS_monitor_mode, "'")),
           Require(!FLAGS_experiment.empty(), "experiment", "a name", "''"),
           Require(FLAGS_warmup_epochs >= 0, "warmup_epochs", ">= 0",
                   absl::StrCat(FLAGS_warmup_epochs)),
           Require(FLAGS_warmup_start_factor > 0 && FLAGS_warmup_start_factor <= 1,
                   "warmup_start_factor", "in (0, 1]", absl::StrCat(FLAGS_warmup_start_factor)),
           Require(FLAGS_checkpoint_interval >= 0, "checkpoint_interval", ">= 0",
                   absl::StrCat(FLAGS_checkpoint_interval)),
           Require(FLAGS_checkpoint_every_steps >= 0, "checkpoint_every_steps", ">= 0",
                   absl::StrCat(FLAGS_checkpoint_every_steps)),
           Require(FLAGS_keep_last >= 1, "keep_last", ">= 1", absl::StrCat(FLAGS_keep_last)),
           Require(FLAGS_on_checkpoint_signal == "continue" || FLAGS_on_checkpoint_signal == "exit",
                   "on_checkpoint_signal", "continue or exit",
                   absl::StrCat("'", FLAGS_on_checkpoint_signal, "'")),
           Require(FLAGS_keep_best >= 0, "keep_best", ">= 0", absl::StrCat(FLAGS_keep_best)),
           Require(FLAGS_keep_every_epochs >= 0, "keep_every_epochs", ">= 0",
                   absl::StrCat(FLAGS_keep_every_epochs)),
           Require(FLAGS_accumulate_batches >= 1, "accumulate_batches", ">= 1",
                   absl::StrCat(FLAGS_accumulate_batches)),
           Require(FLAGS_bucket_mb >= 1, "bucket_mb", ">= 1", absl::StrCat(FLAGS_bucket_mb)),
           Require(FLAGS_dist_timeout_s >= 1, "dist_timeout_s", ">= 1",
                   absl::StrCat(FLAGS_dist_timeout_s)),
           Require(std::isfinite(FLAGS_clip_grad_norm) && FLAGS_clip_grad_norm >= 0,
                   "clip_grad_norm", "a number >= 0 (0: off)", absl::StrCat(FLAGS_clip_grad_norm)),
           Require(std::isfinite(FLAGS_clip_grad_value) && FLAGS_clip_grad_value >= 0,
                   "clip_grad_value", "a number >= 0 (0: off)",
                   absl::StrCat(FLAGS_clip_grad_value)),
       }) {
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

bool MonitorMaximizes() {
  if (FLAGS_monitor_mode != "auto") return FLAGS_monitor_mode == "max";
  return FLAGS_monitor.find("acc") != std::string::npos;
}

// Names a plugin registers: an unknown one is an error that lists the
// registered names of its kind. The model is checked once the resume
// checkpoint is known, which can say which plugin it needs.
template <typename Entry>
absl::Status CheckRegistered(const char* flag, const Registry<Entry>& registry,
                             const std::string& name) {
  if (registry.Contains(name)) return absl::OkStatus();
  return FlagError(flag, std::string(registry.Find(name).status().message()));
}

// The effective flags, with the option flags a user did not set empty (a
// bool flag has a value either way), for ResolveSelectedOptions.
std::map<std::string, std::string> GivenFlags() {
  std::map<std::string, std::string> flags = EffectiveFlags();
  for (const OptionFlag& option_flag : OptionFlags()) {
    gflags::CommandLineFlagInfo info;
    if (gflags::GetCommandLineFlagInfo(option_flag.flag, &info) && info.is_default) {
      flags[option_flag.flag] = "";
    }
  }
  return flags;
}

absl::Status ReadPluginOptions(ExperimentSettings& settings) {
  const std::map<std::string, std::string> flags = GivenFlags();
  settings.record = flags;
  settings.optimizer = FLAGS_optimizer;
  absl::StatusOr<OptionValues> optimizer = ResolveSelectedOptions(OptionOwner::kOptimizer, flags);
  if (!optimizer.ok()) return optimizer.status();
  settings.optimizer_options = *optimizer;
  absl::StatusOr<DecayedParameters> decayed = ParseDecayedParameters(FLAGS_weight_decay_params);
  if (!decayed.ok()) return FlagError("weight_decay_params", decayed.status().message());
  if (*decayed != DecayedParameters::kAll) {
    if (absl::StatusOr<std::string> option = WeightDecayOption(FLAGS_optimizer); !option.ok()) {
      return FlagError("weight_decay_params", option.status().message());
    }
  }
  settings.decayed_parameters = *decayed;
  RecordOptions(OptionOwner::kOptimizer, *optimizer, settings.record);

  absl::StatusOr<OptionValues> dataset = ResolveSelectedOptions(OptionOwner::kDataset, flags);
  if (!dataset.ok()) return dataset.status();
  settings.dataset_options = *std::move(dataset);

  // The model's options are checked now, naming the key, though its input
  // shape and classes come from the data set later.
  if (DeclaresOptions(OptionOwner::kModel, FLAGS_model)) {
    absl::StatusOr<OptionValues> model = ResolveSelectedOptions(OptionOwner::kModel, flags);
    if (!model.ok()) return model.status();
  }

  settings.scheduler = FLAGS_scheduler;
  absl::StatusOr<OptionValues> scheduler = ResolveSelectedOptions(OptionOwner::kScheduler, flags);
  if (!scheduler.ok()) return scheduler.status();
  settings.scheduler_options = *scheduler;
  RecordOptions(OptionOwner::kScheduler, *scheduler, settings.record);
  absl::StatusOr<std::vector<SelectedCallback>> callbacks = ResolveCallbacks(flags);
  if (!callbacks.ok()) return callbacks.status();
  settings.callbacks = *std::move(callbacks);
  RecordCallbacks(settings.callbacks, settings.record);
  settings.schedule.epochs = FLAGS_epochs;
  settings.schedule.warmup_epochs = FLAGS_warmup_epochs;
  settings.schedule.warmup_start_factor = FLAGS_warmup_start_factor;
  settings.schedule.monitor_maximizes = MonitorMaximizes();
  if (FLAGS_warmup_epochs > 0 && SchedulerRegistry().Find(FLAGS_scheduler)->standalone) {
    return FlagError("warmup_epochs",
                     absl::StrCat(FLAGS_warmup_epochs, ": --scheduler=", FLAGS_scheduler,
                                  " cannot follow a warm-up, as in PyTorch's SequentialLR"));
  }
  return absl::OkStatus();
}

// Where this process starts: device, launch, resume or initialisation.
absl::Status ReadStart(ExperimentSettings& settings) {
  absl::StatusOr<LaunchEnvironment> launch = ReadLaunchEnvironment();
  if (!launch.ok()) return launch.status();
  settings.launch = *launch;
  if (launch->distributed() && FLAGS_batch_size % launch->world_size != 0) {
    return FlagError("batch_size",
                     absl::StrCat("is the global batch, split evenly over the ranks: ",
                                  FLAGS_batch_size, " does not divide by the world size ",
                                  launch->world_size, " (", launch->launcher, ")"));
  }
  const int64_t ranks = launch->distributed() ? launch->world_size : 1;
  if (FLAGS_batch_size % (ranks * FLAGS_accumulate_batches) != 0) {
    return FlagError("batch_size",
                     absl::StrCat("is the global batch, split evenly over ", ranks,
                                  " rank(s) and --accumulate_batches=", FLAGS_accumulate_batches,
                                  " micro-batches each: ", FLAGS_batch_size, " does not divide by ",
                                  ranks * FLAGS_accumulate_batches));
  }
  // Under a launcher, "cuda" is the GPU of this process's local rank.
  const std::string device_text = launch->distributed() && FLAGS_device == "cuda"
                                      ? absl::StrCat("cuda:", launch->local_rank)
                                      : FLAGS_device;
  absl::StatusOr<torch::Device> device = ParseUsableDevice(device_text);
  if (!device.ok()) return FlagError("device", std::string(device.status().message()));
  settings.loop.device = *device;
  absl::StatusOr<Precision> precision = ParsePrecision(FLAGS_precision);
  if (!precision.ok()) return FlagError("precision", precision.status().message());
  if (absl::Status status = CheckPrecisionOnDevice(*precision, *device); !status.ok()) {
    return FlagError("precision", status.message());
  }
  settings.loop.precision = *precision;
  if (*precision == Precision::kFp16) settings.loop.loss_scaling = LossScalerOptions();
  absl::StatusOr<DeviceMap> device_map = DeviceMap::Parse(FLAGS_map_location, *device);
  if (!device_map.ok()) {
    return FlagError("map_location", std::string(device_map.status().message()));
  }
  settings.device_map = *device_map;
  if (FLAGS_resume && !FLAGS_resume_from.empty()) {
    return FlagError("resume_from", "give either --resume or --resume_from, not both");
  }
  if (!FLAGS_init_from.empty() && (FLAGS_resume || !FLAGS_resume_from.empty())) {
    return FlagError("init_from", "cannot be combined with --resume or --resume_from");
  }
  settings.resume.newest = FLAGS_resume;
  if (!FLAGS_resume_from.empty()) {
    settings.resume.checkpoint = ResolveUserPath(FLAGS_resume_from);
    std::error_code error;
    if (!std::filesystem::exists(settings.resume.checkpoint, error)) {
      return FlagError("resume_from", absl::StrCat(settings.resume.checkpoint,
                                                   " does not exist (a checkpoint directory or a "
                                                   "PyTorch training checkpoint file)"));
    }
  }
  absl::StatusOr<PyTorchEpoch> pytorch_epoch = ParsePyTorchEpoch(FLAGS_pytorch_epoch);
  if (!pytorch_epoch.ok()) return FlagError("pytorch_epoch", pytorch_epoch.status().message());
  settings.pytorch_epoch = *pytorch_epoch;
  if (!FLAGS_init_from.empty()) settings.init_from = ResolveUserPath(FLAGS_init_from);
  settings.run_dir =
      ResolveUserPath(FLAGS_run_dir.empty() ? "runs/" + FLAGS_experiment : FLAGS_run_dir);
  settings.dist_timeout = std::chrono::seconds(FLAGS_dist_timeout_s);
  settings.shared_memory_all_reduce = FLAGS_shared_memory_all_reduce;
  settings.log_all_ranks = FLAGS_log_all_ranks;
  return absl::OkStatus();
}

absl::Status ReadClipping(GradientClipping& clipping) {
  absl::StatusOr<double> norm_type = ParseNormType(FLAGS_clip_grad_norm_type);
  if (!norm_type.ok()) return FlagError("clip_grad_norm_type", norm_type.status().message());
  clipping.norm_type = *norm_type;
  clipping.max_norm = FLAGS_clip_grad_norm;
  clipping.max_value = FLAGS_clip_grad_value;
  return absl::OkStatus();
}

void ReadLoopAndCheckpoints(ExperimentSettings& settings) {
  LoopOptions& loop = settings.loop;
  loop.epochs = FLAGS_epochs;
  loop.batch_size = FLAGS_batch_size;
  loop.eval_batch_size = FLAGS_eval_batch_size;
  loop.seed = FLAGS_seed;
  loop.log_interval = FLAGS_log_interval;
  loop.monitor = FLAGS_monitor;
  loop.progress_bar =
      FLAGS_progress == "always" || (FLAGS_progress == "auto" && isatty(STDERR_FILENO));
  loop.bucket_bytes = FLAGS_bucket_mb << 20;
  loop.shard_optimizer_state = FLAGS_shard_optimizer_state;
  loop.accumulate_batches = FLAGS_accumulate_batches;
  loop.data_workers = FLAGS_data_workers;
  loop.prefetch.batches_per_worker = FLAGS_prefetch_batches;
  loop.prefetch.max_bytes = FLAGS_prefetch_max_mib << 20;
  settings.threads = FLAGS_threads;
  settings.log_every_steps = FLAGS_log_every_steps;

  CheckpointOptions& checkpoints = settings.checkpoints;
  checkpoints.directory = settings.run_dir + "/checkpoints";
  checkpoints.every_epochs = FLAGS_checkpoint_interval;
  checkpoints.every_steps = FLAGS_checkpoint_every_steps;
  checkpoints.keep_last = FLAGS_keep_last;
  checkpoints.keep_best = FLAGS_keep_best;
  checkpoints.monitor = FLAGS_monitor;
  checkpoints.maximize = MonitorMaximizes();
  checkpoints.keep_every_epochs = FLAGS_keep_every_epochs;
  checkpoints.async = FLAGS_async_checkpoint;
  checkpoints.fsync = FLAGS_checkpoint_fsync;
}

}  // namespace

absl::StatusOr<ExperimentSettings> ReadExperimentSettings() {
  if (absl::Status status = CheckRanges(); !status.ok()) return status;
  for (const absl::Status& status :
       {CheckRegistered("trainer", TrainerRegistry(), FLAGS_trainer),
        CheckRegistered("optimizer", OptimizerRegistry(), FLAGS_optimizer),
        CheckRegistered("scheduler", SchedulerRegistry(), FLAGS_scheduler),
        CheckRegistered("dataset", DatasetRegistry(), FLAGS_dataset)}) {
    if (!status.ok()) return status;
  }
  ExperimentSettings settings;
  settings.experiment = FLAGS_experiment;
  settings.model = FLAGS_model;
  absl::StatusOr<nlohmann::json> model_options =
      ParseJsonObjectFlag("model_options", FLAGS_model_options);
  if (!model_options.ok()) return model_options.status();
  settings.model_options = *std::move(model_options);
  settings.classes = FLAGS_classes;
  settings.trainer = FLAGS_trainer;
  settings.dataset = FLAGS_dataset;
  settings.data_dir = FLAGS_data_dir.empty() ? "" : ResolveUserPath(FLAGS_data_dir);
  settings.train_samples = FLAGS_train_samples;
  settings.seed = FLAGS_seed;
  absl::StatusOr<std::shared_ptr<const SampleTransforms>> transforms =
      SampleTransforms::ParseText(FLAGS_transforms, "transforms");
  if (!transforms.ok()) return transforms.status();
  settings.transforms = *std::move(transforms);
  absl::StatusOr<std::shared_ptr<const SampleTransforms>> valid_transforms =
      SampleTransforms::ParseText(FLAGS_valid_transforms, "valid_transforms");
  if (!valid_transforms.ok()) return valid_transforms.status();
  settings.valid_transforms = *std::move(valid_transforms);
  settings.skip_bad_samples = FLAGS_skip_bad_samples;
  if (absl::Status status = ReadPluginOptions(settings); !status.ok()) return status;
  if (absl::Status status = ReadStart(settings); !status.ok()) return status;
  if (absl::Status status = ReadClipping(settings.loop.clipping); !status.ok()) return status;
  ReadLoopAndCheckpoints(settings);
  if (!FLAGS_checkpoint_signal.empty()) {
    absl::StatusOr<int> signal_number = ParseCheckpointSignal(FLAGS_checkpoint_signal);
    if (!signal_number.ok()) {
      return FlagError("checkpoint_signal", std::string(signal_number.status().message()));
    }
    settings.checkpoint_signal = *signal_number;
  }
  settings.exit_on_checkpoint_signal = FLAGS_on_checkpoint_signal == "exit";
  return settings;
}

std::string ExperimentHelp(bool with_policies) {
  const std::map<std::string, std::string> flags = GivenFlags();
  // --helpshort lists an option flag that is not set only with the option it
  // sets, in the plugin's section.
  auto listed = [&flags, with_policies](const std::string& name) {
    if (with_policies) return true;
    for (const OptionFlag& option_flag : OptionFlags()) {
      if (name == option_flag.flag) return !flags.at(name).empty();
    }
    return true;
  };
  return ExperimentFlagsHelp(
      with_policies,
      [&flags](FlagGroup group) {
        if (group == FlagGroup::kModel) return SelectedOptionsHelp(OptionOwner::kModel, flags);
        if (group == FlagGroup::kData) return SelectedOptionsHelp(OptionOwner::kDataset, flags);
        if (group == FlagGroup::kOptimizer) {
          return SelectedOptionsHelp(OptionOwner::kOptimizer, flags);
        }
        if (group == FlagGroup::kSchedule) {
          return SelectedOptionsHelp(OptionOwner::kScheduler, flags);
        }
        if (group == FlagGroup::kTraining) return SelectedCallbacksHelp(flags);
        return std::string();
      },
      listed);
}

}  // namespace framework
