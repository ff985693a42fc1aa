#include "framework/train/training_loop.h"

#include <chrono>
#include <cmath>
#include <exception>
#include <limits>
#include <memory>

#include <c10/util/Exception.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "framework/data/epoch_sampler.h"
#include "framework/optim/optimizer.h"
#include "framework/train/evaluation.h"
#include "framework/train/progress_bar.h"
#include "glog/logging.h"

namespace framework {
namespace {

using Clock = std::chrono::steady_clock;

constexpr char kTrainPrefix[] = "train_";
constexpr char kValidPrefix[] = "valid_";
constexpr char kSkippedSamples[] = "skipped_samples";

}  // namespace


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
      metrics_(trainer.Metrics()),
      progress_log_(options_.log_interval, options_.progress_bar) {
  CHECK_GT(options_.batch_size, 0);
  CHECK_GT(options_.eval_batch_size, 0);
  CHECK_GE(options_.epochs, 0);
  CHECK_GE(options_.accumulate_batches, 1);
  CHECK_EQ(options_.batch_size % (world_size() * options_.accumulate_batches), 0)
      << "the global batch must split evenly over the ranks and their micro-batches";
  position_.metric_sums.assign(metrics_.size(), 0.0);
  if (options_.loss_scaling.has_value()) scaler_.emplace(*options_.loss_scaling);
  if (options_.shard_optimizer_state && communicator() != nullptr) {
    sharding_ = std::make_unique<OptimizerSharding>(optimizer_, *communicator());
  }
  // First, so that a step's line is logged before what others do with it.
  observers_.push_back(&progress_log_);
}

void TrainingLoop::AddCallback(const std::string& name, Callback* callback) {
  for (const NamedCallback& added : callbacks_) CHECK_NE(added.name, name) << "callback added twice";
  callbacks_.push_back({name, callback});
  observers_.push_back(callback);
}

void TrainingLoop::EndTraining(std::string reason) {
  CHECK(!reason.empty());
  position_.ended_early = std::move(reason);
}

std::vector<std::string> TrainingLoop::RecordedValues() const {
  std::vector<std::string> names = {std::string(kTrainPrefix) + "loss",
                                    std::string(kValidPrefix) + "loss"};
  std::vector<std::string> metric_names;
  for (const MetricSpec& metric : metrics_) {
    metric_names.push_back(metric.name);
    names.push_back(kTrainPrefix + metric.name);
    names.push_back(kValidPrefix + metric.name);
  }
  if (train_.skip_bad_samples) {
    names.push_back(std::string(kTrainPrefix) + kSkippedSamples);
    names.push_back(std::string(kValidPrefix) + kSkippedSamples);
  }
  names.push_back("lr");
  names.push_back("seconds");
  for (const NamedCallback& named : callbacks_) {
    for (std::string& name : named.callback->AddedValues(metric_names)) names.push_back(name);
  }
  return names;
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


std::vector<double> TrainingLoop::TrainMeans() const {
  std::vector<double> means;
  const double samples = std::max<int64_t>(position_.samples, 1);
  for (double sum : position_.metric_sums) means.push_back(sum / samples);
  return means;
}


std::string TrainingLoop::FormatMetrics(double loss, const std::vector<double>& means) const {
  return ::framework::FormatMetrics(loss, metrics_, means);
}

absl::StatusOr<std::map<std::string, double>> TrainingLoop::Evaluate() { return Evaluate(model_); }

absl::StatusOr<std::map<std::string, double>> TrainingLoop::Evaluate(Model& model) {
  EvaluationOptions options;
  options.batch_size = options_.eval_batch_size;
  options.device = options_.device;
  options.communicator = communicator();
  options.precision = options_.precision;
  options.prefetch = options_.prefetch;
  options.prefetch.workers = WorkersFor(valid_, options_.data_workers);
  return EvaluateModel(model, trainer_, valid_, options);
}

absl::Status TrainingLoop::Run() {
  absl::Status status;
  try {
    model_.to(options_.device);
    // After whatever restored the optimizer's state (a PyTorch dict restores
    // all of it; Adagrad builds it for every parameter): each rank holds
    // only its own.
    if (sharding_ != nullptr) sharding_->DropOthersState();
    if (Communicator* group = communicator(); group != nullptr) {
      // Every rank starts from rank 0's weights, whatever its own init gave.
      std::vector<at::Tensor> state = model_.parameters();
      for (const at::Tensor& buffer : model_.buffers()) state.push_back(buffer);
      {
        torch::NoGradGuard no_grad;
        status = group->Broadcast(state, 0, "the initial parameters and buffers");
      }
      std::vector<at::Tensor> trainable;
      for (const at::Tensor& parameter : model_.parameters()) {
        if (parameter.requires_grad()) trainable.push_back(parameter);
      }
      if (gradients_ == nullptr) {
        // Per step: the loss sum, the metric sums, the samples, the stop
        // vote, the samples skipped, the checkpoint vote.
        gradients_ = std::make_unique<GradientAverager>(
            *group, trainable, options_.bucket_bytes,
            static_cast<int64_t>(metrics_.size()) + 5);
      }
    }
    if (status.ok()) status = RunEpochs();
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

absl::Status TrainingLoop::TrainStep(const EpochSampler& sampler, BatchPrefetcher& batches) {
  Communicator* const group = communicator();
  if (group != nullptr) {
    // As DistributedDataParallel does by default: rank 0's buffers (e.g.
    // batch-norm statistics) for every forward pass.
    std::vector<at::Tensor> buffers = model_.buffers();
    if (absl::Status status = group->Broadcast(buffers, 0, "the model's buffers"); !status.ok()) {
      return status;
    }
  }
  absl::StatusOr<GatheredBatch> gathered = batches.Next();
  if (!gathered.ok()) {
    return absl::Status(gathered.status().code(),
                        absl::StrCat("epoch ", position_.epoch + 1, " batch ", position_.batch + 1,
                                     ": ", gathered.status().message()));
  }
  // Less than the rank's share when --skip_bad_samples left samples out.
  const int64_t local_samples = gathered->targets.size(0);
  const int64_t global_samples = sampler.GlobalBatchSize(position_.batch);
  const int64_t micro_batches = options_.accumulate_batches;
  last_step_.lr = GetLearningRates(optimizer_).at(0);
  optimizer_.zero_grad();
  // Sums over this rank's samples (loss, metrics, samples), then the stop
  // vote: added up over the ranks in the first gradient bucket's message.
  std::vector<double> total(metrics_.size() + 5, 0.0);
  const size_t count_index = metrics_.size() + 1;
  const size_t skipped_index = metrics_.size() + 3;
  const size_t checkpoint_index = metrics_.size() + 4;
  total[count_index] = static_cast<double>(local_samples);
  total[skipped_index] = static_cast<double>(gathered->skipped);
  double local_loss = 0;  // the rank's mean loss
  // A rank whose share of a short last batch is empty (or a micro-batch of
  // it) computes nothing for it.
  // The micro-batches of a batch are its consecutive parts, as the parts
  // of its indices (a sample's values do not depend on its batch).
  const std::vector<torch::Tensor> micro_inputs =
      micro_batches == 1 ? std::vector<torch::Tensor>{gathered->inputs}
                         : gathered->inputs.tensor_split(micro_batches);
  const std::vector<torch::Tensor> micro_targets =
      micro_batches == 1 ? std::vector<torch::Tensor>{gathered->targets}
                         : gathered->targets.tensor_split(micro_batches);
  for (int64_t k = 0; k < micro_batches; ++k) {
    const int64_t samples = micro_targets[k].size(0);
    StepResult result;
    if (samples > 0) {
      AutocastScope autocast(options_.precision, options_.device);
      Batch batch;
      batch.inputs = micro_inputs[k].to(options_.device);
      batch.targets = micro_targets[k].to(options_.device);
      result = trainer_.TrainStep(model_, batch);
      const double loss = result.loss.item<double>();
      // Without accumulation the step's loss is the trainer's, unrounded.
      if (micro_batches == 1) local_loss = loss;
      total[0] += loss * static_cast<double>(samples);
      for (size_t i = 0; i < metrics_.size(); ++i) total[i + 1] += result.metric_sums[i];
    }
    if (k + 1 == micro_batches) {
      // A checkpoint request is taken (cleared) as it is voted, with the
      // stop it may carry, in one read: one that arrives later counts for
      // the next step, on every rank alike.
      const int request = checkpoint_request_.exchange(kNoCheckpoint);
      local_stop_vote_ = stop_requested() || request == kCheckpointAndStop;
      total[count_index + 1] = local_stop_vote_ ? 1.0 : 0.0;
      total[checkpoint_index] = request != kNoCheckpoint ? 1.0 : 0.0;
      // Armed for the last backward only: the ranks average the sum of
      // every micro-batch's gradient, once.
      if (gradients_ != nullptr) {
        gradients_->StartStep(
            static_cast<double>(local_samples) / static_cast<double>(global_samples), total);
      }
    }
    if (samples == 0) continue;
    // The micro-batch's share of the rank's mean loss, so the gradients add
    // up to the gradient of that mean, as one pass over all of it.
    torch::Tensor loss =
        micro_batches == 1
            ? result.loss
            : result.loss * (static_cast<double>(samples) / static_cast<double>(local_samples));
    if (scaler_) loss = scaler_->Scale(loss);
    loss.backward();
  }
  // Before FinishStep turns `total` into the sums over all ranks.
  if (micro_batches > 1 && local_samples > 0) {
    local_loss = total[0] / static_cast<double>(local_samples);
  }
  if (gradients_ != nullptr) {
    if (absl::Status status = gradients_->FinishStep(&total); !status.ok()) return status;
  }
  if (group != nullptr) agreed_stop_ = total[count_index + 1] > 0;
  checkpoint_due_ = total[checkpoint_index] > 0;
  // Every rank holds the same averaged gradients, so all find the same.
  bool found_inf = false;
  last_step_.loss_scale = std::numeric_limits<double>::quiet_NaN();
  if (scaler_) {
    last_step_.loss_scale = scaler_->scale();
    found_inf = scaler_->Unscale(model_.parameters());
  }
  last_step_.skipped = found_inf;
  for (LoopObserver* observer : observers_) {
    if (absl::Status status = observer->AfterBackward(*this); !status.ok()) return status;
  }
  last_step_.grad_norm = std::numeric_limits<double>::quiet_NaN();
  if (!found_inf && (options_.clipping.by_norm() || options_.clipping.by_value())) {
    last_step_.grad_norm = ClipGradients(model_.parameters(), options_.clipping);
  }

  for (LoopObserver* observer : observers_) {
    if (absl::Status status = observer->BeforeOptimizerStep(*this); !status.ok()) return status;
  }
  if (!found_inf && sharding_ != nullptr) {
    if (absl::Status status = sharding_->Step(); !status.ok()) return status;
  } else if (!found_inf) {
    optimizer_.step();
  }
  if (scaler_) {
    scaler_->Update(found_inf);
    if (found_inf && rank() == 0) {
      LOG(WARNING) << "Step " << position_.global_step + 1
                   << ": inf/NaN gradients at loss scale " << last_step_.loss_scale
                   << "; the optimizer step is skipped and the scale is now "
                   << scaler_->scale();
    }
  }
  for (LoopObserver* observer : observers_) {
    if (absl::Status status = observer->AfterOptimizerStep(*this); !status.ok()) return status;
  }

  const double samples = std::max(total[count_index], 1.0);
  CHECK_EQ(std::llround(total[count_index] + total[skipped_index]), global_samples)
      << "ranks disagree on the batch";
  position_.skipped_samples += std::llround(total[skipped_index]);
  last_step_.loss = group != nullptr ? total[0] / samples : local_loss;
  last_step_.metrics.resize(metrics_.size());
  position_.loss_sum += total[0];
  for (size_t i = 0; i < metrics_.size(); ++i) {
    position_.metric_sums[i] += total[i + 1];
    last_step_.metrics[i] = total[i + 1] / samples;
  }
  last_step_.samples = std::llround(total[count_index]);
  position_.samples += std::llround(total[count_index]);
  ++position_.batch;
  ++position_.global_step;
  return absl::OkStatus();
}

absl::Status TrainingLoop::RunEpochs() {
  const int64_t epochs = options_.epochs;
  const int64_t num_batches = batches_per_epoch();

  while (position_.epoch < epochs && position_.ended_early.empty()) {
    EpochSampler sampler(train_.size(), options_.batch_size, options_.seed,
                         position_.epoch, rank(), world_size());
    model_.train();
    for (LoopObserver* observer : observers_) {
      if (absl::Status status = observer->OnEpochStart(*this); !status.ok()) return status;
    }
    std::vector<torch::Tensor> remaining;
    for (int64_t b = position_.batch; b < num_batches; ++b) remaining.push_back(sampler.BatchIndices(b));
    PrefetchOptions prefetch = options_.prefetch;
    prefetch.workers = WorkersFor(train_, options_.data_workers);
    BatchPrefetcher batches(train_, position_.epoch, std::move(remaining), prefetch);
    Clock::time_point segment_start = Clock::now();

    while (position_.batch < num_batches) {
      if (absl::Status status = TrainStep(sampler, batches); !status.ok()) return status;
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
      if (ShouldStop()) return absl::OkStatus();
    }

    absl::StatusOr<std::map<std::string, double>> valid = Evaluate();
    if (!valid.ok()) return valid.status();
    EpochRecord record;
    record.epoch = position_.epoch + 1;
    record.step = position_.global_step;
    const double train_loss =
        position_.loss_sum / std::max<int64_t>(position_.samples, 1);
    const std::vector<double> train_means = TrainMeans();
    record.values[std::string(kTrainPrefix) + "loss"] = train_loss;
    record.values[std::string(kValidPrefix) + "loss"] = valid->at("loss");
    for (size_t i = 0; i < metrics_.size(); ++i) {
      record.values[kTrainPrefix + metrics_[i].name] = train_means[i];
      record.values[kValidPrefix + metrics_[i].name] = valid->at(metrics_[i].name);
    }
    if (train_.skip_bad_samples) {
      record.values[std::string(kTrainPrefix) + kSkippedSamples] =
          static_cast<double>(train_.skipped_at_load + position_.skipped_samples);
      record.values[std::string(kValidPrefix) + kSkippedSamples] =
          static_cast<double>(valid_.skipped_at_load) + valid->at(kSkippedSamples);
    }
    record.values["lr"] = GetLearningRates(optimizer_).at(0);
    record.values["seconds"] = position_.seconds;
    for (LoopObserver* observer : observers_) {
      if (absl::Status status = observer->AfterEvaluation(*this, record); !status.ok()) {
        return status;
      }
    }

    if (scheduler_ != nullptr) {
      auto monitored = record.values.find(options_.monitor);
      if (monitored == record.values.end()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "the monitored metric '", options_.monitor, "' is not a metric of this run"));
      }
      scheduler_->Step(monitored->second);
    }

    history_.push_back(record);
    ++position_.epoch;
    position_.batch = 0;
    position_.loss_sum = 0;
    position_.metric_sums.assign(metrics_.size(), 0.0);
    position_.samples = 0;
    position_.skipped_samples = 0;
    position_.seconds = 0;
    for (LoopObserver* observer : observers_) {
      absl::Status status = observer->OnEpochEnd(*this, record);
      if (!status.ok()) return status;
    }
    if (ShouldStop() || !position_.ended_early.empty()) return absl::OkStatus();
  }
  return absl::OkStatus();
}

}  // namespace framework
