#include "framework/experiment.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>

#include <signal.h>

#include <ATen/Parallel.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "framework/checkpoint.h"
#include "framework/checkpoint_manager.h"
#include "framework/dataset.h"
#include "framework/device_map.h"
#include "framework/lr_scheduler.h"
#include "framework/metrics_log.h"
#include "framework/model.h"
#include "framework/optimizer.h"
#include "framework/random_state.h"
#include "framework/safetensors.h"
#include "framework/state_dict.h"
#include "framework/trainer.h"
#include "framework/training_loop.h"
#include "framework/weights_file.h"
#include "gflags/gflags.h"
#include "glog/logging.h"
#include "nlohmann/json.hpp"

DEFINE_string(experiment, "default",
              "Experiment name; the default run directory is runs/<experiment>.");
DEFINE_string(run_dir, "",
              "Directory for metrics and checkpoints (default runs/<experiment>), "
              "relative to where bazel was run.");

DEFINE_string(model, "lenet", "Registered model name.");
DEFINE_string(model_options, "{}",
              "JSON object of model-specific options, e.g. {\"dropout\":0.3}.");
DEFINE_int64(classes, 0, "Output classes of the model; 0: the data set's.");
DEFINE_string(trainer, "classification", "Registered trainer name.");
DEFINE_string(dataset, "fashion_mnist", "Registered data set name.");
DEFINE_string(data_dir, "",
              "Directory of the data set's files (default: where its Debian "
              "package installs them).");
DEFINE_int64(train_samples, 0, "Use only the first N training samples; 0: all.");

DEFINE_string(optimizer, "sgd", "Registered optimizer: sgd, adam, adamw, rmsprop.");
DEFINE_double(lr, 0.01, "Learning rate (> 0).");
DEFINE_double(momentum, 0.0, "Momentum (sgd, rmsprop).");
DEFINE_double(dampening, 0.0, "Momentum dampening (sgd).");
DEFINE_bool(nesterov, false, "Nesterov momentum (sgd).");
DEFINE_double(weight_decay, 0.0, "Weight decay (decoupled for adamw).");
DEFINE_double(beta1, 0.9, "Adam beta1.");
DEFINE_double(beta2, 0.999, "Adam beta2.");
DEFINE_double(eps, 1e-8, "Adam / RMSprop epsilon.");
DEFINE_bool(amsgrad, false, "AMSGrad variant (adam, adamw).");
DEFINE_double(alpha, 0.99, "RMSprop smoothing constant.");
DEFINE_bool(centered, false, "Centered RMSprop.");

DEFINE_string(scheduler, "none",
              "Learning-rate schedule: none, step, multistep, exponential, "
              "cosine, plateau.");
DEFINE_int64(step_size, 10, "step: decay every N epochs.");
DEFINE_double(gamma, 0.1, "step, multistep, exponential: decay factor.");
DEFINE_string(milestones, "", "multistep: comma-separated epochs, e.g. 10,15.");
DEFINE_int64(t_max, 0, "cosine: period in epochs; 0: the epochs after warm-up.");
DEFINE_double(eta_min, 0.0, "cosine: minimum learning rate.");
DEFINE_int64(warmup_epochs, 0, "Linear warm-up epochs before the schedule.");
DEFINE_double(warmup_start_factor, 1.0 / 3, "Warm-up's first factor of --lr.");
DEFINE_double(plateau_factor, 0.1, "plateau: decay factor.");
DEFINE_int64(plateau_patience, 10, "plateau: epochs without improvement.");
DEFINE_double(plateau_threshold, 1e-4, "plateau: improvement threshold.");
DEFINE_string(plateau_threshold_mode, "rel", "plateau: rel or abs.");
DEFINE_int64(plateau_cooldown, 0, "plateau: epochs to wait after a decay.");
DEFINE_double(plateau_min_lr, 0.0, "plateau: lower bound of the learning rate.");
DEFINE_string(monitor, "valid_loss",
              "Validation metric that plateau scheduling follows, e.g. valid_acc.");
DEFINE_string(monitor_mode, "auto",
              "min or max: whether --monitor improves downwards or upwards; "
              "auto: max for accuracies, min otherwise.");

DEFINE_int64(epochs, 15, "Epochs to train (>= 0).");
DEFINE_int64(batch_size, 64, "Training batch size (>= 1).");
DEFINE_int64(eval_batch_size, 1000, "Evaluation batch size (>= 1).");
DEFINE_uint64(seed, 1, "Seed of parameter initialisation, dropout and data order.");
DEFINE_int32(threads, 0, "Intra-op threads; 0: LibTorch's default.");
DEFINE_string(device, "cpu", "Device: cpu, cuda or cuda:N.");
DEFINE_int64(log_interval, 100, "Iterations between training log lines; 0: none.");
DEFINE_int64(checkpoint_interval, 1, "Save a checkpoint every N epochs; 0: off.");
DEFINE_int64(checkpoint_every_steps, 0, "Save a checkpoint every N steps; 0: off.");
DEFINE_int64(keep_last, 3, "Keep the newest N checkpoints (>= 1).");
DEFINE_int64(keep_best, 1, "Also keep the best K checkpoints by --monitor; 0: off.");
DEFINE_int64(keep_every_epochs, 0, "Also keep a milestone checkpoint every E epochs; 0: off.");
DEFINE_bool(async_checkpoint, false,
            "Write checkpoints in the background; training waits only for a snapshot.");
DEFINE_bool(checkpoint_fsync, true, "fsync checkpoint files and directories before commit.");
DEFINE_bool(resume, false,
            "Continue from the newest valid checkpoint of the run directory (fresh start if none).");
DEFINE_string(resume_from, "", "Continue from this checkpoint directory.");
DEFINE_string(init_from, "",
              "Start a fresh run with the model weights of this file: a checkpoint directory, "
              "a whole-model or safetensors file, or a PyTorch .pt state dict (recognised by "
              "content).");
DEFINE_string(map_location, "",
              "Where loaded tensors go: cpu, cuda, cuda:N, or pairs such as "
              "cuda:1=cuda:0,cuda:0=cpu; default: --device.");
DEFINE_string(checkpoint_crash_point, "none",
              "Testing only: die as kill -9 would at this point of every save "
              "(after_model_file, before_rename, after_rename).");
DEFINE_string(progress, "auto",
              "Progress bar: auto (when stderr is a terminal), always, never.");

namespace framework {
namespace {

absl::Status FlagError(const std::string& flag, const std::string& problem) {
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
  return absl::OkStatus();
}

std::string MonitorMode() {
  if (FLAGS_monitor_mode != "auto") return FLAGS_monitor_mode;
  return FLAGS_monitor.find("acc") != std::string::npos ? "max" : "min";
}

absl::StatusOr<std::string> PrepareRunDir() {
  const std::string run_dir = ResolveUserPath(
      FLAGS_run_dir.empty() ? "runs/" + FLAGS_experiment : FLAGS_run_dir);
  std::error_code error;
  std::filesystem::create_directories(run_dir, error);
  if (error) {
    return FlagError("run_dir", absl::StrCat("cannot create '", run_dir,
                                             "': ", error.message()));
  }
  if (access(run_dir.c_str(), W_OK) != 0) {
    return FlagError("run_dir", absl::StrCat("'", run_dir, "' is not writable: ",
                                             std::strerror(errno)));
  }
  return run_dir;
}

// Every flag of this binary with its effective value, for the run's record.
std::map<std::string, std::string> EffectiveFlags() {
  std::map<std::string, std::string> flags;
  std::vector<gflags::CommandLineFlagInfo> all;
  gflags::GetAllFlags(&all);
  for (const gflags::CommandLineFlagInfo& info : all) {
    if (info.filename.find("framework/") == std::string::npos) continue;
    flags[info.name] = info.current_value;
  }
  return flags;
}

// Flags that define what a run computes: resuming with a different value
// would silently continue another experiment.
const std::set<std::string>& RunDefiningFlags() {
  static const auto* flags = new std::set<std::string>{
      "model", "model_options", "classes", "trainer", "dataset", "data_dir", "train_samples",
      "seed", "batch_size", "eval_batch_size", "optimizer", "lr", "momentum", "dampening",
      "nesterov", "weight_decay", "beta1", "beta2", "eps", "amsgrad", "alpha", "centered",
      "scheduler", "step_size", "gamma", "milestones", "t_max", "eta_min", "warmup_epochs",
      "warmup_start_factor", "plateau_factor", "plateau_patience", "plateau_threshold",
      "plateau_threshold_mode", "plateau_cooldown", "plateau_min_lr", "monitor", "monitor_mode"};
  return *flags;
}

// Flags whose change on resume is harmless but worth a log line.
const std::set<std::string>& IgnoredOnResume() {
  static const auto* flags = new std::set<std::string>{
      "resume", "resume_from", "init_from", "map_location", "run_dir", "progress",
      "checkpoint_crash_point"};
  return *flags;
}

absl::Status CheckResumeFlags(const std::string& source,
                              const std::map<std::string, std::string>& saved,
                              const std::map<std::string, std::string>& current) {
  std::vector<std::string> errors;
  for (const auto& [name, value] : current) {
    auto it = saved.find(name);
    const std::string before = it == saved.end() ? "(unset)" : it->second;
    if (before == value) continue;
    const std::string change = absl::StrCat("--", name, ": checkpoint '", before, "', now '", value, "'");
    if (RunDefiningFlags().count(name) > 0) {
      errors.push_back(change);
    } else if (IgnoredOnResume().count(name) == 0) {
      LOG(INFO) << "Resuming with a changed flag " << change;
    }
  }
  if (errors.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "cannot resume from ", source, ": flags that change the model, data or optimisation differ ",
      "from the checkpoint's: ", absl::StrJoin(errors, "; "),
      " (start a new --run_dir, or use --init_from to start from its weights)"));
}

absl::StatusOr<CrashPoint> ParseCrashPoint(const std::string& text) {
  if (text == "none") return CrashPoint::kNone;
  if (text == "after_model_file") return CrashPoint::kAfterModelFile;
  if (text == "before_rename") return CrashPoint::kBeforeRename;
  if (text == "after_rename") return CrashPoint::kAfterRename;
  return FlagError("checkpoint_crash_point",
                   absl::StrCat("'", text, "' is not none, after_model_file, before_rename or after_rename"));
}

OptimizerOptions OptimizerOptionsFromFlags() {
  OptimizerOptions optimizer_options;
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

CheckpointOptions CheckpointOptionsFromFlags(const std::string& directory, CrashPoint crash_point) {
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
  checkpoint_options.crash_point = crash_point;
  return checkpoint_options;
}

// The checkpoint --resume or --resume_from names ("" for a fresh start),
// with its flags checked against this run's before any slow work.
absl::StatusOr<std::string> FindResumePath(const std::string& checkpoint_dir,
                                           const std::map<std::string, std::string>& flags) {
  std::string resume_path;
  if (!FLAGS_resume_from.empty()) {
    resume_path = ResolveUserPath(FLAGS_resume_from);
  } else if (FLAGS_resume) {
    std::optional<std::string> newest = FindNewestValidCheckpoint(checkpoint_dir);
    if (newest.has_value()) {
      resume_path = *newest;
    } else {
      LOG(INFO) << "--resume: no valid checkpoint in " << checkpoint_dir << "; starting fresh";
    }
  }
  if (!resume_path.empty()) {
    absl::StatusOr<CheckpointManifest> manifest = ReadCheckpointManifest(resume_path);
    if (!manifest.ok()) return manifest.status();
    if (absl::Status status = CheckResumeFlags(resume_path, manifest->flags, flags); !status.ok()) {
      return status;
    }
  }
  return resume_path;
}

// The loop that SIGINT/SIGTERM ask to stop; set while training runs.
std::atomic<TrainingLoop*> g_running_loop{nullptr};
std::atomic<int> g_stop_signal{0};

void StopOnSignal(int signal_number) {
  // A second signal means "now": die as the signal's default would.
  if (g_stop_signal.exchange(signal_number) != 0) {
    signal(signal_number, SIG_DFL);
    raise(signal_number);
    return;
  }
  TrainingLoop* loop = g_running_loop.load();
  if (loop != nullptr) loop->RequestStop();
}

absl::Status WriteJsonFile(const std::string& path, const nlohmann::json& json) {
  std::ofstream out(path, std::ios::trunc);
  out << json.dump(2) << "\n";
  out.flush();
  if (!out) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot write ", path, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckFlagFiles(int argc, char** argv) {
  constexpr absl::string_view kFlagFile = "--flagfile=";
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (!absl::ConsumePrefix(&arg, kFlagFile)) continue;
    const std::string path(arg);
    std::ifstream in(path);
    if (!in) {
      return absl::NotFoundError(absl::StrCat("cannot open flag file ", path,
                                              ": ", std::strerror(errno)));
    }
    std::string line;
    int line_number = 0;
    while (std::getline(in, line)) {
      ++line_number;
      absl::string_view text = absl::StripAsciiWhitespace(line);
      if (text.empty() || text[0] == '#') continue;
      if (text[0] != '-') {
        return absl::InvalidArgumentError(absl::StrCat(
            path, ":", line_number, ": '", text,
            "' is not a flag (lines look like --name=value)"));
      }
      while (!text.empty() && text[0] == '-') text.remove_prefix(1);
      std::string name(text.substr(0, text.find('=')));
      gflags::CommandLineFlagInfo info;
      if (gflags::GetCommandLineFlagInfo(name.c_str(), &info)) continue;
      // Boolean flags may be negated as --noname.
      if (absl::StartsWith(name, "no") &&
          gflags::GetCommandLineFlagInfo(name.substr(2).c_str(), &info) &&
          info.type == "bool") {
        continue;
      }
      return absl::InvalidArgumentError(absl::StrCat(
          path, ":", line_number, ": unknown flag --", name,
          " (run with --helpshort to list the flags)"));
    }
  }
  return absl::OkStatus();
}

std::string ResolveUserPath(const std::string& path) {
  std::filesystem::path p(path);
  if (p.is_absolute()) return p.lexically_normal().string();
  const char* base = std::getenv("BUILD_WORKING_DIRECTORY");
  std::filesystem::path root =
      base != nullptr && *base != '\0' ? std::filesystem::path(base)
                                       : std::filesystem::current_path();
  return (root / p).lexically_normal().string();
}

absl::Status RunExperimentFromFlags() {
  // From the start, so that SIGINT/SIGTERM during start-up do not kill the
  // process before it can save.
  struct sigaction action = {};
  action.sa_handler = StopOnSignal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  if (absl::Status status = ValidateFlags(); !status.ok()) return status;
  absl::StatusOr<torch::Device> device = ParseUsableDevice(FLAGS_device);
  if (!device.ok()) return FlagError("device", std::string(device.status().message()));
  absl::StatusOr<DeviceMap> device_map = DeviceMap::Parse(FLAGS_map_location, *device);
  if (!device_map.ok()) {
    return FlagError("map_location", std::string(device_map.status().message()));
  }
  absl::StatusOr<CrashPoint> crash_point = ParseCrashPoint(FLAGS_checkpoint_crash_point);
  if (!crash_point.ok()) return crash_point.status();
  if (FLAGS_resume && !FLAGS_resume_from.empty()) {
    return FlagError("resume_from", "give either --resume or --resume_from, not both");
  }
  if (!FLAGS_init_from.empty() && (FLAGS_resume || !FLAGS_resume_from.empty())) {
    return FlagError("init_from", "cannot be combined with --resume or --resume_from");
  }
  nlohmann::json model_options = nlohmann::json::parse(FLAGS_model_options, nullptr, false);
  if (model_options.is_discarded() || !model_options.is_object()) {
    return FlagError("model_options", absl::StrCat("'", FLAGS_model_options,
                                                   "' is not a JSON object"));
  }
  absl::StatusOr<std::vector<int64_t>> milestones =
      ParseIntList("milestones", FLAGS_milestones);
  if (!milestones.ok()) return milestones.status();

  // Fail on names before the (slow) data load.
  absl::StatusOr<std::unique_ptr<Trainer>> trainer = BuildTrainer(FLAGS_trainer);
  if (!trainer.ok()) return FlagError("trainer", std::string(trainer.status().message()));
  if (!ModelRegistry().Contains(FLAGS_model)) {
    return FlagError("model", std::string(ModelRegistry().Find(FLAGS_model).status().message()));
  }
  if (!OptimizerRegistry().Contains(FLAGS_optimizer)) {
    return FlagError("optimizer",
                     std::string(OptimizerRegistry().Find(FLAGS_optimizer).status().message()));
  }
  if (!SchedulerRegistry().Contains(FLAGS_scheduler)) {
    return FlagError("scheduler",
                     std::string(SchedulerRegistry().Find(FLAGS_scheduler).status().message()));
  }
  absl::StatusOr<std::string> run_dir = PrepareRunDir();
  if (!run_dir.ok()) return run_dir.status();
  absl::StatusOr<std::unique_ptr<RunDirectoryLock>> lock = RunDirectoryLock::Acquire(*run_dir);
  if (!lock.ok()) return lock.status();
  const std::map<std::string, std::string> flags = EffectiveFlags();

  const std::string checkpoint_dir = *run_dir + "/checkpoints";
  absl::StatusOr<std::string> resume_path = FindResumePath(checkpoint_dir, flags);
  if (!resume_path.ok()) return resume_path.status();

  if (FLAGS_threads > 0) at::set_num_threads(FLAGS_threads);
  SeedGlobalGenerator(FLAGS_seed);

  DataOptions data_options;
  data_options.data_dir = FLAGS_data_dir.empty() ? "" : ResolveUserPath(FLAGS_data_dir);
  data_options.seed = FLAGS_seed;
  absl::StatusOr<DataSplits> data = LoadDataset(FLAGS_dataset, data_options);
  if (!data.ok()) return data.status();
  const Dataset train = data->train.Head(FLAGS_train_samples);
  if (train.size() == 0) return FlagError("dataset", "the training set is empty");
  if (absl::Status status = (*trainer)->CheckData(train); !status.ok()) return status;

  ModelSpec spec;
  spec.name = FLAGS_model;
  spec.config = model_options;
  spec.config[kInputChannelsKey] = train.inputs.size(1);
  spec.config[kInputHeightKey] = train.inputs.size(2);
  spec.config[kInputWidthKey] = train.inputs.size(3);
  if (FLAGS_classes != 0 && FLAGS_classes < train.classes) {
    return FlagError("classes", absl::StrCat(FLAGS_classes, " is fewer than the ",
                                             train.classes, " classes of the data set"));
  }
  spec.config[kClassesKey] = FLAGS_classes != 0 ? FLAGS_classes : train.classes;
  absl::StatusOr<std::shared_ptr<Model>> model = BuildModel(spec);
  if (!model.ok()) return model.status();
  (*model)->to(*device);
  LOG(INFO) << "Model " << spec.ToJson().dump() << ": "
            << CountParameters(**model) << " parameters";

  absl::StatusOr<std::unique_ptr<torch::optim::Optimizer>> optimizer =
      BuildOptimizer(OptimizerOptionsFromFlags(), (*model)->parameters());
  if (!optimizer.ok()) return optimizer.status();

  absl::StatusOr<std::unique_ptr<LrScheduler>> scheduler =
      BuildScheduler(SchedulerOptionsFromFlags(*milestones), **optimizer, FLAGS_epochs);
  if (!scheduler.ok()) return scheduler.status();

  TrainingLoop loop(LoopOptionsFromFlags(*device), **model, **trainer, **optimizer,
                    scheduler->get(), train, data->valid);

  if (!FLAGS_init_from.empty()) {
    const std::string path = ResolveUserPath(FLAGS_init_from);
    absl::StatusOr<std::vector<NamedTensor>> weights = ReadWeights(path, *device_map);
    if (!weights.ok()) return FlagError("init_from", std::string(weights.status().message()));
    if (absl::Status status = LoadStateDict(**model, *weights, /*strict=*/true, path);
        !status.ok()) {
      return FlagError("init_from", std::string(status.message()));
    }
    LOG(INFO) << "Initialised the model's weights from " << path;
  }

  absl::StatusOr<std::unique_ptr<CheckpointManager>> checkpoints =
      CheckpointManager::Create(CheckpointOptionsFromFlags(checkpoint_dir, *crash_point), spec, flags);
  if (!checkpoints.ok()) return checkpoints.status();

  if (!resume_path->empty()) {
    // Weights are read straight into the model just built.
    std::map<std::string, at::Tensor> destinations;
    for (NamedTensor& named : StateDict(**model)) destinations[named.name] = named.tensor;
    absl::StatusOr<TrainingState> state = ReadCheckpoint(*resume_path, *device_map, &destinations);
    if (!state.ok()) return state.status();
    if (absl::Status status = RestoreTrainingState(*state, loop, *resume_path); !status.ok()) {
      return status;
    }
    (*checkpoints)->SetResumedFrom(*resume_path, state->position.global_step);
    LOG(INFO) << "Resumed from " << *resume_path << " at epoch " << state->position.epoch + 1
              << ", batch " << state->position.batch << " (global step "
              << state->position.global_step << ")";
  }

  nlohmann::json flags_json(flags);
  if (absl::Status status = WriteJsonFile(*run_dir + "/flags.json", flags_json); !status.ok()) {
    return FlagError("run_dir", std::string(status.message()));
  }
  MetricsLog metrics_log(*run_dir + "/metrics.jsonl");
  if (absl::Status status = metrics_log.Reset(loop.history()); !status.ok()) return status;
  loop.AddObserver(&metrics_log);
  loop.AddObserver(checkpoints->get());

  LOG(INFO) << "Experiment '" << FLAGS_experiment << "': " << train.size()
            << " training and " << data->valid.size() << " validation samples, "
            << loop.batches_per_epoch() << " batches per epoch, "
            << at::get_num_threads() << " thread(s), device " << device->str()
            << "; run directory " << *run_dir;
  g_running_loop.store(&loop);
  // A signal during start-up: stop after the first step, with a checkpoint.
  if (g_stop_signal.load() != 0) loop.RequestStop();
  absl::Status run_status = loop.Run();
  g_running_loop.store(nullptr);
  if (!run_status.ok()) return run_status;
  if (g_stop_signal.load() != 0 && !loop.finished()) {
    LOG(INFO) << "Stopped by signal " << g_stop_signal.load() << " (" << strsignal(g_stop_signal.load())
              << ") at global step " << loop.position().global_step << "; saved "
              << (*checkpoints)->last_saved() << "; continue with --resume";
    return absl::OkStatus();
  }
  if (!loop.history().empty()) {
    LOG(INFO) << "Finished " << loop.history().size() << " epoch(s); last epoch: "
              << loop.history().back().ToJson().dump();
  }
  return absl::OkStatus();
}

int ExperimentMain(int argc, char** argv) {
  FLAGS_logtostderr = true;
  google::InitGoogleLogging(argv[0]);
  gflags::SetUsageMessage(
      "Trains a model as the flags (usually an experiment's flag file) say.");
  if (absl::Status status = CheckFlagFiles(argc, argv); !status.ok()) {
    std::fprintf(stderr, "ERROR: %s\n", std::string(status.message()).c_str());
    return 2;
  }
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  if (argc > 1) {
    std::fprintf(stderr, "ERROR: unexpected argument '%s' (flags look like --name=value)\n",
                 argv[1]);
    return 2;
  }
  absl::Status status = RunExperimentFromFlags();
  if (!status.ok()) {
    LOG(ERROR) << status.message();
    return 1;
  }
  return 0;
}

}  // namespace framework
