// A complete small run (model, optimizer, scheduler, loop) for checkpoint
// tests, built identically every time from a fixed seed.
#ifndef FRAMEWORK_CHECKPOINT_TEST_UTIL_H_
#define FRAMEWORK_CHECKPOINT_TEST_UTIL_H_

#include <memory>
#include <string>

#include "framework/lr_scheduler.h"
#include "framework/optimizer.h"
#include "framework/random_state.h"
#include "framework/test_task.h"
#include "framework/training_loop.h"

namespace framework {
namespace testing_task {

struct TinyRun {
  explicit TinyRun(const DataSplits& data, int64_t epochs = 3, const std::string& optimizer_name = "sgd") {
    SeedGlobalGenerator(11);
    model = std::make_shared<TinyModel>();
    OptimizerOptions optimizer_options;
    optimizer_options.name = optimizer_name;
    optimizer_options.lr = optimizer_name == "sgd" ? 0.05 : 0.01;
    optimizer_options.momentum = optimizer_name == "adam" ? 0.0 : 0.9;
    optimizer = *BuildOptimizer(optimizer_options, model->parameters());
    SchedulerOptions scheduler_options;
    scheduler_options.name = "cosine";
    scheduler_options.warmup_epochs = 1;
    scheduler = *BuildScheduler(scheduler_options, *optimizer, epochs);
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

  TinyTrainer trainer;
  std::shared_ptr<TinyModel> model;
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  std::unique_ptr<LrScheduler> scheduler;
  std::unique_ptr<TrainingLoop> loop;
};

inline ModelSpec TinySpec() { return {"tiny", nlohmann::json::object()}; }

}  // namespace testing_task
}  // namespace framework

#endif  // FRAMEWORK_CHECKPOINT_TEST_UTIL_H_
