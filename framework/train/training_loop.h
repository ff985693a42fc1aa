// The framework's training loop: epochs, batch order, backward and optimizer
// steps, evaluation, scheduler steps, logging and observer hooks.
//
// A Trainer plugin supplies only the loss; the loop owns everything whose
// exact reproduction matters for resuming. Its whole progress is a
// LoopPosition (epoch, batch inside the epoch, global step and the epoch's
// running sums) plus the epoch history, both of which can be read and
// restored, so a run restarted from a saved position continues exactly: the
// batches of an epoch depend only on (seed, epoch), see EpochSampler.
#ifndef FRAMEWORK_TRAIN_TRAINING_LOOP_H_
#define FRAMEWORK_TRAIN_TRAINING_LOOP_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <torch/optim/optimizer.h>
#include <torch/types.h>

#include "absl/status/status.h"
#include "framework/data/batch_prefetcher.h"
#include "framework/data/dataset.h"
#include "framework/distributed/communicator.h"
#include "framework/distributed/gradient_averager.h"
#include "framework/optim/lr_scheduler.h"
#include "framework/optim/optimizer_sharding.h"
#include "framework/model/model.h"
#include "framework/train/callback.h"
#include "framework/train/evaluation.h"
#include "framework/train/gradient_clipping.h"
#include "framework/train/loop_state.h"
#include "framework/train/loss_scaler.h"
#include "framework/train/mixed_precision.h"
#include "framework/train/progress_log.h"
#include "framework/train/trainer.h"
#include "nlohmann/json.hpp"

namespace framework {

struct LoopOptions {
  int64_t epochs = 1;
  int64_t batch_size = 64;
  int64_t eval_batch_size = 1000;
  uint64_t seed = 1;
  int64_t log_interval = 100;  // iterations between log lines; 0: none
  torch::Device device = torch::kCPU;
  // Data parallel: with a communicator of more than one rank, each rank
  // takes its share of every (global) batch, see EpochSampler; parameters and
  // buffers start from rank 0's; gradients are averaged over the global batch
  // in buckets of `bucket_bytes`; buffers (batch-norm statistics) follow rank
  // 0's at every step; every metric, log line and scheduler input is the
  // global one; and a stop request on any rank stops all at the same step.
  // Not owned; must outlive the loop.
  Communicator* communicator = nullptr;
  int64_t bucket_bytes = int64_t{25} << 20;
  // ZeRO-1 (optim/optimizer_sharding.h): with more than one rank, each keeps
  // and steps the optimizer state of its share of the parameters only; the
  // weights are bit-identical to those of an unsharded run.
  bool shard_optimizer_state = false;
  bool progress_bar = false;
  // The validation metric handed to the scheduler (reduce-on-plateau),
  // e.g. "valid_loss" or "valid_acc".
  std::string monitor = "valid_loss";
  // Applied to the (averaged) gradients before every optimizer step.
  GradientClipping clipping;
  // Gradient accumulation: each rank's share of a global batch is split into
  // this many micro-batches, each a forward and backward pass of its own;
  // their gradients add up to the gradient of the global batch's mean loss
  // (each micro-batch's mean loss is weighted by its share of the rank's
  // samples), and ranks average once per global batch. `batch_size` stays
  // the global batch and must divide by world size x this.
  int64_t accumulate_batches = 1;
  // The forward passes' (training and evaluation) autocast precision.
  Precision precision = Precision::kFp32;
  // Dynamic loss scaling (fp16; tests use it in fp32 on the CPU): the loss
  // is scaled before backward, the gradients unscaled after the ranks'
  // average and before clipping, and a step with inf/NaN gradients skips the
  // optimizer step.
  std::optional<LossScalerOptions> loss_scaling;
  // Threads that gather (decode, transform) batches ahead of the steps and
  // evaluation (batch_prefetcher.h); -1: WorkersFor's choice. The values of
  // every batch are the same whatever the number.
  int data_workers = -1;
  PrefetchOptions prefetch;  // its `workers` is set from data_workers
};

class EpochSampler;


class TrainingLoop {
 public:
  // All references must outlive the loop. `scheduler` may be null.
  TrainingLoop(LoopOptions options, Model& model, Trainer& trainer,
               torch::optim::Optimizer& optimizer, LrScheduler* scheduler,
               const Dataset& train, const Dataset& valid);

  void AddObserver(LoopObserver* observer) { observers_.push_back(observer); }
  // An observer whose state every checkpoint holds under `name` (see
  // callback.h). Not owned.
  void AddCallback(const std::string& name, Callback* callback);
  struct NamedCallback {
    std::string name;
    Callback* callback;
  };
  const std::vector<NamedCallback>& callbacks() const { return callbacks_; }

  // Trains from position() to the last epoch, or until RequestStop().
  absl::Status Run();

  // Ends Run() after the current step (data parallel: after the first step
  // whose end every rank has heard of it); safe to call from a signal handler.
  void RequestStop() { stop_requested_.store(true); }
  bool stop_requested() const { return stop_requested_.load(); }
  // Asks for a checkpoint at the end of the current step (data parallel: of
  // the first step whose end every rank has heard of it, so that all ranks
  // save the same step), and with `then_stop` for Run() to end there; safe
  // to call from a signal handler.
  void RequestCheckpoint(bool then_stop) {
    checkpoint_request_.store(then_stop ? kCheckpointAndStop : kCheckpoint);
  }
  // Whether the step that just ended is the one a RequestCheckpoint() on
  // any rank asked a checkpoint for.
  bool checkpoint_due() const { return checkpoint_due_; }
  bool finished() const {
    return position_.epoch >= options_.epochs || !position_.ended_early.empty();
  }
  // Ends training after the current epoch's OnEpochEnd observers, for
  // `reason` (which the position records, so a resume does not go on). For
  // callbacks; every rank must call it at the same epoch.
  void EndTraining(std::string reason);

  // Evaluates the model (or another of the same task, such as averaged
  // weights) on the validation set: loss and trainer metrics.
  absl::StatusOr<std::map<std::string, double>> Evaluate();
  absl::StatusOr<std::map<std::string, double>> Evaluate(Model& model);

  const LoopOptions& options() const { return options_; }
  int64_t rank() const { return options_.communicator ? options_.communicator->rank() : 0; }
  int64_t world_size() const {
    return options_.communicator ? options_.communicator->world_size() : 1;
  }
  const LoopPosition& position() const { return position_; }
  const std::vector<EpochRecord>& history() const { return history_; }
  const StepRecord& last_step() const { return last_step_; }
  // The trainer's metrics, e.g. {"acc"}.
  const std::vector<MetricSpec>& metrics() const { return metrics_; }
  // The names of every epoch record's values: train_loss, valid_loss,
  // train_/valid_ of each metric, lr, seconds, and the callbacks' own.
  std::vector<std::string> RecordedValues() const;
  int64_t batches_per_epoch() const;

  // Continue from a saved position and history (validated against options).
  absl::Status Restore(const LoopPosition& position,
                       std::vector<EpochRecord> history);

  Model& model() { return model_; }
  torch::optim::Optimizer& optimizer() { return optimizer_; }
  LrScheduler* scheduler() { return scheduler_; }
  // Which rank steps which parameters: null unless the optimizer state is
  // sharded over more than one rank.
  const OptimizerSharding* optimizer_sharding() const { return sharding_.get(); }
  // Null unless loss scaling is on.
  LossScaler* loss_scaler() { return scaler_ ? &*scaler_ : nullptr; }

 private:
  absl::Status RunEpochs();
  // One training step on this rank's share of the next global batch of
  // `sampler`'s epoch.
  absl::Status TrainStep(const EpochSampler& sampler, BatchPrefetcher& batches);
  // Whether to stop after this step: agreed by all ranks when data parallel.
  bool ShouldStop() const {
    return communicator() ? agreed_stop_ : stop_requested() || local_stop_vote_;
  }
  Communicator* communicator() const {
    return options_.communicator != nullptr && options_.communicator->world_size() > 1
               ? options_.communicator
               : nullptr;
  }
  std::vector<double> TrainMeans() const;
  std::string FormatMetrics(double loss, const std::vector<double>& means) const;

  LoopOptions options_;
  Model& model_;
  Trainer& trainer_;
  torch::optim::Optimizer& optimizer_;
  LrScheduler* scheduler_;
  const Dataset& train_;
  const Dataset& valid_;
  std::vector<MetricSpec> metrics_;
  std::vector<LoopObserver*> observers_;
  std::vector<NamedCallback> callbacks_;
  ProgressLog progress_log_;
  std::atomic<bool> stop_requested_{false};
  enum CheckpointRequest : int { kNoCheckpoint, kCheckpoint, kCheckpointAndStop };
  std::atomic<int> checkpoint_request_{kNoCheckpoint};
  bool checkpoint_due_ = false;
  bool local_stop_vote_ = false;  // this rank's vote in the step that just ended
  LoopPosition position_;
  std::vector<EpochRecord> history_;
  StepRecord last_step_;
  std::unique_ptr<GradientAverager> gradients_;  // data parallel only
  std::unique_ptr<OptimizerSharding> sharding_;
  std::optional<LossScaler> scaler_;
  bool agreed_stop_ = false;
};

}  // namespace framework

#endif  // FRAMEWORK_TRAIN_TRAINING_LOOP_H_
