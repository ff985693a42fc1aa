// Test doubles for framework tests that need a model and a trainer without
// depending on any plugin: a small classifier with dropout (so the global
// generator matters), a cross-entropy trainer, a matching data set, and a
// whole run (model, optimizer, scheduler, loop) built the same way each time.
#ifndef FRAMEWORK_TESTING_TEST_TASK_H_
#define FRAMEWORK_TESTING_TEST_TASK_H_

#include <torch/nn/functional/loss.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>

#include <memory>
#include <string>

#include "framework/data/builtin_datasets.h"
#include "framework/data/dataset.h"
#include "framework/optim/lr_scheduler.h"
#include "framework/model/model.h"
#include "framework/optim/optimizer.h"
#include "framework/core/random_state.h"
#include "framework/train/trainer.h"
#include "framework/train/training_loop.h"

namespace framework {
namespace testing_task {

class TinyModel : public Model {
 public:
  explicit TinyModel(double dropout = 0.3) {
    hidden_ = register_module("hidden", torch::nn::Linear(64, 16));
    dropout_ = register_module("dropout", torch::nn::Dropout(dropout));
    out_ = register_module("out", torch::nn::Linear(16, 4));
  }
  torch::Tensor forward(torch::Tensor x) override {
    return out_->forward(dropout_->forward(torch::relu(hidden_->forward(x.flatten(1)))));
  }

 private:
  torch::nn::Linear hidden_{nullptr};
  torch::nn::Dropout dropout_{nullptr};
  torch::nn::Linear out_{nullptr};
};

class TinyTrainer : public Trainer {
 public:
  std::vector<MetricSpec> Metrics() const override { return {{"acc", true}}; }
  StepResult TrainStep(Model& model, const Batch& batch) override {
    torch::Tensor logits = model.forward(batch.inputs);
    StepResult result;
    result.loss = torch::nn::functional::cross_entropy(logits, batch.targets);
    result.metric_sums = {
        static_cast<double>(logits.argmax(1).eq(batch.targets).sum().item<int64_t>())};
    return result;
  }
};

// 200 training samples (13 batches of 16), 100 validation samples, 4
// classes of 8x8 images: what TinyModel takes.
inline DataSplits TinyData() {
  SyntheticOptions options;
  options.train_size = 200;
  options.valid_size = 100;
  options.classes = 4;
  options.height = 8;
  options.width = 8;
  options.seed = 2;
  return MakeSyntheticDataset(options);
}

struct TinyRun {
  // A registered schedule with its options, after a warm-up of some epochs.
  struct Schedule {
    std::string name;
    nlohmann::json options = nlohmann::json::object();
    int64_t warmup_epochs = 0;
  };

  // SGD with momentum (Adam, RMSprop...: other lr) and, by default, a cosine
  // schedule after a one-epoch warm-up.
  explicit TinyRun(const DataSplits& data, int64_t epochs = 3, const std::string& optimizer_name = "sgd",
                   Schedule schedule = WarmupCosine()) {
    SeedGlobalGenerator(11);
    model = std::make_shared<TinyModel>();
    nlohmann::json optimizer_options = {{"lr", optimizer_name == "sgd" ? 0.05 : 0.01}};
    if (optimizer_name == "sgd" || optimizer_name == "rmsprop") optimizer_options["momentum"] = 0.9;
    optimizer = *BuildOptimizer(optimizer_name, optimizer_options, model->parameters());
    ScheduleSettings settings;
    settings.epochs = epochs;
    settings.warmup_epochs = schedule.warmup_epochs;
    scheduler = *BuildScheduler(schedule.name, schedule.options, *optimizer, settings);
    LoopOptions options;
    options.epochs = epochs;
    options.batch_size = 16;
    options.eval_batch_size = 50;
    options.seed = 3;
    options.log_interval = 0;
    options.monitor = "valid_acc";
    loop = std::make_unique<TrainingLoop>(options, *model, trainer, *optimizer, scheduler.get(),
                                          data.train, data.valid);
  }

  static Schedule WarmupCosine() { return {"cosine", nlohmann::json::object(), 1}; }

  TinyTrainer trainer;
  std::shared_ptr<TinyModel> model;
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  std::unique_ptr<LrScheduler> scheduler;
  std::unique_ptr<TrainingLoop> loop;
};

inline ModelSpec TinySpec() { return {"tiny", nlohmann::json::object()}; }

// Requests the loop's stop at the end of global step `step`.
class StopAfterStep : public LoopObserver {
 public:
  explicit StopAfterStep(int64_t step) : step_(step) {}
  absl::Status OnStepEnd(TrainingLoop& loop) override {
    if (loop.position().global_step == step_) loop.RequestStop();
    return absl::OkStatus();
  }

 private:
  int64_t step_;
};

}  // namespace testing_task
}  // namespace framework

#endif  // FRAMEWORK_TESTING_TEST_TASK_H_
