#include "framework/experiment/experiment.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>

#include <ATen/Parallel.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "framework/experiment/flag_error.h"
#include "framework/checkpoint/checkpoint.h"
#include "framework/checkpoint/checkpoint_manager.h"
#include "framework/checkpoint/pytorch_training_checkpoint.h"
#include "framework/core/blas_report.h"
#include "framework/core/random_state.h"
#include "framework/data/dataset.h"
#include "framework/distributed/communicator.h"
#include "framework/experiment/experiment_settings.h"
#include "framework/experiment/resume_policy.h"
#include "framework/experiment/run_directory.h"
#include "framework/experiment/run_start.h"
#include "framework/experiment/stop_signals.h"
#include "framework/metrics/metrics_log.h"
#include "framework/metrics/training_events.h"
#include "framework/model/model.h"
#include "framework/model/state_dict.h"
#include "framework/optim/lr_scheduler.h"
#include "framework/optim/optimizer.h"
#include "framework/train/callback.h"
#include "framework/train/trainer.h"
#include "framework/train/training_loop.h"
#include "framework/weights/weights_file.h"
#include "glog/logging.h"
#include "nlohmann/json.hpp"

namespace framework {
namespace {

// --model with --model_options, and what the data tells it: each fact fills
// in the model option of its name, where the model declares one. A fact is
// a capacity the model needs (classes, vocabulary, window length): a value
// the user set may exceed it, never fall short of it.
absl::StatusOr<ModelSpec> ModelSpecFor(const ExperimentSettings& settings, const Dataset& train) {
  ModelSpec spec;
  spec.name = settings.model;
  spec.config = settings.model_options;
  nlohmann::json facts = train.ModelFacts();
  if (facts.contains(kClassesKey)) {
    const int64_t classes = facts[kClassesKey].get<int64_t>();
    if (settings.classes != 0 && settings.classes < classes) {
      return FlagError("classes", absl::StrCat(settings.classes, " is fewer than the ", classes,
                                               " classes of the data set"));
    }
    if (settings.classes != 0) facts[kClassesKey] = settings.classes;
  }
  absl::StatusOr<ModelEntry> entry = ModelRegistry().Find(settings.model);
  if (!entry.ok()) return entry.status();
  for (auto fact = facts.begin(); fact != facts.end(); ++fact) {
    if (entry->declares_options() &&
        std::none_of(entry->options.begin(), entry->options.end(),
                     [&](const OptionSpec& option) { return option.name == fact.key(); })) {
      continue;
    }
    auto given = settings.model_options.find(fact.key());
    if (given == settings.model_options.end() || IsDataSetOption(fact.key())) {
      spec.config[fact.key()] = fact.value();
      continue;
    }
    if (given->is_number() && fact.value().is_number() &&
        given->get<double>() < fact.value().get<double>()) {
      return FlagError("model_options",
                       absl::StrCat("option '", fact.key(), "' of model '", settings.model,
                                    "' is ", given->dump(), ", less than the data set's ",
                                    fact.value().dump()));
    }
  }
  return spec;
}

// The run-defining flags and options, typed, for TensorBoard's HParams tab.
std::vector<HParam> RunDefiningHParams(const std::map<std::string, std::string>& record) {
  std::vector<HParam> hparams;
  for (const auto& [name, value] : record) {
    if (PolicyOf(name) != ResumePolicy::kRunDefining || value.empty()) continue;
    HParam hparam;
    hparam.name = name;
    if (value == "true" || value == "false") {
      hparam.type = HParam::Type::kBool;
      hparam.boolean = value == "true";
    } else if (absl::SimpleAtod(value, &hparam.number)) {
      hparam.type = HParam::Type::kNumber;
    } else {
      hparam.text = value;
    }
    hparams.push_back(hparam);
  }
  return hparams;
}

// What the run's optimizer and schedule are, for PyTorch's dicts.
OptimisationRecord OptimisationRecordOf(const ExperimentSettings& settings) {
  OptimisationRecord run;
  run.optimizer = settings.optimizer;
  run.optimizer_options = settings.optimizer_options.json();
  run.decayed_parameters = settings.decayed_parameters;
  run.scheduler = settings.scheduler;
  run.scheduler_options = settings.scheduler_options.json();
  run.warmup_epochs = settings.schedule.warmup_epochs;
  run.epochs = settings.schedule.epochs;
  return run;
}

// One run of an experiment, built and started in named steps. Members are
// declared in the order they must be destroyed in reverse: the events file
// outlives the checkpoint manager's background saves, which report to it.
class ExperimentRun {
 public:
  ExperimentRun(const ExperimentSettings& settings, Communicator* communicator)
      : settings_(settings),
        communicator_(communicator),
        rank_zero_(communicator == nullptr || communicator->rank() == 0) {}

  // Rank 0 owns the run directory (created, checked, locked); the others
  // never write to it.
  absl::Status ClaimRunDirectory();
  // --resume_from a file: PyTorch's training-checkpoint dict (ours are
  // directories), read once, before any slow work; otherwise rank 0 lists
  // the checkpoints to try.
  absl::Status FindWhereToStart();
  absl::Status BuildComponents();
  // The selected callbacks, observing the loop in their order.
  absl::Status BuildCallbacks();
  // How much optimizer state this rank holds, measured: with
  // --shard_optimizer_state, its share.
  void LogOptimizerStateSize() const;
  // --init_from (rank 0: the others get its weights by broadcast), then a
  // PyTorch checkpoint, before anything is written to the run directory so
  // that a refused file changes nothing there.
  absl::Status InitialiseWeights();
  absl::Status CreateCheckpointManager();
  absl::Status ResumeOrStartFresh();
  // Data parallel: every rank starts where rank 0 does. `shared` says the
  // agreement was reached (or failed), so rank 0 need not report a failure.
  absl::Status AgreeWithOtherRanks(bool& shared);
  // Only rank 0 writes flags.json, metrics and curves.
  absl::Status OpenRunRecords();
  absl::Status Train();
  bool stopped_for_requeue() const { return stopped_for_requeue_; }

 private:
  // `error` (which stopped the loop) with what is left to continue from.
  absl::Status StoppedBy(const absl::Status& error);
  absl::Status LoadInitialWeights(Model& model);
  absl::Status RebuildInitialWeights();
  void SeedRankGenerator();

  const ExperimentSettings& settings_;
  Communicator* const communicator_;
  const bool rank_zero_;

  std::unique_ptr<RunDirectoryLock> lock_;
  std::optional<PyTorchTrainingCheckpoint> pytorch_checkpoint_;
  std::vector<std::string> resume_candidates_;
  std::unique_ptr<TrainingEvents> events_;
  std::unique_ptr<MetricsLog> metrics_log_;
  std::unique_ptr<Trainer> trainer_;
  std::optional<DataSplits> data_;
  std::optional<ModelSpec> spec_;
  at::Tensor generator_before_model_;
  std::shared_ptr<Model> model_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::unique_ptr<LrScheduler> scheduler_;
  std::vector<std::unique_ptr<Callback>> callbacks_;  // observed by loop_
  std::unique_ptr<TrainingLoop> loop_;
  std::unique_ptr<CheckpointManager> checkpoints_;
  std::string resumed_from_;  // by rank 0
  bool stopped_for_requeue_ = false;
};

absl::Status ExperimentRun::ClaimRunDirectory() {
  if (!rank_zero_) return absl::OkStatus();
  if (absl::Status status = PrepareRunDirectory(settings_.run_dir); !status.ok()) {
    return FlagError("run_dir", std::string(status.message()));
  }
  absl::StatusOr<std::unique_ptr<RunDirectoryLock>> acquired =
      RunDirectoryLock::Acquire(settings_.run_dir);
  if (!acquired.ok()) return acquired.status();
  lock_ = *std::move(acquired);
  return absl::OkStatus();
}

absl::Status ExperimentRun::FindWhereToStart() {
  std::error_code file_error;
  if (!settings_.resume.checkpoint.empty() &&
      std::filesystem::is_regular_file(settings_.resume.checkpoint, file_error)) {
    absl::StatusOr<PyTorchTrainingCheckpoint> read =
        ReadPyTorchTrainingCheckpoint(settings_.resume.checkpoint, settings_.device_map);
    if (!read.ok()) return FlagError("resume_from", read.status().message());
    pytorch_checkpoint_ = *std::move(read);
    return absl::OkStatus();
  }
  // Rank 0 chooses the checkpoint; it tells the others which.
  if (!rank_zero_) return absl::OkStatus();
  absl::StatusOr<std::vector<std::string>> candidates = FindResumeCandidates(
      settings_.resume, settings_.checkpoints.directory, settings_.record);
  if (!candidates.ok()) return candidates.status();
  resume_candidates_ = *std::move(candidates);
  return absl::OkStatus();
}

void ExperimentRun::SeedRankGenerator() {
  // Each rank draws its own dropout masks; the weights every rank starts
  // from are rank 0's (the loop broadcasts them).
  if (communicator_ != nullptr) {
    SeedGlobalGenerator(RankSeed(settings_.seed, communicator_->rank(), /*global_step=*/0));
  }
}

absl::Status ExperimentRun::BuildComponents() {
  if (!ModelRegistry().Contains(settings_.model)) {
    return FlagError("model", std::string(ModelRegistry().Find(settings_.model).status().message()));
  }
  absl::StatusOr<std::unique_ptr<Trainer>> trainer = BuildTrainer(settings_.trainer);
  if (!trainer.ok()) return FlagError("trainer", std::string(trainer.status().message()));
  trainer_ = *std::move(trainer);

  if (settings_.threads > 0) at::set_num_threads(settings_.threads);
  LogBlasAtStartup();
  SeedGlobalGenerator(settings_.seed);

  DataOptions data_options;
  data_options.data_dir = settings_.data_dir;
  data_options.seed = settings_.seed;
  data_options.cache_dir = settings_.run_dir + "/data_cache";
  data_options.skip_bad_samples = settings_.skip_bad_samples;
  data_options.options = settings_.dataset_options;
  absl::StatusOr<DataSplits> data = LoadDataset(settings_.dataset, data_options);
  if (!data.ok()) return data.status();
  data->train.skip_bad_samples = data->valid.skip_bad_samples = settings_.skip_bad_samples;
  data->train = data->train.Head(settings_.train_samples);
  if (data->train.size() == 0) return FlagError("dataset", "the training set is empty");
  absl::StatusOr<Dataset> train = data->train.WithTransforms(
      settings_.transforms, TransformSeed(settings_.seed, /*training=*/true), "transforms");
  if (!train.ok()) return train.status();
  absl::StatusOr<Dataset> valid = data->valid.WithTransforms(
      settings_.valid_transforms, TransformSeed(settings_.seed, /*training=*/false),
      "valid_transforms");
  if (!valid.ok()) return valid.status();
  if (!settings_.transforms->empty() || !settings_.valid_transforms->empty()) {
    const nlohmann::json train_facts = train->ModelFacts(), valid_facts = valid->ModelFacts();
    for (const char* key : {kInputChannelsKey, kInputHeightKey, kInputWidthKey}) {
      if (train_facts.value(key, nlohmann::json()) != valid_facts.value(key, nlohmann::json())) {
        return FlagError(
            "valid_transforms",
            absl::StrCat("validation samples would be ", valid_facts.dump(),
                         " but training samples are ", train_facts.dump(),
                         "; the model takes one shape (crop or resize both alike)"));
      }
    }
  }
  data->train = *std::move(train);
  data->valid = *std::move(valid);
  if (absl::Status status = trainer_->CheckData(data->train); !status.ok()) return status;
  data_ = *std::move(data);

  absl::StatusOr<ModelSpec> spec = ModelSpecFor(settings_, data_->train);
  if (!spec.ok()) return spec.status();
  spec_ = *spec;
  // Where the model's initial weights come from, should a failed resume
  // need them again.
  generator_before_model_ = GlobalGeneratorState();
  absl::StatusOr<std::shared_ptr<Model>> model = BuildModel(*spec_);
  if (!model.ok()) return model.status();
  model_ = *model;
  model_->to(settings_.loop.device);
  SeedRankGenerator();
  LOG(INFO) << "Model " << spec_->ToJson().dump() << ": " << CountParameters(*model_)
            << " parameters";

  absl::StatusOr<std::unique_ptr<torch::optim::Optimizer>> optimizer =
      BuildOptimizer(settings_.optimizer, settings_.optimizer_options, model_->parameters(),
                     settings_.decayed_parameters);
  if (!optimizer.ok()) return FlagError("optimizer", optimizer.status().message());
  optimizer_ = *std::move(optimizer);
  absl::StatusOr<std::unique_ptr<LrScheduler>> scheduler = BuildScheduler(
      settings_.scheduler, settings_.scheduler_options, *optimizer_, settings_.schedule);
  if (!scheduler.ok()) return FlagError("scheduler", scheduler.status().message());
  scheduler_ = *std::move(scheduler);

  LoopOptions loop_options = settings_.loop;
  loop_options.communicator = communicator_;
  loop_ = std::make_unique<TrainingLoop>(loop_options, *model_, *trainer_, *optimizer_,
                                         scheduler_.get(), data_->train, data_->valid);
  return BuildCallbacks();
}

void ExperimentRun::LogOptimizerStateSize() const {
  absl::StatusOr<int64_t> bytes = OptimizerStateBytes(*optimizer_);
  if (!bytes.ok()) return;
  std::string how = " (not sharded)";
  if (const OptimizerSharding* sharding = loop_->optimizer_sharding(); sharding != nullptr) {
    how = absl::StrCat(" (sharded: its parameters are ", sharding->OwnedParameterBytes(), " of ",
                       sharding->ParameterBytes(), " bytes)");
  } else if (settings_.loop.shard_optimizer_state) {
    how = " (not sharded: --shard_optimizer_state shards over more than one rank, and this run "
          "has one)";
  }
  LOG(INFO) << "Optimizer state on rank " << loop_->rank() << ": " << *bytes << " bytes" << how;
}

absl::Status ExperimentRun::BuildCallbacks() {
  for (const SelectedCallback& selected : settings_.callbacks) {
    CallbackContext context;
    context.name = selected.name;
    context.options = selected.options;
    context.monitor = settings_.loop.monitor;
    context.monitor_maximizes = settings_.schedule.monitor_maximizes;
    context.build_model = [this]() -> absl::StatusOr<std::shared_ptr<Model>> {
      const at::Tensor generator = GlobalGeneratorState();
      absl::StatusOr<std::shared_ptr<Model>> model = BuildModel(*spec_);
      RestoreGlobalGeneratorState(generator);
      if (model.ok()) (*model)->to(settings_.loop.device);
      return model;
    };
    absl::StatusOr<std::unique_ptr<Callback>> callback = BuildCallback(context);
    if (!callback.ok()) return FlagError("callbacks", callback.status().message());
    callbacks_.push_back(*std::move(callback));
    loop_->AddCallback(selected.name, callbacks_.back().get());
  }
  if (!settings_.callbacks.empty()) {
    LOG(INFO) << "Callbacks: " << settings_.record.at("callbacks");
  }
  // Before any training: the schedule, retention and early stopping follow it.
  const std::vector<std::string> values = loop_->RecordedValues();
  if (std::find(values.begin(), values.end(), settings_.loop.monitor) == values.end()) {
    return FlagError("monitor", absl::StrCat("'", settings_.loop.monitor,
                                             "' is not a value this run records; it records ",
                                             absl::StrJoin(values, ", ")));
  }
  return absl::OkStatus();
}

absl::Status ExperimentRun::CreateCheckpointManager() {
  CheckpointOptions checkpoint_options = settings_.checkpoints;
  checkpoint_options.communicator = communicator_;
  checkpoint_options.on_saved = [this](int64_t step, double seconds) {
    if (events_ != nullptr) events_->AddScalar(step, "checkpoint/save_seconds", seconds);
  };
  absl::StatusOr<std::unique_ptr<CheckpointManager>> checkpoints =
      CheckpointManager::Create(std::move(checkpoint_options), *spec_, settings_.record);
  if (!checkpoints.ok()) return checkpoints.status();
  checkpoints_ = *std::move(checkpoints);
  return absl::OkStatus();
}

absl::Status ExperimentRun::LoadInitialWeights(Model& model) {
  const std::string& path = settings_.init_from;
  absl::StatusOr<std::vector<NamedTensor>> weights = ReadWeights(path, settings_.device_map);
  if (!weights.ok()) return FlagError("init_from", std::string(weights.status().message()));
  if (absl::Status status = LoadStateDict(model, *weights, /*strict=*/true, path); !status.ok()) {
    return FlagError("init_from", std::string(status.message()));
  }
  LOG(INFO) << "Initialised the model's weights from " << path;
  return absl::OkStatus();
}

absl::Status ExperimentRun::InitialiseWeights() {
  if (!settings_.init_from.empty() && rank_zero_) {
    if (absl::Status status = LoadInitialWeights(*model_); !status.ok()) return status;
  }
  if (!pytorch_checkpoint_.has_value()) return absl::OkStatus();
  return ResumeFromPyTorch(*pytorch_checkpoint_, settings_.resume.checkpoint,
                           OptimisationRecordOf(settings_), settings_.pytorch_epoch, *loop_);
}

// The same weights as at the first build, and the generator where that build
// left it: exactly a fresh start.
absl::Status ExperimentRun::RebuildInitialWeights() {
  RestoreGlobalGeneratorState(generator_before_model_);
  absl::StatusOr<std::shared_ptr<Model>> fresh = BuildModel(*spec_);
  if (!fresh.ok()) return fresh.status();
  (*fresh)->to(settings_.loop.device);
  if (absl::Status s = LoadStateDict(*model_, StateDict(**fresh), true, "the rebuilt model");
      !s.ok()) {
    return s;
  }
  SeedRankGenerator();
  return settings_.init_from.empty() ? absl::OkStatus() : LoadInitialWeights(*model_);
}

absl::Status ExperimentRun::ResumeOrStartFresh() {
  if (resume_candidates_.empty()) return absl::OkStatus();
  return ResumeFromCandidates(resume_candidates_,
                              /*may_fall_back=*/settings_.resume.checkpoint.empty(),
                              settings_.device_map, *model_, *loop_, *checkpoints_,
                              [this] { return RebuildInitialWeights(); }, &resumed_from_);
}

absl::Status ExperimentRun::AgreeWithOtherRanks(bool& shared) {
  if (communicator_ == nullptr) return absl::OkStatus();
  shared = true;
  return AgreeOnStart(*communicator_, resumed_from_, settings_.device_map, *model_, *loop_,
                      *checkpoints_);
}

absl::Status ExperimentRun::OpenRunRecords() {
  if (rank_zero_) {
    if (absl::Status status = WriteFlagsRecord(settings_.run_dir, settings_.record); !status.ok()) {
      return FlagError("run_dir", std::string(status.message()));
    }
    metrics_log_ = std::make_unique<MetricsLog>(settings_.run_dir + "/metrics.jsonl");
    if (absl::Status status = metrics_log_->Reset(loop_->history()); !status.ok()) return status;
    loop_->AddObserver(metrics_log_.get());
    absl::StatusOr<std::unique_ptr<TrainingEvents>> opened = TrainingEvents::Open(
        settings_.run_dir, settings_.log_every_steps, loop_->position().global_step);
    if (!opened.ok()) return FlagError("run_dir", std::string(opened.status().message()));
    events_ = *std::move(opened);
    std::vector<std::string> metric_tags;
    for (const std::string& value : loop_->RecordedValues()) {
      if (value.rfind("valid_", 0) == 0) metric_tags.push_back("valid/" + value.substr(6));
    }
    // Once, when the run starts: a resumed segment's files follow the first's.
    if (loop_->position().global_step == 0) {
      if (absl::Status status = events_->WriteHParams(RunDefiningHParams(settings_.record),
                                                      metric_tags);
          !status.ok()) {
        return FlagError("run_dir", std::string(status.message()));
      }
    }
    // Before the checkpoints: a step's points are written before its save.
    loop_->AddObserver(events_.get());
  }
  loop_->AddObserver(checkpoints_.get());
  return absl::OkStatus();
}

absl::Status ExperimentRun::Train() {
  LOG(INFO) << "Experiment '" << settings_.experiment << "': " << data_->train.size()
            << " training and " << data_->valid.size() << " validation samples, "
            << loop_->batches_per_epoch() << " batches per epoch, " << at::get_num_threads()
            << " thread(s), device " << settings_.loop.device.str() << "; run directory "
            << settings_.run_dir;
  SetLoopToStop(loop_.get());
  absl::Status run_status = loop_->Run();
  SetLoopToStop(nullptr);
  LogOptimizerStateSize();
  if (!loop_->position().ended_early.empty()) {
    LOG(INFO) << "Training ended after epoch " << loop_->position().epoch << " of "
              << settings_.loop.epochs << ": " << loop_->position().ended_early << "; saved "
              << (rank_zero_ ? checkpoints_->last_saved() : std::string("(by rank 0)"));
  }
  if (!run_status.ok() && absl::StartsWith(run_status.message(), "the monitored metric")) {
    return FlagError("monitor", run_status.message());
  }
  if (!run_status.ok()) return StoppedBy(run_status);
  if (!loop_->finished() && loop_->checkpoint_due() && settings_.exit_on_checkpoint_signal) {
    // Every rank knows: the vote that asked for the checkpoint also stopped.
    LOG(INFO) << "Saved a checkpoint at global step " << loop_->position().global_step
              << " for --checkpoint_signal "
              << (CheckpointSignalsReceived() > 0 ? "(received here)" : "(sent to another rank)")
              << " and stopped (--on_checkpoint_signal=exit): "
              << (rank_zero_ ? checkpoints_->last_saved() : std::string("(by rank 0)"))
              << "; exiting with status " << kRequeueExitCode
              << " for a requeue; continue with --resume";
    stopped_for_requeue_ = true;
    return absl::OkStatus();
  }
  if (!loop_->finished()) {
    // A data-parallel run stops on every rank when any rank is signalled.
    LOG(INFO) << (StopSignal() != 0
                      ? absl::StrCat("Stopped by signal ", StopSignal(), " (",
                                     strsignal(StopSignal()), ")")
                      : std::string("Stopped because another rank was signalled"))
              << " at global step " << loop_->position().global_step << "; saved "
              << (rank_zero_ ? checkpoints_->last_saved() : std::string("(by rank 0)"))
              << "; continue with --resume";
    return absl::OkStatus();
  }
  if (!loop_->history().empty()) {
    LOG(INFO) << "Finished " << loop_->history().size() << " epoch(s); last epoch: "
              << loop_->history().back().ToJson().dump();
  }
  return absl::OkStatus();
}

// The rule for a run file that cannot be written (docs/checkpoints.md): a
// failed interval save is logged and training goes on; anything else that
// fails (a log line, the final save) stops the run here, and what was
// committed before stays for --resume.
absl::Status ExperimentRun::StoppedBy(const absl::Status& error) {
  std::string resume = "rank 0 names the checkpoint to resume from";
  if (rank_zero_) {
    // An asynchronous save still in flight may yet commit.
    if (absl::Status pending = checkpoints_->Wait(); !pending.ok()) LOG(ERROR) << pending.message();
    resume = checkpoints_->last_saved().empty()
                 ? std::string("no checkpoint of this run was committed; a rerun starts afresh")
                 : absl::StrCat("the last committed checkpoint, ", checkpoints_->last_saved(),
                                ", is intact: --resume continues from it");
  }
  return absl::Status(error.code(), absl::StrCat(error.message(), " (training stopped at step ",
                                                 loop_->position().global_step, "; ", resume,
                                                 ")"));
}

// Joins the other ranks of a data-parallel run; ranks other than 0 then log
// warnings and errors only (unless --log_all_ranks).
absl::StatusOr<std::unique_ptr<Communicator>> JoinRanks(const ExperimentSettings& settings) {
  CommunicatorOptions options;
  options.timeout = settings.dist_timeout;
  options.device = settings.loop.device;
  options.shared_memory = settings.shared_memory_all_reduce;
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<std::unique_ptr<Communicator>> communicator =
      Communicator::Connect(settings.launch, options);
  if (!communicator.ok() && !settings.loop.device.is_cpu() &&
      communicator.status().code() == absl::StatusCode::kFailedPrecondition) {
    return FlagError("device", communicator.status().message());
  }
  if (!communicator.ok()) return communicator.status();
  const bool quiet = settings.launch.rank != 0 && !settings.log_all_ranks;
  LOG(INFO) << "Data parallel: " << settings.launch.Describe() << "; all "
            << settings.launch.world_size << " ranks joined in "
            << absl::StrFormat("%.1f s", std::chrono::duration<double>(
                                             std::chrono::steady_clock::now() - start)
                                             .count())
            << (quiet ? "; from here on this rank logs warnings and errors only (--log_all_ranks)"
                      : "");
  if (quiet) FLAGS_minloglevel = google::GLOG_WARNING;
  return communicator;
}

absl::StatusOr<RunEnd> RunExperiment(const ExperimentSettings& settings,
                                     Communicator* communicator, bool& start_shared) {
  ExperimentRun run(settings, communicator);
  for (const std::function<absl::Status()>& step : std::vector<std::function<absl::Status()>>{
           [&] { return run.ClaimRunDirectory(); },
           [&] { return run.FindWhereToStart(); },
           [&] { return run.BuildComponents(); },
           [&] { return run.InitialiseWeights(); },
           [&] { return run.CreateCheckpointManager(); },
           [&] { return run.ResumeOrStartFresh(); },
           [&] { return run.AgreeWithOtherRanks(start_shared); },
           [&] { return run.OpenRunRecords(); },
           [&] { return run.Train(); },
       }) {
    if (absl::Status status = step(); !status.ok()) return status;
  }
  return run.stopped_for_requeue() ? RunEnd::kStoppedForRequeue : RunEnd::kDone;
}

}  // namespace

absl::StatusOr<RunEnd> RunExperimentFromFlags() {
  absl::StatusOr<ExperimentSettings> settings = ReadExperimentSettings();
  if (!settings.ok()) return settings.status();
  if (settings->checkpoint_signal != 0) {
    InstallCheckpointSignalHandler(settings->checkpoint_signal,
                                   settings->exit_on_checkpoint_signal);
  }
  std::unique_ptr<Communicator> communicator;
  if (settings->launch.distributed()) {
    absl::StatusOr<std::unique_ptr<Communicator>> joined = JoinRanks(*settings);
    if (!joined.ok()) return joined.status();
    communicator = *std::move(joined);
  }
  bool start_shared = false;
  absl::StatusOr<RunEnd> end = RunExperiment(*settings, communicator.get(), start_shared);
  if (!end.ok() && communicator != nullptr && communicator->rank() == 0 && !start_shared) {
    ReportStartFailure(*communicator, end.status());
  }
  return end;
}

}  // namespace framework
