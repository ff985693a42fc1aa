// The training loop's state as others see it: where it is (LoopPosition), what
// each epoch and step recorded (EpochRecord, StepRecord), and the hooks that
// observe it (LoopObserver). The checkpoint format, the metrics files and the
// stop signals need only these, so this header includes nothing of the loop
// itself, the optimizers, the trainer or the distributed stack
// (tests/layering_test keeps it so).
#ifndef FRAMEWORK_TRAIN_LOOP_STATE_H_
#define FRAMEWORK_TRAIN_LOOP_STATE_H_

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace framework {

// One line of metrics.jsonl.
struct EpochRecord {
  int64_t epoch = 0;  // 1-based
  int64_t step = 0;   // global step at the end of the epoch
  // train_loss, train_<metric>, valid_loss, valid_<metric>, lr, seconds.
  std::map<std::string, double> values;

  nlohmann::json ToJson() const;
  static absl::StatusOr<EpochRecord> FromJson(const nlohmann::json& json);
};

struct LoopPosition {
  int64_t epoch = 0;  // 0-based epoch in progress; == epochs when finished
  int64_t batch = 0;  // next batch of that epoch
  int64_t global_step = 0;
  // Sums over the epoch's finished batches, so that an epoch resumed in the
  // middle reports the same training metrics as one that ran straight.
  double loss_sum = 0;
  std::vector<double> metric_sums;
  int64_t samples = 0;
  int64_t skipped_samples = 0;  // left out by --skip_bad_samples
  double seconds = 0;  // wall time of the epoch so far
  // Why training ended before its last epoch (a callback such as early
  // stopping said so); empty while it goes on. A run resumed from here has
  // nothing left to train.
  std::string ended_early;

  nlohmann::json ToJson() const;
  static absl::StatusOr<LoopPosition> FromJson(const nlohmann::json& json);
};

// The training step that just ended, for OnStepEnd observers.
struct StepRecord {
  int64_t step = 0;     // global step
  int64_t epoch = 0;    // 1-based
  int64_t samples = 0;  // in the (global) batch
  double loss = 0;      // the batch's mean loss, over all ranks
  // The batch's per-sample means of the trainer's metrics, in Metrics() order.
  std::vector<double> metrics;
  double lr = 0;        // of the first parameter group, during the step
  // The gradients' total norm before clipping, when clipping by norm; NaN
  // otherwise.
  double grad_norm = std::numeric_limits<double>::quiet_NaN();
  // With loss scaling: the scale the step's loss was multiplied by, and
  // whether its gradients held inf/NaN, so that it skipped the optimizer
  // step. NaN and false otherwise.
  double loss_scale = std::numeric_limits<double>::quiet_NaN();
  bool skipped = false;
  double seconds = 0;   // wall time of the step
};

class TrainingLoop;

// Hooks into the loop, in the order a step calls them; a non-OK status stops
// training with that status.
class LoopObserver {
 public:
  virtual ~LoopObserver() = default;
  // Called once the gradients of the whole (global) batch are complete: after
  // the last micro-batch's backward() and the ranks' average, before
  // clipping. Observers may change the gradients (and nothing else).
  virtual absl::Status AfterBackward(TrainingLoop& loop) { return absl::OkStatus(); }
  // Called after backward(), right before the optimizer changes the
  // parameters and its state: the first moment since the last step's end at
  // which they change. (Buffers, such as batch-norm statistics, already
  // changed in the forward pass.) Observers must not change parameters or
  // optimizer state themselves.
  virtual absl::Status BeforeOptimizerStep(TrainingLoop& loop) { return absl::OkStatus(); }
  // Called right after the optimizer step, before the step's records are
  // final: the first moment at which an observer may change tensors that a
  // checkpoint holds (its own state, such as averaged weights), since every
  // observer's BeforeOptimizerStep has returned and with it any snapshot
  // copy of the last checkpoint.
  virtual absl::Status AfterOptimizerStep(TrainingLoop& loop) { return absl::OkStatus(); }
  // Called when an epoch starts, or continues after a resume; position() is
  // where it starts.
  virtual absl::Status OnEpochStart(TrainingLoop& loop) { return absl::OkStatus(); }
  virtual absl::Status OnStepEnd(TrainingLoop& loop) { return absl::OkStatus(); }
  // Called after the epoch's evaluation, before the scheduler sees the
  // record: an observer may add values of its own to it (metrics.jsonl, the
  // curves, the scheduler's and the checkpoints' --monitor all see them).
  // position() is still the finished epoch's last batch.
  virtual absl::Status AfterEvaluation(TrainingLoop& loop, EpochRecord& record) {
    return absl::OkStatus();
  }
  // Called after the epoch's evaluation and scheduler step; position() is
  // already at the start of the next epoch.
  virtual absl::Status OnEpochEnd(TrainingLoop& loop, const EpochRecord& record) {
    return absl::OkStatus();
  }
  // Called when Run() ends normally or because a stop was requested.
  virtual absl::Status OnTrainEnd(TrainingLoop& loop) { return absl::OkStatus(); }
};

}  // namespace framework

#endif  // FRAMEWORK_TRAIN_LOOP_STATE_H_
