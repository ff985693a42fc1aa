#include "framework/experiment/experiment.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>

#include <ATen/Parallel.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "framework/checkpoint/checkpoint.h"
#include "framework/checkpoint/checkpoint_manager.h"
#include "framework/checkpoint/pytorch_training_checkpoint.h"
#include "framework/formats/pytorch_file.h"
#include "framework/core/device_map.h"
#include "framework/core/random_state.h"
#include "framework/core/user_path.h"
#include "framework/data/dataset.h"
#include "framework/distributed/communicator.h"
#include "framework/distributed/launch_environment.h"
#include "framework/experiment/experiment_flags.h"
#include "framework/experiment/resume_policy.h"
#include "framework/experiment/run_directory.h"
#include "framework/experiment/stop_signals.h"
#include "framework/metrics/metrics_log.h"
#include "framework/metrics/training_events.h"
#include "framework/model/model.h"
#include "framework/model/state_dict.h"
#include "framework/optim/lr_scheduler.h"
#include "framework/optim/optimizer.h"
#include "framework/train/trainer.h"
#include "framework/train/training_loop.h"
#include "framework/weights/weights_file.h"
#include "glog/logging.h"
#include "nlohmann/json.hpp"

namespace framework {
namespace {

absl::Status FlagError(const std::string& flag, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat("--", flag, ": ", problem));
}

absl::StatusOr<std::vector<int64_t>> ParseIntList(const std::string& flag,
                                                  const std::string& text) {
  std::vector<int64_t> values;
  for (absl::string_view piece : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    int64_t value = 0;
    if (!absl::SimpleAtoi(piece, &value)) {
      return FlagError(flag, absl::StrCat("'", text,
                                          "' is not a comma-separated list of integers"));
    }
    values.push_back(value);
  }
  return values;
}

absl::Status ValidateFlags() {
  if (FLAGS_epochs < 0) return FlagError("epochs", absl::StrCat("must be >= 0, got ", FLAGS_epochs));
  if (FLAGS_batch_size < 1) {
    return FlagError("batch_size", absl::StrCat("must be >= 1, got ", FLAGS_batch_size));
  }
  if (FLAGS_eval_batch_size < 1) {
    return FlagError("eval_batch_size", absl::StrCat("must be >= 1, got ", FLAGS_eval_batch_size));
  }
  if (!(FLAGS_lr > 0)) return FlagError("lr", absl::StrCat("must be > 0, got ", FLAGS_lr));
  if (FLAGS_classes != 0 && FLAGS_classes < 2) {
    return FlagError("classes", absl::StrCat("must be >= 2 (or 0 for the data set's), got ",
                                             FLAGS_classes));
  }
  if (FLAGS_train_samples < 0) {
    return FlagError("train_samples", absl::StrCat("must be >= 0, got ", FLAGS_train_samples));
  }
  if (FLAGS_threads < 0) return FlagError("threads", absl::StrCat("must be >= 0, got ", FLAGS_threads));
  if (FLAGS_log_every_steps < 1) {
    return FlagError("log_every_steps", absl::StrCat("must be >= 1, got ", FLAGS_log_every_steps));
  }
  if (FLAGS_log_interval < 0) {
    return FlagError("log_interval", absl::StrCat("must be >= 0, got ", FLAGS_log_interval));
  }
  if (FLAGS_progress != "auto" && FLAGS_progress != "always" && FLAGS_progress != "never") {
    return FlagError("progress", absl::StrCat("must be auto, always or never, got '",
                                              FLAGS_progress, "'"));
  }
  if (FLAGS_monitor_mode != "auto" && FLAGS_monitor_mode != "min" && FLAGS_monitor_mode != "max") {
    return FlagError("monitor_mode", absl::StrCat("must be auto, min or max, got '",
                                                  FLAGS_monitor_mode, "'"));
  }
  if (FLAGS_experiment.empty()) return FlagError("experiment", "must not be empty");
  if (FLAGS_bucket_mb < 1) {
    return FlagError("bucket_mb", absl::StrCat("must be >= 1, got ", FLAGS_bucket_mb));
  }
  if (FLAGS_dist_timeout_s < 1) {
    return FlagError("dist_timeout_s", absl::StrCat("must be >= 1, got ", FLAGS_dist_timeout_s));
  }
  return absl::OkStatus();
}

std::string MonitorMode() {
  if (FLAGS_monitor_mode != "auto") return FLAGS_monitor_mode;
  return FLAGS_monitor.find("acc") != std::string::npos ? "max" : "min";
}

absl::StatusOr<OptimizerOptions> OptimizerOptionsFromFlags() {
  OptimizerOptions optimizer_options;
  optimizer_options.extra = nlohmann::json::parse(FLAGS_optimizer_options, nullptr, false);
  if (optimizer_options.extra.is_discarded() || !optimizer_options.extra.is_object()) {
    return FlagError("optimizer_options",
                     absl::StrCat("'", FLAGS_optimizer_options, "' is not a JSON object"));
  }
  optimizer_options.name = FLAGS_optimizer;
  optimizer_options.lr = FLAGS_lr;
  optimizer_options.momentum = FLAGS_momentum;
  optimizer_options.dampening = FLAGS_dampening;
  optimizer_options.nesterov = FLAGS_nesterov;
  optimizer_options.weight_decay = FLAGS_weight_decay;
  optimizer_options.beta1 = FLAGS_beta1;
  optimizer_options.beta2 = FLAGS_beta2;
  optimizer_options.eps = FLAGS_eps;
  optimizer_options.amsgrad = FLAGS_amsgrad;
  optimizer_options.alpha = FLAGS_alpha;
  optimizer_options.centered = FLAGS_centered;
  return optimizer_options;
}

SchedulerOptions SchedulerOptionsFromFlags(const std::vector<int64_t>& milestones) {
  SchedulerOptions scheduler_options;
  scheduler_options.name = FLAGS_scheduler;
  scheduler_options.step_size = FLAGS_step_size;
  scheduler_options.gamma = FLAGS_gamma;
  scheduler_options.milestones = milestones;
  scheduler_options.t_max = FLAGS_t_max;
  scheduler_options.eta_min = FLAGS_eta_min;
  scheduler_options.warmup_epochs = FLAGS_warmup_epochs;
  scheduler_options.warmup_start_factor = FLAGS_warmup_start_factor;
  scheduler_options.plateau_mode = MonitorMode();
  scheduler_options.plateau_factor = FLAGS_plateau_factor;
  scheduler_options.plateau_patience = FLAGS_plateau_patience;
  scheduler_options.plateau_threshold = FLAGS_plateau_threshold;
  scheduler_options.plateau_threshold_mode = FLAGS_plateau_threshold_mode;
  scheduler_options.plateau_cooldown = FLAGS_plateau_cooldown;
  scheduler_options.plateau_min_lr = FLAGS_plateau_min_lr;
  return scheduler_options;
}

LoopOptions LoopOptionsFromFlags(const torch::Device& device) {
  LoopOptions loop_options;
  loop_options.epochs = FLAGS_epochs;
  loop_options.batch_size = FLAGS_batch_size;
  loop_options.eval_batch_size = FLAGS_eval_batch_size;
  loop_options.seed = FLAGS_seed;
  loop_options.log_interval = FLAGS_log_interval;
  loop_options.device = device;
  loop_options.monitor = FLAGS_monitor;
  loop_options.progress_bar =
      FLAGS_progress == "always" || (FLAGS_progress == "auto" && isatty(STDERR_FILENO));
  return loop_options;
}

CheckpointOptions CheckpointOptionsFromFlags(const std::string& directory) {
  CheckpointOptions checkpoint_options;
  checkpoint_options.directory = directory;
  checkpoint_options.every_epochs = FLAGS_checkpoint_interval;
  checkpoint_options.every_steps = FLAGS_checkpoint_every_steps;
  checkpoint_options.keep_last = FLAGS_keep_last;
  checkpoint_options.keep_best = FLAGS_keep_best;
  checkpoint_options.monitor = FLAGS_monitor;
  checkpoint_options.maximize = MonitorMode() == "max";
  checkpoint_options.keep_every_epochs = FLAGS_keep_every_epochs;
  checkpoint_options.async = FLAGS_async_checkpoint;
  checkpoint_options.fsync = FLAGS_checkpoint_fsync;
  return checkpoint_options;
}

// What the flags say once checked: everything that can be wrong with them is
// found here, before the run directory is touched or data is loaded.
struct StartupSettings {
  torch::Device device = torch::kCPU;
  DeviceMap device_map{torch::kCPU};
  nlohmann::json model_options;
  std::vector<int64_t> milestones;
  OptimizerOptions optimizer;
  std::string run_dir;
  ResumeRequest resume;
  LaunchEnvironment launch;  // who this process is in a data-parallel run
};

// Names a plugin registers: an unknown one is an error that lists the
// registered names of its kind.
template <typename Entry>
absl::Status CheckRegistered(const char* flag, const Registry<Entry>& registry,
                             const std::string& name) {
  if (registry.Contains(name)) return absl::OkStatus();
  return FlagError(flag, std::string(registry.Find(name).status().message()));
}

absl::StatusOr<StartupSettings> SettingsFromFlags() {
  if (absl::Status status = ValidateFlags(); !status.ok()) return status;
  StartupSettings settings;
  absl::StatusOr<LaunchEnvironment> launch = ReadLaunchEnvironment();
  if (!launch.ok()) return launch.status();
  settings.launch = *launch;
  if (launch->distributed() && FLAGS_batch_size % launch->world_size != 0) {
    return FlagError("batch_size",
                     absl::StrCat("is the global batch, split evenly over the ranks: ",
                                  FLAGS_batch_size, " does not divide by the world size ",
                                  launch->world_size, " (", launch->launcher, ")"));
  }
  // Under a launcher, "cuda" is the GPU of this process's local rank.
  const std::string device_text = launch->distributed() && FLAGS_device == "cuda"
                                      ? absl::StrCat("cuda:", launch->local_rank)
                                      : FLAGS_device;
  absl::StatusOr<torch::Device> device = ParseUsableDevice(device_text);
  if (!device.ok()) return FlagError("device", std::string(device.status().message()));
  settings.device = *device;
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
  settings.model_options = nlohmann::json::parse(FLAGS_model_options, nullptr, false);
  if (settings.model_options.is_discarded() || !settings.model_options.is_object()) {
    return FlagError("model_options",
                     absl::StrCat("'", FLAGS_model_options, "' is not a JSON object"));
  }
  absl::StatusOr<std::vector<int64_t>> milestones = ParseIntList("milestones", FLAGS_milestones);
  if (!milestones.ok()) return milestones.status();
  settings.milestones = *milestones;
  absl::StatusOr<OptimizerOptions> optimizer = OptimizerOptionsFromFlags();
  if (!optimizer.ok()) return optimizer.status();
  settings.optimizer = *optimizer;
  // The model is checked after the resume checkpoint is found, which can say
  // which plugin it needs.
  for (const absl::Status& status :
       {CheckRegistered("trainer", TrainerRegistry(), FLAGS_trainer),
        CheckRegistered("optimizer", OptimizerRegistry(), FLAGS_optimizer),
        CheckRegistered("scheduler", SchedulerRegistry(), FLAGS_scheduler),
        CheckRegistered("dataset", DatasetRegistry(), FLAGS_dataset)}) {
    if (!status.ok()) return status;
  }
  settings.run_dir =
      ResolveUserPath(FLAGS_run_dir.empty() ? "runs/" + FLAGS_experiment : FLAGS_run_dir);
  settings.resume.newest = FLAGS_resume;
  if (!FLAGS_resume_from.empty()) settings.resume.checkpoint = ResolveUserPath(FLAGS_resume_from);
  return settings;
}

// The training and validation data, with --train_samples applied and checked
// by the trainer.
absl::StatusOr<DataSplits> LoadData(const Trainer& trainer) {
  DataOptions data_options;
  data_options.data_dir = FLAGS_data_dir.empty() ? "" : ResolveUserPath(FLAGS_data_dir);
  data_options.seed = FLAGS_seed;
  absl::StatusOr<DataSplits> data = LoadDataset(FLAGS_dataset, data_options);
  if (!data.ok()) return data.status();
  data->train = data->train.Head(FLAGS_train_samples);
  if (data->train.size() == 0) return FlagError("dataset", "the training set is empty");
  if (absl::Status status = trainer.CheckData(data->train); !status.ok()) return status;
  return data;
}

// --model with --model_options, and the input shape and classes of the data.
absl::StatusOr<ModelSpec> ModelSpecFor(const Dataset& train, const nlohmann::json& model_options) {
  ModelSpec spec;
  spec.name = FLAGS_model;
  spec.config = model_options;
  spec.config[kInputChannelsKey] = train.inputs.size(1);
  spec.config[kInputHeightKey] = train.inputs.size(2);
  spec.config[kInputWidthKey] = train.inputs.size(3);
  if (FLAGS_classes != 0 && FLAGS_classes < train.classes) {
    return FlagError("classes", absl::StrCat(FLAGS_classes, " is fewer than the ", train.classes,
                                             " classes of the data set"));
  }
  spec.config[kClassesKey] = FLAGS_classes != 0 ? FLAGS_classes : train.classes;
  return spec;
}

// --init_from: the weights of any supported file, loaded strictly.
absl::Status InitialiseWeights(Model& model, const DeviceMap& devices) {
  const std::string path = ResolveUserPath(FLAGS_init_from);
  absl::StatusOr<std::vector<NamedTensor>> weights = ReadWeights(path, devices);
  if (!weights.ok()) return FlagError("init_from", std::string(weights.status().message()));
  if (absl::Status status = LoadStateDict(model, *weights, /*strict=*/true, path); !status.ok()) {
    return FlagError("init_from", std::string(status.message()));
  }
  LOG(INFO) << "Initialised the model's weights from " << path;
  return absl::OkStatus();
}

// Puts the model, optimizer, scheduler, loop and generator where the first
// intact candidate checkpoint left them. The weights are read straight into
// the model and verified as they arrive, so each byte is read once; a
// candidate found damaged on the way is skipped (logged, never deleted) and
// the next one's load overwrites every tensor. When none is intact the model
// gets the weights it was built with again (`rebuild_weights`), and the run
// starts fresh.
absl::Status Resume(const std::vector<std::string>& candidates, bool may_fall_back,
                            const DeviceMap& devices, Model& model, TrainingLoop& loop,
                            CheckpointManager& checkpoints,
                            const std::function<absl::Status()>& rebuild_weights,
                            std::string* resumed_from) {
  std::map<std::string, at::Tensor> destinations;
  for (NamedTensor& named : StateDict(model)) destinations[named.name] = named.tensor;
  for (size_t i = 0; i < candidates.size(); ++i) {
    const std::string& path = candidates[i];
    const auto start = std::chrono::steady_clock::now();
    absl::StatusOr<TrainingState> state = ReadCheckpoint(path, devices, &destinations);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!state.ok()) {
      if (!may_fall_back) return state.status();
      LOG(WARNING) << "Skipping invalid checkpoint " << path << ": " << state.status().message()
                   << (i + 1 < candidates.size()
                           ? absl::StrCat("; falling back to ", candidates[i + 1])
                           : std::string("; no older checkpoint is left to try"));
      continue;
    }
    if (absl::Status status = RestoreTrainingState(*state, loop, path); !status.ok()) return status;
    checkpoints.SetResumedFrom(path, state->position.global_step);
    *resumed_from = path;
    const double megabytes = static_cast<double>(CheckpointSizeBytes(path)) / 1e6;
    LOG(INFO) << "Resumed from " << path << " at epoch " << state->position.epoch + 1
              << ", batch " << state->position.batch << " (global step "
              << state->position.global_step << "); read and verified "
              << absl::StrFormat("%.1f MB in %.3f s (%.0f MB/s)", megabytes, seconds,
                                 megabytes / std::max(seconds, 1e-9));
    return absl::OkStatus();
  }
  LOG(WARNING) << "--resume: none of the " << candidates.size()
               << " checkpoint(s) is intact (each is kept as it is); starting fresh";
  return rebuild_weights();
}

// --resume_from a PyTorch training checkpoint: weights, optimizer state,
// epoch and schedule (see pytorch_training_checkpoint.h).
absl::Status ResumeFromPyTorch(const PyTorchTrainingCheckpoint& checkpoint,
                               const std::string& path,
                               const std::map<std::string, std::string>& flags,
                               TrainingLoop& loop) {
  absl::StatusOr<std::vector<std::string>> differences =
      RestoreFromPyTorch(checkpoint, path, flags, loop);
  if (!differences.ok()) return FlagError("resume_from", differences.status().message());
  for (const std::string& difference : *differences) {
    LOG(WARNING) << "PyTorch checkpoint and flags differ, the flags win: " << difference;
  }
  LOG(INFO) << "Resumed from PyTorch checkpoint " << path << " ('"
            << checkpoint.optimizer_key << "') after epoch " << *checkpoint.epoch
            << ": continuing at epoch " << *checkpoint.epoch + 1;
  return absl::OkStatus();
}

// Joins the other ranks of a data-parallel run; ranks other than 0 then log
// warnings and errors only (unless --log_all_ranks).
absl::StatusOr<std::unique_ptr<Communicator>> JoinRanks(const StartupSettings& settings) {
  CommunicatorOptions options;
  options.timeout = std::chrono::seconds(FLAGS_dist_timeout_s);
  options.device = settings.device;
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<std::unique_ptr<Communicator>> communicator =
      Communicator::Connect(settings.launch, options);
  if (!communicator.ok()) return communicator.status();
  LOG(INFO) << "Data parallel: " << settings.launch.Describe() << "; all "
            << settings.launch.world_size << " ranks joined in "
            << absl::StrFormat("%.1f s", std::chrono::duration<double>(
                                             std::chrono::steady_clock::now() - start)
                                             .count())
            << (settings.launch.rank != 0 && !FLAGS_log_all_ranks
                    ? "; from here on this rank logs warnings and errors only (--log_all_ranks)"
                    : "");
  if (settings.launch.rank != 0 && !FLAGS_log_all_ranks) FLAGS_minloglevel = google::GLOG_WARNING;
  return communicator;
}

// What rank 0 tells the others once it knows where the run starts:
// "checkpoint:<path>" (empty path: a fresh start) or "error:<message>".
constexpr char kStartKey[] = "start";

// The other ranks' side of a resume: the checkpoint rank 0 chose, read and
// verified here too (the run directory is shared storage).
absl::Status ResumeLikeRankZero(const std::string& path, const DeviceMap& devices, Model& model,
                                TrainingLoop& loop, CheckpointManager& checkpoints) {
  std::map<std::string, at::Tensor> destinations;
  for (NamedTensor& named : StateDict(model)) destinations[named.name] = named.tensor;
  absl::StatusOr<TrainingState> state = ReadCheckpoint(path, devices, &destinations);
  if (!state.ok()) {
    return absl::DataLossError(absl::StrCat("rank ", loop.rank(), " cannot read ", path,
                                            ", which rank 0 resumed from: ",
                                            state.status().message()));
  }
  if (absl::Status status = RestoreTrainingState(*state, loop, path); !status.ok()) return status;
  checkpoints.SetResumedFrom(path, state->position.global_step);
  return absl::OkStatus();
}

absl::Status RunExperiment(const StartupSettings& startup, Communicator* communicator,
                           bool& start_shared) {
  const StartupSettings* settings = &startup;
  const bool rank_zero = communicator == nullptr || communicator->rank() == 0;
  const std::string& run_dir = settings->run_dir;
  // Rank 0 owns the run directory; the others never write to it.
  std::unique_ptr<RunDirectoryLock> lock;
  if (rank_zero) {
    if (absl::Status status = PrepareRunDirectory(run_dir); !status.ok()) {
      return FlagError("run_dir", std::string(status.message()));
    }
    absl::StatusOr<std::unique_ptr<RunDirectoryLock>> acquired = RunDirectoryLock::Acquire(run_dir);
    if (!acquired.ok()) return acquired.status();
    lock = *std::move(acquired);
  }
  const std::map<std::string, std::string> flags = EffectiveFlags();
  const std::string checkpoint_dir = run_dir + "/checkpoints";
  // --resume_from a file: PyTorch's training-checkpoint dict (ours are
  // directories), read once, here, before any slow work.
  std::optional<PyTorchTrainingCheckpoint> pytorch_checkpoint;
  std::error_code file_error;
  if (!settings->resume.checkpoint.empty() &&
      std::filesystem::is_regular_file(settings->resume.checkpoint, file_error)) {
    absl::StatusOr<PyTorchTrainingCheckpoint> read =
        ReadPyTorchTrainingCheckpoint(settings->resume.checkpoint, settings->device_map);
    if (!read.ok()) return FlagError("resume_from", read.status().message());
    pytorch_checkpoint = *std::move(read);
  }
  // Rank 0 chooses the checkpoint; it tells the others which.
  absl::StatusOr<std::vector<std::string>> resume_candidates =
      pytorch_checkpoint.has_value() || !rank_zero
          ? std::vector<std::string>()
          : FindResumeCandidates(settings->resume, checkpoint_dir, flags);
  if (!resume_candidates.ok()) return resume_candidates.status();
  if (absl::Status status = CheckRegistered("model", ModelRegistry(), FLAGS_model); !status.ok()) {
    return status;
  }
  absl::StatusOr<std::unique_ptr<Trainer>> trainer = BuildTrainer(FLAGS_trainer);
  if (!trainer.ok()) return FlagError("trainer", std::string(trainer.status().message()));

  if (FLAGS_threads > 0) at::set_num_threads(FLAGS_threads);
  SeedGlobalGenerator(FLAGS_seed);

  absl::StatusOr<DataSplits> data = LoadData(**trainer);
  if (!data.ok()) return data.status();
  const Dataset& train = data->train;
  absl::StatusOr<ModelSpec> spec = ModelSpecFor(train, settings->model_options);
  if (!spec.ok()) return spec.status();
  // Where the model's initial weights come from, should a failed resume
  // need them again.
  const at::Tensor generator_before_model = GlobalGeneratorState();
  absl::StatusOr<std::shared_ptr<Model>> model = BuildModel(*spec);
  if (!model.ok()) return model.status();
  (*model)->to(settings->device);
  // Each rank draws its own dropout masks; the weights every rank starts
  // from are rank 0's (the loop broadcasts them).
  auto seed_rank_generator = [&] {
    if (communicator != nullptr) {
      SeedGlobalGenerator(RankSeed(FLAGS_seed, communicator->rank(), /*global_step=*/0));
    }
  };
  seed_rank_generator();
  LOG(INFO) << "Model " << spec->ToJson().dump() << ": " << CountParameters(**model)
            << " parameters";

  absl::StatusOr<std::unique_ptr<torch::optim::Optimizer>> optimizer =
      BuildOptimizer(settings->optimizer, (*model)->parameters());
  if (!optimizer.ok()) return optimizer.status();

  absl::StatusOr<std::unique_ptr<LrScheduler>> scheduler =
      BuildScheduler(SchedulerOptionsFromFlags(settings->milestones), **optimizer, FLAGS_epochs);
  if (!scheduler.ok()) return scheduler.status();

  LoopOptions loop_options = LoopOptionsFromFlags(settings->device);
  loop_options.communicator = communicator;
  loop_options.bucket_bytes = FLAGS_bucket_mb << 20;
  TrainingLoop loop(loop_options, **model, **trainer, **optimizer, scheduler->get(), train,
                    data->valid);

  // Rank 0's weights reach the others when training starts (broadcast), so
  // only rank 0 needs the file.
  if (!FLAGS_init_from.empty() && rank_zero) {
    if (absl::Status status = InitialiseWeights(**model, settings->device_map); !status.ok()) {
      return status;
    }
  }
  // Before anything is written to the run directory, so a refused file
  // changes nothing there.
  if (pytorch_checkpoint.has_value()) {
    if (absl::Status status =
            ResumeFromPyTorch(*pytorch_checkpoint, settings->resume.checkpoint, flags, loop);
        !status.ok()) {
      return status;
    }
  }

  // Opened once the start step is known; declared first so that it outlives
  // the manager's background saves, which report to it.
  std::unique_ptr<TrainingEvents> events;
  CheckpointOptions checkpoint_options =
      CheckpointOptionsFromFlags(checkpoint_dir);
  checkpoint_options.communicator = communicator;
  checkpoint_options.on_saved = [&events](int64_t step, double seconds) {
    if (events != nullptr) events->AddScalar(step, "checkpoint/save_seconds", seconds);
  };
  absl::StatusOr<std::unique_ptr<CheckpointManager>> checkpoints =
      CheckpointManager::Create(std::move(checkpoint_options), *spec, flags);
  if (!checkpoints.ok()) return checkpoints.status();

  std::string resumed_from;  // by rank 0
  if (!resume_candidates->empty()) {
    // The same weights as at the first build, and the generator where that
    // build left it: exactly a fresh start.
    auto rebuild_weights = [&]() -> absl::Status {
      RestoreGlobalGeneratorState(generator_before_model);
      absl::StatusOr<std::shared_ptr<Model>> fresh = BuildModel(*spec);
      if (!fresh.ok()) return fresh.status();
      (*fresh)->to(settings->device);
      if (absl::Status s = LoadStateDict(**model, StateDict(**fresh), true, "the rebuilt model");
          !s.ok()) {
        return s;
      }
      seed_rank_generator();
      return FLAGS_init_from.empty() ? absl::OkStatus()
                                     : InitialiseWeights(**model, settings->device_map);
    };
    if (absl::Status status =
            Resume(*resume_candidates, /*may_fall_back=*/settings->resume.checkpoint.empty(),
                   settings->device_map, **model, loop, **checkpoints, rebuild_weights,
                   &resumed_from);
        !status.ok()) {
      return status;
    }
  }
  if (communicator != nullptr) {
    absl::StatusOr<std::string> start =
        communicator->ShareFromRankZero(kStartKey, absl::StrCat("checkpoint:", resumed_from));
    start_shared = true;
    if (!start.ok()) return start.status();
    if (absl::StartsWith(*start, "error:")) {
      return absl::AbortedError(
          absl::StrCat("rank 0 failed to start: ", absl::StripPrefix(*start, "error:")));
    }
    const std::string chosen(absl::StripPrefix(*start, "checkpoint:"));
    if (!rank_zero && !chosen.empty()) {
      if (absl::Status status = ResumeLikeRankZero(chosen, settings->device_map, **model, loop,
                                                   **checkpoints);
          !status.ok()) {
        return status;
      }
    }
  }

  // Only rank 0 of a data-parallel run writes records, metrics and curves.
  MetricsLog metrics_log(run_dir + "/metrics.jsonl");
  if (rank_zero) {
    if (absl::Status status = WriteFlagsRecord(run_dir, flags); !status.ok()) {
      return FlagError("run_dir", std::string(status.message()));
    }
    if (absl::Status status = metrics_log.Reset(loop.history()); !status.ok()) return status;
    loop.AddObserver(&metrics_log);
    absl::StatusOr<std::unique_ptr<TrainingEvents>> opened =
        TrainingEvents::Open(run_dir, FLAGS_log_every_steps, loop.position().global_step);
    if (!opened.ok()) return FlagError("run_dir", std::string(opened.status().message()));
    events = *std::move(opened);
    // Before the checkpoints: a step's points are written before its save.
    loop.AddObserver(events.get());
  }
  loop.AddObserver(checkpoints->get());

  LOG(INFO) << "Experiment '" << FLAGS_experiment << "': " << train.size()
            << " training and " << data->valid.size() << " validation samples, "
            << loop.batches_per_epoch() << " batches per epoch, "
            << at::get_num_threads() << " thread(s), device " << settings->device.str()
            << "; run directory " << run_dir;
  SetLoopToStop(&loop);
  absl::Status run_status = loop.Run();
  SetLoopToStop(nullptr);
  if (!run_status.ok()) return run_status;
  if (!loop.finished()) {
    // A data-parallel run stops on every rank when any rank is signalled.
    LOG(INFO) << (StopSignal() != 0
                      ? absl::StrCat("Stopped by signal ", StopSignal(), " (",
                                     strsignal(StopSignal()), ")")
                      : std::string("Stopped because another rank was signalled"))
              << " at global step " << loop.position().global_step << "; saved "
              << (rank_zero ? (*checkpoints)->last_saved() : std::string("(by rank 0)"))
              << "; continue with --resume";
    return absl::OkStatus();
  }
  if (!loop.history().empty()) {
    LOG(INFO) << "Finished " << loop.history().size() << " epoch(s); last epoch: "
              << loop.history().back().ToJson().dump();
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status RunExperimentFromFlags() {
  absl::StatusOr<StartupSettings> settings = SettingsFromFlags();
  if (!settings.ok()) return settings.status();
  std::unique_ptr<Communicator> communicator;
  if (settings->launch.distributed()) {
    absl::StatusOr<std::unique_ptr<Communicator>> joined = JoinRanks(*settings);
    if (!joined.ok()) return joined.status();
    communicator = *std::move(joined);
  }
  bool start_shared = false;
  absl::Status status = RunExperiment(*settings, communicator.get(), start_shared);
  // Rank 0 failed before telling the others where to start: it tells them
  // it failed, so that they stop now rather than at the timeout.
  if (!status.ok() && communicator != nullptr && communicator->rank() == 0 && !start_shared) {
    (void)communicator->ShareFromRankZero(kStartKey, absl::StrCat("error:", status.message()));
  }
  return status;
}

}  // namespace framework
