// The training loop's log lines and progress bar, as an observer the loop
// installs ahead of any other: "Training:Epoch[001/015] Iteration[100/938]
// Loss: ... Acc:...%" every log_interval steps, "Validation:Epoch[...] ..."
// after each epoch's evaluation, a progress bar on a terminal, and a line
// saying where a stopped run stopped. Apart from the loop, so that the loop
// is the training and nothing else.
#ifndef FRAMEWORK_TRAIN_PROGRESS_LOG_H_
#define FRAMEWORK_TRAIN_PROGRESS_LOG_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "framework/train/loop_state.h"
#include "framework/train/progress_bar.h"

namespace framework {

class ProgressLog : public LoopObserver {
 public:
  // `log_interval`: steps between training lines (0: none).
  ProgressLog(int64_t log_interval, bool progress_bar);

  absl::Status OnEpochStart(TrainingLoop& loop) override;
  absl::Status OnStepEnd(TrainingLoop& loop) override;
  absl::Status OnEpochEnd(TrainingLoop& loop, const EpochRecord& record) override;
  absl::Status OnTrainEnd(TrainingLoop& loop) override;

 private:
  std::string EpochLabel(const TrainingLoop& loop, int64_t epoch) const;

  const int64_t log_interval_;
  std::unique_ptr<ProgressBar> bar_;
};

}  // namespace framework

#endif  // FRAMEWORK_TRAIN_PROGRESS_LOG_H_
