#include "framework/metrics/training_events.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "framework/core/durable_file.h"
#include "framework/train/training_loop.h"
#include "glog/logging.h"
#include "nlohmann/json.hpp"

namespace framework {
namespace {

namespace fs = std::filesystem;

constexpr char kEventFilePrefix[] = "events.out.tfevents.";

double WallTime() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Rewrites `path` without its lines of steps after `start_step`.
absl::Status TruncateSteps(const std::string& path, int64_t start_step) {
  std::error_code error;
  if (!fs::exists(path, error)) return absl::OkStatus();
  absl::StatusOr<std::string> text = ReadFileToString(path);
  if (!text.ok()) return text.status();
  std::string kept;
  size_t begin = 0;
  while (begin < text->size()) {
    size_t end = text->find('\n', begin);
    if (end == std::string::npos) break;  // a line cut short by a crash
    const std::string line = text->substr(begin, end - begin);
    begin = end + 1;
    nlohmann::json json = nlohmann::json::parse(line, nullptr, false);
    if (json.is_discarded() || !json.contains("step") || !json["step"].is_number_integer()) {
      continue;
    }
    if (json["step"].get<int64_t>() <= start_step) kept += line + "\n";
  }
  if (kept.size() == text->size()) return absl::OkStatus();
  return ReplaceFileContents(path, kept, /*sync=*/false);
}

// Rewrites an event file without its events after `start_step`, without an
// earlier segment's HParams session end (the resumed session ends again when
// it finishes) and without a tail damaged by a crash; removes it when nothing
// but its header is left.
absl::Status TruncateEvents(const std::string& path, int64_t start_step) {
  absl::StatusOr<std::vector<std::string>> records = ReadRecords(path, /*keep_intact_prefix=*/true);
  if (!records.ok()) return records.status();
  std::string kept;
  int64_t events_kept = 0;
  bool changed = false;
  for (size_t i = 0; i < records->size(); ++i) {
    absl::StatusOr<int64_t> step = EventStep((*records)[i]);
    absl::StatusOr<std::vector<std::string>> tags = EventSummaryTags((*records)[i]);
    const bool session_end =
        tags.ok() && std::find(tags->begin(), tags->end(), kHParamsSessionEndTag) != tags->end();
    if (!step.ok() || (i > 0 && (*step > start_step || session_end))) {
      changed = true;
      continue;
    }
    if (i > 0) ++events_kept;
    kept += FrameRecord((*records)[i]);
  }
  std::error_code error;
  // A tail damaged by a crash is what ReadRecords left out.
  if (!changed && kept.size() == fs::file_size(path, error) && !error) return absl::OkStatus();
  if (events_kept == 0) return Env::Default()->RemoveTree(path);
  return ReplaceFileContents(path, kept, /*sync=*/false);
}

// A name no earlier segment used; TensorBoard reads a directory's files in
// name order, so the time (zero-padded) comes first.
std::string NewEventFileName(const std::string& dir) {
  char host[256] = "localhost";
  gethostname(host, sizeof(host) - 1);
  const std::string base = absl::StrFormat("%s%010d.%s.%d", kEventFilePrefix,
                                           static_cast<int64_t>(WallTime()), host, getpid());
  std::string name = base;
  std::error_code error;
  for (int i = 1; fs::exists(fs::path(dir) / name, error); ++i) name = absl::StrCat(base, ".", i);
  return (fs::path(dir) / name).string();
}

}  // namespace

absl::StatusOr<std::unique_ptr<TrainingEvents>> TrainingEvents::Open(const std::string& run_dir,
                                                                     int64_t every_steps,
                                                                     int64_t start_step) {
  CHECK_GE(every_steps, 1);
  const std::string steps_path = run_dir + "/steps.jsonl";
  if (absl::Status status = TruncateSteps(steps_path, start_step); !status.ok()) return status;
  const std::string events_dir = run_dir + "/events";
  if (absl::Status status = Env::Default()->CreateDirectories(events_dir); !status.ok()) {
    return status;
  }
  std::error_code error;
  std::vector<std::string> existing;
  for (const auto& entry : fs::directory_iterator(events_dir, error)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(kEventFilePrefix, 0) == 0) existing.push_back(entry.path().string());
  }
  for (const std::string& path : existing) {
    if (absl::Status status = TruncateEvents(path, start_step); !status.ok()) return status;
  }
  absl::StatusOr<std::unique_ptr<EventFileWriter>> events =
      EventFileWriter::Create(NewEventFileName(events_dir), WallTime());
  if (!events.ok()) return events.status();
  if (start_step > 0) {
    if (absl::Status status = (*events)->Append(EncodeSessionStartEvent(WallTime(), start_step + 1));
        !status.ok()) {
      return status;
    }
  }
  absl::StatusOr<std::unique_ptr<WritableFile>> steps =
      Env::Default()->NewAppendableFile(steps_path);
  if (!steps.ok()) return steps.status();
  return std::unique_ptr<TrainingEvents>(
      new TrainingEvents(*std::move(steps), *std::move(events), every_steps));
}

TrainingEvents::TrainingEvents(std::unique_ptr<WritableFile> steps,
                               std::unique_ptr<EventFileWriter> events, int64_t every_steps)
    : every_steps_(every_steps), events_(std::move(events)), steps_(std::move(steps)) {}

absl::Status TrainingEvents::Write(int64_t step,
                                   const std::vector<std::pair<std::string, float>>& values) {
  std::lock_guard<std::mutex> lock(mutex_);
  return events_->Append(EncodeScalarsEvent(WallTime(), step, values));
}

void TrainingEvents::AddScalar(int64_t step, const std::string& tag, double value) {
  absl::Status status = Write(step, {{tag, static_cast<float>(value)}});
  if (!status.ok()) LOG(WARNING) << "event file: " << status.message();
}

absl::Status TrainingEvents::OnStepEnd(TrainingLoop& loop) {
  const StepRecord& step = loop.last_step();
  window_metrics_.resize(step.metrics.size(), 0.0);
  ++window_steps_;
  window_samples_ += step.samples;
  window_loss_ += step.loss * static_cast<double>(step.samples);
  for (size_t i = 0; i < step.metrics.size(); ++i) {
    window_metrics_[i] += step.metrics[i] * static_cast<double>(step.samples);
  }
  window_seconds_ += step.seconds;
  if (!std::isnan(step.grad_norm)) {
    window_grad_norm_ += step.grad_norm;
    ++window_grad_norm_steps_;
  }
  if (step.skipped) ++window_skipped_;
  if (step.step % every_steps_ != 0) return absl::OkStatus();

  const double samples = static_cast<double>(std::max<int64_t>(window_samples_, 1));
  const double rate = window_seconds_ > 0 ? static_cast<double>(window_samples_) / window_seconds_ : 0;
  nlohmann::json line = {{"step", step.step}, {"epoch", step.epoch},
                         {"loss", window_loss_ / samples}, {"lr", step.lr},
                         {"samples_per_second", rate}};
  std::vector<std::pair<std::string, float>> values = {
      {"train/loss", static_cast<float>(window_loss_ / samples)},
      {"train/samples_per_second", static_cast<float>(rate)},
      {"train/lr", static_cast<float>(step.lr)}};
  for (size_t i = 0; i < window_metrics_.size(); ++i) {
    const std::string& name = loop.metrics()[i].name;
    line[name] = window_metrics_[i] / samples;
    values.emplace_back("train/" + name, static_cast<float>(window_metrics_[i] / samples));
  }
  if (window_grad_norm_steps_ > 0) {
    // The mean over the window's steps of the norm before clipping.
    const double grad_norm = window_grad_norm_ / static_cast<double>(window_grad_norm_steps_);
    line["grad_norm"] = grad_norm;
    values.emplace_back("train/grad_norm", static_cast<float>(grad_norm));
  }
  if (!std::isnan(step.loss_scale)) {
    // The window's last step's scale, and how many of its steps were
    // skipped for inf/NaN gradients.
    line["loss_scale"] = step.loss_scale;
    line["skipped_steps"] = window_skipped_;
    values.emplace_back("train/loss_scale", static_cast<float>(step.loss_scale));
  }
  window_skipped_ = 0;
  window_grad_norm_ = 0;
  window_grad_norm_steps_ = 0;
  window_steps_ = window_samples_ = 0;
  window_loss_ = window_seconds_ = 0;
  window_metrics_.assign(window_metrics_.size(), 0.0);

  const std::string text = line.dump() + "\n";
  if (absl::Status status = steps_->Append(text.data(), text.size()); !status.ok()) return status;
  return Write(step.step, values);
}

absl::Status TrainingEvents::OnEpochEnd(TrainingLoop& loop, const EpochRecord& record) {
  std::vector<std::pair<std::string, float>> values;
  for (const auto& [name, value] : record.values) {
    if (name.rfind("valid_", 0) == 0) {
      values.emplace_back("valid/" + name.substr(6), static_cast<float>(value));
    } else if (name == "lr") {
      values.emplace_back("lr", static_cast<float>(value));
    }
  }
  return Write(record.step, values);
}

absl::Status TrainingEvents::OnTrainEnd(TrainingLoop& loop) {
  if (!loop.finished()) return absl::OkStatus();
  std::lock_guard<std::mutex> lock(mutex_);
  return events_->Append(EncodeHParamsSessionEndEvent(WallTime(), loop.position().global_step, /*success=*/true));
}

absl::Status TrainingEvents::WriteHParams(const std::vector<HParam>& hparams,
                                          const std::vector<std::string>& metric_tags) {
  std::lock_guard<std::mutex> lock(mutex_);
  const double now = WallTime();
  if (absl::Status status = events_->Append(EncodeHParamsExperimentEvent(now, hparams, metric_tags));
      !status.ok()) {
    return status;
  }
  return events_->Append(EncodeHParamsSessionStartEvent(now, hparams));
}

}  // namespace framework
