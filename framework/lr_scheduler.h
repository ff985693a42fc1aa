// Learning-rate schedulers with PyTorch's semantics and saveable state.
//
// Each scheduler reproduces torch.optim.lr_scheduler's arithmetic (the same
// recursive update formulas, evaluated in the same order), so for the same
// settings the learning rate of every epoch equals PyTorch's to the bit. A
// scheduler is stepped once at the end of every epoch and writes the new
// learning rate into the optimizer's parameter groups. Its state is plain
// JSON (like PyTorch's scheduler.state_dict()).
#ifndef FRAMEWORK_LR_SCHEDULER_H_
#define FRAMEWORK_LR_SCHEDULER_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <torch/optim/optimizer.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "framework/registry.h"
#include "nlohmann/json.hpp"

namespace framework {

struct SchedulerOptions {
  // none | step | multistep | exponential | cosine | plateau
  std::string name = "none";
  int64_t step_size = 10;               // step: StepLR(step_size)
  double gamma = 0.1;                   // step, multistep, exponential
  std::vector<int64_t> milestones;      // multistep
  int64_t t_max = 0;                    // cosine; 0: the epochs after warm-up
  double eta_min = 0.0;                 // cosine
  // Linear warm-up (LinearLR from warmup_start_factor to 1) for this many
  // epochs, followed by the schedule above (SequentialLR).
  int64_t warmup_epochs = 0;
  double warmup_start_factor = 1.0 / 3;
  // plateau: ReduceLROnPlateau
  std::string plateau_mode = "min";     // min | max
  double plateau_factor = 0.1;
  int64_t plateau_patience = 10;
  double plateau_threshold = 1e-4;
  std::string plateau_threshold_mode = "rel";  // rel | abs
  int64_t plateau_cooldown = 0;
  double plateau_min_lr = 0.0;
  double plateau_eps = 1e-8;
};

class LrScheduler {
 public:
  virtual ~LrScheduler() = default;

  // Called at the end of every epoch. `metric` is the monitored validation
  // metric; only reduce-on-plateau looks at it.
  virtual void Step(double metric) = 0;

  virtual nlohmann::json State() const = 0;
  // Restores State() output, including the optimizer's learning rates.
  virtual absl::Status LoadState(const nlohmann::json& state) = 0;
};

using SchedulerFactory =
    std::function<absl::StatusOr<std::unique_ptr<LrScheduler>>(
        const SchedulerOptions& options, torch::optim::Optimizer& optimizer,
        int64_t epochs)>;

Registry<SchedulerFactory>& SchedulerRegistry();

// Builds the named schedule over `optimizer` (whose current learning rates
// are the base ones), wrapped in a linear warm-up when warmup_epochs > 0.
// `epochs` is the run's length (the default cosine period).
absl::StatusOr<std::unique_ptr<LrScheduler>> BuildScheduler(
    const SchedulerOptions& options, torch::optim::Optimizer& optimizer,
    int64_t epochs);

}  // namespace framework

#endif  // FRAMEWORK_LR_SCHEDULER_H_
