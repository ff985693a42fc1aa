#include "framework/train/progress_log.h"

#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "framework/train/training_loop.h"
#include "glog/logging.h"

namespace framework {

ProgressLog::ProgressLog(int64_t log_interval, bool progress_bar)
    : log_interval_(log_interval), bar_(progress_bar ? new ProgressBar() : nullptr) {}

std::string ProgressLog::EpochLabel(const TrainingLoop& loop, int64_t epoch) const {
  return absl::StrFormat("Epoch[%03d/%03d]", epoch, loop.options().epochs);
}

absl::Status ProgressLog::OnEpochStart(TrainingLoop& loop) {
  if (bar_) {
    bar_->Start(EpochLabel(loop, loop.position().epoch + 1), loop.batches_per_epoch(),
                loop.position().batch);
  }
  return absl::OkStatus();
}

absl::Status ProgressLog::OnStepEnd(TrainingLoop& loop) {
  const LoopPosition& position = loop.position();
  const double samples = static_cast<double>(position.samples);
  const double mean_loss = position.loss_sum / samples;
  if (log_interval_ > 0 && position.batch % log_interval_ == 0) {
    if (bar_) bar_->Clear();
    std::vector<double> means;
    for (double sum : position.metric_sums) means.push_back(sum / samples);
    LOG(INFO) << "Training:" << EpochLabel(loop, position.epoch + 1)
              << absl::StrFormat(" Iteration[%d/%d] ", position.batch, loop.batches_per_epoch())
              << FormatMetrics(mean_loss, loop.metrics(), means);
  }
  if (bar_) {
    bar_->Update(position.batch, absl::StrFormat("loss %.4f", mean_loss));
    if (position.batch == loop.batches_per_epoch() || loop.stop_requested()) bar_->Clear();
  }
  return absl::OkStatus();
}

absl::Status ProgressLog::OnEpochEnd(TrainingLoop& loop, const EpochRecord& record) {
  std::vector<double> train_means, valid_means;
  for (const MetricSpec& metric : loop.metrics()) {
    train_means.push_back(record.values.at("train_" + metric.name));
    valid_means.push_back(record.values.at("valid_" + metric.name));
  }
  // The weights' average (callback "ema"), when there is one.
  std::string average;
  if (auto ema_loss = record.values.find("valid_ema_loss"); ema_loss != record.values.end()) {
    std::vector<double> ema_means;
    for (const MetricSpec& metric : loop.metrics()) {
      auto value = record.values.find("valid_ema_" + metric.name);
      ema_means.push_back(value != record.values.end() ? value->second : 0.0);
    }
    average = " EMA " + FormatMetrics(ema_loss->second, loop.metrics(), ema_means);
  }
  LOG(INFO) << "Validation:" << EpochLabel(loop, record.epoch) << " "
            << FormatMetrics(record.values.at("valid_loss"), loop.metrics(), valid_means)
            << average
            << absl::StrFormat(" (train %s, lr %g, %.1fs)",
                               FormatMetrics(record.values.at("train_loss"), loop.metrics(),
                                             train_means),
                               record.values.at("lr"), record.values.at("seconds"));
  return absl::OkStatus();
}

absl::Status ProgressLog::OnTrainEnd(TrainingLoop& loop) {
  if (bar_) bar_->Clear();
  if (!loop.finished()) {
    const LoopPosition& position = loop.position();
    LOG(INFO) << "Stopping at epoch " << position.epoch + 1 << " batch " << position.batch
              << " (global step " << position.global_step << ") as requested";
  }
  return absl::OkStatus();
}

}  // namespace framework
