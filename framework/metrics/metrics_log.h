// Writes one JSON object per finished epoch to <run_dir>/metrics.jsonl.
#ifndef FRAMEWORK_METRICS_METRICS_LOG_H_
#define FRAMEWORK_METRICS_METRICS_LOG_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "framework/train/loop_state.h"

namespace framework {

class MetricsLog : public LoopObserver {
 public:
  explicit MetricsLog(std::string path) : path_(std::move(path)) {}

  // Rewrites the file with exactly `history` (used when a run starts or
  // resumes, so lines of epochs that were not kept never linger).
  absl::Status Reset(const std::vector<EpochRecord>& history);

  absl::Status OnEpochEnd(TrainingLoop& loop, const EpochRecord& record) override;

 private:
  std::string path_;
};

absl::StatusOr<std::vector<EpochRecord>> ReadMetricsLog(const std::string& path);

}  // namespace framework

#endif  // FRAMEWORK_METRICS_METRICS_LOG_H_
