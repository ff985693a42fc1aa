#include "framework/train/training_loop.h"

#include <chrono>
#include <exception>
#include <memory>

#include <c10/util/Exception.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "framework/data/epoch_sampler.h"
#include "framework/optim/optimizer.h"
#include "framework/train/progress_bar.h"
#include "glog/logging.h"

namespace framework {
namespace {

using Clock = std::chrono::steady_clock;

constexpr char kTrainPrefix[] = "train_";
constexpr char kValidPrefix[] = "valid_";

}  // namespace

nlohmann::json EpochRecord::ToJson() const {
  nlohmann::json json = {{"epoch", epoch}, {"step", step}};
  for (const auto& [key, value] : values) json[key] = value;
  return json;
}

absl::StatusOr<EpochRecord> EpochRecord::FromJson(const nlohmann::json& json) {
  EpochRecord record;
  try {
    for (auto it = json.begin(); it != json.end(); ++it) {
      if (it.key() == "epoch") {
        record.epoch = it->get<int64_t>();
      } else if (it.key() == "step") {
        record.step = it->get<int64_t>();
      } else {
        record.values[it.key()] = it->get<double>();
      }
    }
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad epoch record ", json.dump(), ": ", e.what()));
  }
  return record;
}

nlohmann::json LoopPosition::ToJson() const {
  return {{"epoch", epoch},     {"batch", batch},
          {"global_step", global_step}, {"loss_sum", loss_sum},
          {"metric_sums", metric_sums}, {"samples", samples},
          {"seconds", seconds}};
}

absl::StatusOr<LoopPosition> LoopPosition::FromJson(const nlohmann::json& json) {
  LoopPosition position;
  try {
    position.epoch = json.at("epoch").get<int64_t>();
    position.batch = json.at("batch").get<int64_t>();
    position.global_step = json.at("global_step").get<int64_t>();
    position.loss_sum = json.at("loss_sum").get<double>();
    position.metric_sums = json.at("metric_sums").get<std::vector<double>>();
    position.samples = json.at("samples").get<int64_t>();
    position.seconds = json.at("seconds").get<double>();
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad loop position ", json.dump(), ": ", e.what()));
  }
  return position;
}

TrainingLoop::TrainingLoop(LoopOptions options, Model& model, Trainer& trainer,
                           torch::optim::Optimizer& optimizer,
                           LrScheduler* scheduler, const Dataset& train,
                           const Dataset& valid)
    : options_(std::move(options)),
      model_(model),
      trainer_(trainer),
      optimizer_(optimizer),
      scheduler_(scheduler),
      train_(train),
      valid_(valid),
      metrics_(trainer.Metrics()) {
  CHECK_GT(options_.batch_size, 0);
  CHECK_GT(options_.eval_batch_size, 0);
  CHECK_GE(options_.epochs, 0);
  position_.metric_sums.assign(metrics_.size(), 0.0);
}

int64_t TrainingLoop::batches_per_epoch() const {
  return (train_.size() + options_.batch_size - 1) / options_.batch_size;
}

absl::Status TrainingLoop::Restore(const LoopPosition& position,
                                   std::vector<EpochRecord> history) {
  if (position.epoch < 0 || position.batch < 0 ||
      position.batch > batches_per_epoch() ||
      position.metric_sums.size() != metrics_.size() ||
      static_cast<int64_t>(history.size()) != position.epoch) {
    return absl::InvalidArgumentError(absl::StrCat(
        "saved loop position ", position.ToJson().dump(), " with ",
        history.size(), " epoch records does not fit this run (",
        batches_per_epoch(), " batches per epoch, ", metrics_.size(),
        " trainer metrics)"));
  }
  position_ = position;
  history_ = std::move(history);
  return absl::OkStatus();
}

Batch TrainingLoop::GatherBatch(const Dataset& data,
                                const torch::Tensor& indices) const {
  Batch batch;
  batch.inputs = data.inputs.index_select(0, indices);
  batch.targets = data.targets.index_select(0, indices);
  if (options_.device != batch.inputs.device()) {
    batch.inputs = batch.inputs.to(options_.device);
    batch.targets = batch.targets.to(options_.device);
  }
  return batch;
}

std::vector<double> TrainingLoop::TrainMeans() const {
  std::vector<double> means;
  const double samples = std::max<int64_t>(position_.samples, 1);
  for (double sum : position_.metric_sums) means.push_back(sum / samples);
  return means;
}

std::string FormatMetrics(double loss, const std::vector<MetricSpec>& metrics,
                          const std::vector<double>& means) {
  std::string text = absl::StrFormat("Loss: %.4f", loss);
  for (size_t i = 0; i < metrics.size(); ++i) {
    const double mean = means[i];
    std::string name = metrics[i].name;
    if (!name.empty()) name[0] = static_cast<char>(std::toupper(name[0]));
    if (metrics[i].percent) {
      absl::StrAppendFormat(&text, " %s:%.2f%%", name, 100.0 * mean);
    } else {
      absl::StrAppendFormat(&text, " %s: %.4f", name, mean);
    }
  }
  return text;
}

std::string TrainingLoop::FormatMetrics(double loss, const std::vector<double>& means) const {
  return ::framework::FormatMetrics(loss, metrics_, means);
}

absl::StatusOr<std::map<std::string, double>> TrainingLoop::Evaluate() {
  try {
    torch::NoGradGuard no_grad;
    model_.eval();
    double loss_sum = 0;
    std::vector<double> sums(metrics_.size(), 0.0);
    const int64_t size = valid_.size();
    for (int64_t start = 0; start < size; start += options_.eval_batch_size) {
      const int64_t length = std::min(options_.eval_batch_size, size - start);
      Batch batch = GatherBatch(
          valid_, torch::arange(start, start + length,
                                torch::TensorOptions().dtype(torch::kInt64)));
      StepResult result = trainer_.EvalStep(model_, batch);
      loss_sum += result.loss.item<double>() * static_cast<double>(length);
      for (size_t i = 0; i < sums.size(); ++i) sums[i] += result.metric_sums[i];
    }
    std::map<std::string, double> values;
    values["loss"] = size > 0 ? loss_sum / size : 0.0;
    for (size_t i = 0; i < metrics_.size(); ++i) {
      values[metrics_[i].name] = size > 0 ? sums[i] / size : 0.0;
    }
    return values;
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat("evaluation failed: ", e.what()));
  }
}

absl::Status TrainingLoop::Run() {
  absl::Status status;
  try {
    model_.to(options_.device);
    status = RunEpochs();
  } catch (const c10::Error& e) {
    status = absl::InternalError(absl::StrCat(
        "training failed at epoch ", position_.epoch + 1, " batch ",
        position_.batch, ": ", e.what_without_backtrace()));
  } catch (const std::exception& e) {
    status = absl::InternalError(absl::StrCat(
        "training failed at epoch ", position_.epoch + 1, " batch ",
        position_.batch, ": ", e.what()));
  }
  if (!status.ok()) return status;
  for (LoopObserver* observer : observers_) {
    absl::Status end = observer->OnTrainEnd(*this);
    if (!end.ok()) return end;
  }
  return absl::OkStatus();
}

absl::Status TrainingLoop::RunEpochs() {
  std::unique_ptr<ProgressBar> bar;
  if (options_.progress_bar) bar = std::make_unique<ProgressBar>();
  const int64_t epochs = options_.epochs;
  const int64_t num_batches = batches_per_epoch();

  while (position_.epoch < epochs) {
    const std::string epoch_label =
        absl::StrFormat("Epoch[%03d/%03d]", position_.epoch + 1, epochs);
    EpochSampler sampler(train_.size(), options_.batch_size, options_.seed,
                         position_.epoch, options_.rank, options_.world_size);
    model_.train();
    if (bar) bar->Start(epoch_label, num_batches, position_.batch);
    Clock::time_point segment_start = Clock::now();

    while (position_.batch < num_batches) {
      Batch batch = GatherBatch(train_, sampler.BatchIndices(position_.batch));
      last_step_.lr = GetLearningRates(optimizer_).at(0);
      optimizer_.zero_grad();
      StepResult result = trainer_.TrainStep(model_, batch);
      result.loss.backward();
      for (LoopObserver* observer : observers_) {
        if (absl::Status status = observer->BeforeOptimizerStep(*this); !status.ok()) return status;
      }
      optimizer_.step();

      const double batch_size = static_cast<double>(batch.size());
      last_step_.loss = result.loss.item<double>();
      last_step_.metrics.resize(metrics_.size());
      position_.loss_sum += last_step_.loss * batch_size;
      for (size_t i = 0; i < metrics_.size(); ++i) {
        position_.metric_sums[i] += result.metric_sums[i];
        last_step_.metrics[i] = result.metric_sums[i] / batch_size;
      }
      last_step_.samples = batch.size();
      position_.samples += batch.size();
      ++position_.batch;
      ++position_.global_step;

      const double mean_loss = position_.loss_sum / position_.samples;
      if (options_.log_interval > 0 &&
          position_.batch % options_.log_interval == 0) {
        if (bar) bar->Clear();
        LOG(INFO) << "Training:" << epoch_label
                  << absl::StrFormat(" Iteration[%d/%d] ", position_.batch,
                                     num_batches)
                  << FormatMetrics(mean_loss, TrainMeans());
      }
      if (bar) {
        bar->Update(position_.batch, absl::StrFormat("loss %.4f", mean_loss));
      }
      const Clock::time_point now = Clock::now();
      last_step_.seconds = std::chrono::duration<double>(now - segment_start).count();
      position_.seconds += last_step_.seconds;
      segment_start = now;
      last_step_.step = position_.global_step;
      last_step_.epoch = position_.epoch + 1;
      for (LoopObserver* observer : observers_) {
        absl::Status status = observer->OnStepEnd(*this);
        if (!status.ok()) return status;
      }
      if (stop_requested()) {
        if (bar) bar->Clear();
        LOG(INFO) << "Stopping at epoch " << position_.epoch + 1 << " batch "
                  << position_.batch << " (global step "
                  << position_.global_step << ") as requested";
        return absl::OkStatus();
      }
    }
    if (bar) bar->Clear();

    absl::StatusOr<std::map<std::string, double>> valid = Evaluate();
    if (!valid.ok()) return valid.status();
    EpochRecord record;
    record.epoch = position_.epoch + 1;
    record.step = position_.global_step;
    const double train_loss =
        position_.loss_sum / std::max<int64_t>(position_.samples, 1);
    const std::vector<double> train_means = TrainMeans();
    std::vector<double> valid_means;
    record.values[std::string(kTrainPrefix) + "loss"] = train_loss;
    record.values[std::string(kValidPrefix) + "loss"] = valid->at("loss");
    for (size_t i = 0; i < metrics_.size(); ++i) {
      record.values[kTrainPrefix + metrics_[i].name] = train_means[i];
      valid_means.push_back(valid->at(metrics_[i].name));
      record.values[kValidPrefix + metrics_[i].name] = valid_means.back();
    }
    record.values["lr"] = GetLearningRates(optimizer_).at(0);
    record.values["seconds"] = position_.seconds;
    LOG(INFO) << "Validation:" << epoch_label << " "
              << FormatMetrics(valid->at("loss"), valid_means)
              << absl::StrFormat(" (train %s, lr %g, %.1fs)",
                                 FormatMetrics(train_loss, train_means),
                                 record.values["lr"], position_.seconds);

    if (scheduler_ != nullptr) {
      auto monitored = record.values.find(options_.monitor);
      if (monitored == record.values.end()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--monitor=", options_.monitor, " is not a metric of this run"));
      }
      scheduler_->Step(monitored->second);
    }

    history_.push_back(record);
    ++position_.epoch;
    position_.batch = 0;
    position_.loss_sum = 0;
    position_.metric_sums.assign(metrics_.size(), 0.0);
    position_.samples = 0;
    position_.seconds = 0;
    for (LoopObserver* observer : observers_) {
      absl::Status status = observer->OnEpochEnd(*this, record);
      if (!status.ok()) return status;
    }
    if (stop_requested()) return absl::OkStatus();
  }
  return absl::OkStatus();
}

}  // namespace framework
