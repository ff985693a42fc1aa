#include "framework/experiment.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>

#include <ATen/Parallel.h>
#include <torch/cuda.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "framework/dataset.h"
#include "framework/lr_scheduler.h"
#include "framework/metrics_log.h"
#include "framework/model.h"
#include "framework/optimizer.h"
#include "framework/random_state.h"
#include "framework/trainer.h"
#include "framework/training_loop.h"
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

absl::StatusOr<torch::Device> ParseDevice(const std::string& text) {
  try {
    torch::Device device(text);
    if (device.is_cuda() && !torch::cuda::is_available()) {
      return FlagError("device", absl::StrCat(
          "'", text, "' needs CUDA, which this LibTorch build or machine does "
          "not provide (use --device=cpu)"));
    }
    if (device.is_cuda() && device.has_index() &&
        device.index() >= static_cast<int>(torch::cuda::device_count())) {
      return FlagError("device", absl::StrCat("'", text, "' does not exist; ",
                                              torch::cuda::device_count(),
                                              " CUDA device(s) visible"));
    }
    if (!device.is_cpu() && !device.is_cuda()) {
      return FlagError("device", absl::StrCat("'", text, "' is not supported; use cpu or cuda[:N]"));
    }
    return device;
  } catch (const std::exception&) {
    return FlagError("device", absl::StrCat("'", text,
                                            "' is not a device (cpu, cuda, cuda:N)"));
  }
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
nlohmann::json EffectiveFlags() {
  nlohmann::json flags = nlohmann::json::object();
  std::vector<gflags::CommandLineFlagInfo> all;
  gflags::GetAllFlags(&all);
  for (const gflags::CommandLineFlagInfo& info : all) {
    if (info.filename.find("framework/") == std::string::npos) continue;
    flags[info.name] = info.current_value;
  }
  return flags;
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
  if (absl::Status status = ValidateFlags(); !status.ok()) return status;
  absl::StatusOr<torch::Device> device = ParseDevice(FLAGS_device);
  if (!device.ok()) return device.status();
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
  absl::StatusOr<std::unique_ptr<torch::optim::Optimizer>> optimizer =
      BuildOptimizer(optimizer_options, (*model)->parameters());
  if (!optimizer.ok()) return optimizer.status();

  SchedulerOptions scheduler_options;
  scheduler_options.name = FLAGS_scheduler;
  scheduler_options.step_size = FLAGS_step_size;
  scheduler_options.gamma = FLAGS_gamma;
  scheduler_options.milestones = *milestones;
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
  absl::StatusOr<std::unique_ptr<LrScheduler>> scheduler =
      BuildScheduler(scheduler_options, **optimizer, FLAGS_epochs);
  if (!scheduler.ok()) return scheduler.status();

  LoopOptions loop_options;
  loop_options.epochs = FLAGS_epochs;
  loop_options.batch_size = FLAGS_batch_size;
  loop_options.eval_batch_size = FLAGS_eval_batch_size;
  loop_options.seed = FLAGS_seed;
  loop_options.log_interval = FLAGS_log_interval;
  loop_options.device = *device;
  loop_options.monitor = FLAGS_monitor;
  loop_options.progress_bar =
      FLAGS_progress == "always" || (FLAGS_progress == "auto" && isatty(STDERR_FILENO));
  TrainingLoop loop(loop_options, **model, **trainer, **optimizer,
                    scheduler->get(), train, data->valid);

  if (absl::Status status = WriteJsonFile(*run_dir + "/flags.json", EffectiveFlags());
      !status.ok()) {
    return FlagError("run_dir", std::string(status.message()));
  }
  MetricsLog metrics_log(*run_dir + "/metrics.jsonl");
  if (absl::Status status = metrics_log.Reset({}); !status.ok()) return status;
  loop.AddObserver(&metrics_log);

  LOG(INFO) << "Experiment '" << FLAGS_experiment << "': " << train.size()
            << " training and " << data->valid.size() << " validation samples, "
            << loop.batches_per_epoch() << " batches per epoch, "
            << at::get_num_threads() << " thread(s), device " << device->str()
            << "; run directory " << *run_dir;
  if (absl::Status status = loop.Run(); !status.ok()) return status;
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
