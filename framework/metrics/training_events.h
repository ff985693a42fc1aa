// Curves of a run, step by step: <run_dir>/steps.jsonl (one JSON object per
// logged step: step, epoch, loss, the trainer's metrics, lr, samples/s) and
// TensorBoard event files in <run_dir>/events/ (train/loss, train/<metric>,
// train/samples_per_second every logged step; valid/loss, valid/<metric> and
// lr every epoch; checkpoint/save_seconds after each save), and the HParams
// summaries that let TensorBoard's HParams tab list runs side by side.
//
// Both always match the weights: opening them for a run that starts at
// global step S (0 for a fresh run, the checkpoint's step on resume) first
// removes every point after S that an earlier, abandoned segment left, and a
// resumed segment's event file starts with SessionLog.START at S + 1, which is
// how TensorBoard itself learns to drop such points. So no step appears twice.
// Only one process of a data-parallel run (rank 0) should write them.
#ifndef FRAMEWORK_METRICS_TRAINING_EVENTS_H_
#define FRAMEWORK_METRICS_TRAINING_EVENTS_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "framework/core/env.h"
#include "framework/formats/event_file.h"
#include "framework/train/loop_state.h"

namespace framework {

class TrainingEvents : public LoopObserver {
 public:
  // `every_steps` >= 1: a point every that many steps, the mean over them.
  static absl::StatusOr<std::unique_ptr<TrainingEvents>> Open(const std::string& run_dir,
                                                              int64_t every_steps,
                                                              int64_t start_step);

  absl::Status OnStepEnd(TrainingLoop& loop) override;
  absl::Status OnEpochEnd(TrainingLoop& loop, const EpochRecord& record) override;
  // A finished run's HParams session end (one stopped to be resumed has
  // none yet).
  absl::Status OnTrainEnd(TrainingLoop& loop) override;

  // The run's hyper-parameters and the scalar tags of its metrics, for
  // TensorBoard's HParams tab (event_file.h); written when a run starts.
  absl::Status WriteHParams(const std::vector<HParam>& hparams,
                            const std::vector<std::string>& metric_tags);

  // One more scalar at `step`; safe from any thread (async checkpoint saves).
  void AddScalar(int64_t step, const std::string& tag, double value);

  const std::string& event_file() const { return events_->path(); }

 private:
  TrainingEvents(std::unique_ptr<WritableFile> steps, std::unique_ptr<EventFileWriter> events,
                 int64_t every_steps);
  absl::Status Write(int64_t step, const std::vector<std::pair<std::string, float>>& values);

  const int64_t every_steps_;
  std::mutex mutex_;  // guards events_
  std::unique_ptr<EventFileWriter> events_;
  std::unique_ptr<WritableFile> steps_;
  // The window since the last logged step.
  int64_t window_steps_ = 0;
  int64_t window_samples_ = 0;
  double window_loss_ = 0;  // sum of loss x samples
  std::vector<double> window_metrics_;
  double window_seconds_ = 0;
  double window_grad_norm_ = 0;  // sum over the steps that clipped by norm
  int64_t window_grad_norm_steps_ = 0;
  int64_t window_skipped_ = 0;  // steps skipped by the loss scaler
};

}  // namespace framework

#endif  // FRAMEWORK_METRICS_TRAINING_EVENTS_H_
