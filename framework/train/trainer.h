// Trainer plugins: the task-specific part of training.
//
// A trainer says how a batch becomes a loss and which per-sample metrics to
// report; the framework's TrainingLoop owns everything else (epochs, batch
// order, backward, optimizer and scheduler steps, logging, checkpoints). So a
// new task is one class and one line:
//
//   REGISTER_TRAINER("classification", [] { return std::make_unique<ClassificationTrainer>(); });
#ifndef FRAMEWORK_TRAIN_TRAINER_H_
#define FRAMEWORK_TRAIN_TRAINER_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <torch/types.h>

#include "absl/status/status.h"
#include "framework/data/dataset.h"
#include "framework/model/model.h"
#include "framework/core/registry.h"

namespace framework {

struct Batch {
  torch::Tensor inputs;
  torch::Tensor targets;
  int64_t size() const { return inputs.size(0); }
};

struct MetricSpec {
  std::string name;     // key in logs and metrics.jsonl, e.g. "acc"
  bool percent = false;  // shown as a percentage in log lines
};

struct StepResult {
  torch::Tensor loss;  // scalar mean over the batch (with grad in training)
  // Sums over the batch's samples, one per Trainer::Metrics() entry; the loop
  // reports their means over an epoch.
  std::vector<double> metric_sums;
};

class Trainer {
 public:
  virtual ~Trainer() = default;

  virtual std::vector<MetricSpec> Metrics() const = 0;

  // Called once before training; rejects data the task cannot use.
  virtual absl::Status CheckData(const Dataset& data) const {
    return absl::OkStatus();
  }

  // Forward pass and loss in training mode; the loop runs backward() and the
  // optimizer step. It must not change the parameters itself: an async
  // checkpoint may still be copying them (see LoopObserver::BeforeOptimizerStep).
  virtual StepResult TrainStep(Model& model, const Batch& batch) = 0;

  // Forward pass and loss in evaluation mode, under no-grad (the loop sets
  // both). Most tasks compute the same thing as in training.
  virtual StepResult EvalStep(Model& model, const Batch& batch) { return TrainStep(model, batch); }
};

using TrainerFactory = std::function<std::unique_ptr<Trainer>()>;

Registry<TrainerFactory>& TrainerRegistry();

absl::StatusOr<std::unique_ptr<Trainer>> BuildTrainer(const std::string& name);

}  // namespace framework

#define REGISTER_TRAINER(name, factory)                            \
  static ::framework::Registration<::framework::TrainerFactory>    \
      FRAMEWORK_REGISTRY_UNIQUE_NAME(trainer_registration_)(       \
          ::framework::TrainerRegistry(), name, factory, __FILE__)

#endif  // FRAMEWORK_TRAIN_TRAINER_H_
