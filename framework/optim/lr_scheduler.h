// Learning-rate schedulers with PyTorch's semantics and saveable state.
//
// Each scheduler reproduces torch.optim.lr_scheduler's arithmetic (the same
// recursive update formulas, evaluated in the same order), so for the same
// settings the learning rate of every epoch equals PyTorch's to the bit. A
// scheduler is stepped once at the end of every epoch and writes the new
// learning rate into the optimizer's parameter groups. Its state is plain
// JSON (like PyTorch's scheduler.state_dict()).
#ifndef FRAMEWORK_OPTIM_LR_SCHEDULER_H_
#define FRAMEWORK_OPTIM_LR_SCHEDULER_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <torch/optim/optimizer.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "framework/core/declared_options.h"
#include "framework/core/registry.h"
#include "nlohmann/json.hpp"

namespace framework {

// What a schedule is built for, besides its own options: the run's length
// and the framework's warm-up, which any chainable schedule may follow.
struct ScheduleSettings {
  int64_t epochs = 0;  // the run's
  // Linear warm-up (LinearLR from warmup_start_factor to 1) for this many
  // epochs, followed by the schedule (SequentialLR).
  int64_t warmup_epochs = 0;
  double warmup_start_factor = 1.0 / 3;
  // Whether the monitored validation metric improves upwards (accuracies).
  bool monitor_maximizes = false;

  // The epochs the schedule itself spans, after the warm-up.
  int64_t ScheduleEpochs() const { return epochs - warmup_epochs; }
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

// A schedule written the way torch.optim.lr_scheduler's chainable ones are: a
// recursive get_lr() on the current learning rate, and an optional closed
// form used when stepped to an explicit epoch (as SequentialLR does at its
// milestones). Such a schedule can follow a linear warm-up.
class ChainableScheduler : public LrScheduler {
 public:
  ChainableScheduler(torch::optim::Optimizer& optimizer,
                     std::vector<double> base_lrs)
      : optimizer_(optimizer), base_lrs_(std::move(base_lrs)) {}

  void Step(double /*metric*/) override { Advance(std::nullopt); }

  // PyTorch's step(epoch): jump to `epoch`, using the closed form if any.
  void StepTo(int64_t epoch) { Advance(epoch); }

  // The step PyTorch's constructor performs (last_epoch -1 -> 0).
  void InitialStep() {
    step_count_ = 0;
    Advance(std::nullopt);
  }

  void set_last_epoch(int64_t epoch) { last_epoch_ = epoch; }
  int64_t last_epoch() const { return last_epoch_; }

  nlohmann::json State() const override;
  absl::Status LoadState(const nlohmann::json& state) override;

 protected:
  // get_lr() for one parameter group, after last_epoch_ was advanced.
  virtual double RecursiveLr(double current_lr, double base_lr) const = 0;
  virtual std::optional<double> ClosedFormLr(double /*base_lr*/) const {
    return std::nullopt;
  }

  int64_t step_count() const { return step_count_; }

 private:
  void Advance(std::optional<int64_t> epoch);

  torch::optim::Optimizer& optimizer_;
  std::vector<double> base_lrs_;
  int64_t last_epoch_ = -1;
  int64_t step_count_ = 0;
};

// What a registered schedule is: either chainable (it may follow a warm-up,
// which SequentialLR-style composition adds) or standalone (e.g.
// reduce-on-plateau, which cannot). Exactly one factory is set.
using ChainableSchedulerFactory =
    std::function<absl::StatusOr<std::unique_ptr<ChainableScheduler>>(
        const OptionValues& options, torch::optim::Optimizer& optimizer,
        std::vector<double> base_lrs, const ScheduleSettings& settings)>;
using StandaloneSchedulerFactory =
    std::function<absl::StatusOr<std::unique_ptr<LrScheduler>>(
        const OptionValues& options, torch::optim::Optimizer& optimizer,
        const ScheduleSettings& settings)>;
struct SchedulerEntry {
  ChainableSchedulerFactory chainable;
  StandaloneSchedulerFactory standalone;
  // Every option of the schedule (and PyTorch's name for it, where its
  // scheduler state_dict keeps it).
  DeclaredOptions options;
};
inline SchedulerEntry ChainableSchedule(ChainableSchedulerFactory factory,
                                        DeclaredOptions options = {}) {
  return SchedulerEntry{std::move(factory), nullptr, std::move(options)};
}
inline SchedulerEntry StandaloneSchedule(StandaloneSchedulerFactory factory,
                                         DeclaredOptions options = {}) {
  return SchedulerEntry{nullptr, std::move(factory), std::move(options)};
}

Registry<SchedulerEntry>& SchedulerRegistry();

// The error LoadState returns for state it cannot use; `what` says why.
absl::Status BadSchedulerState(const std::string& what, const nlohmann::json& state);

// The registered schedule `name`'s options from `given` (see ResolveOptions
// for `where`).
absl::StatusOr<OptionValues> ResolveSchedulerOptions(
    const std::string& name, const nlohmann::json& given,
    const std::function<std::string(const std::string& key)>& where);

// Builds the named schedule over `optimizer` (whose current learning rates
// are the base ones), wrapped in a linear warm-up when
// settings.warmup_epochs > 0.
absl::StatusOr<std::unique_ptr<LrScheduler>> BuildScheduler(
    const std::string& name, const OptionValues& options, torch::optim::Optimizer& optimizer,
    const ScheduleSettings& settings);

// Resolves `given` (errors name its keys) and builds: for tests and tools.
absl::StatusOr<std::unique_ptr<LrScheduler>> BuildScheduler(
    const std::string& name, const nlohmann::json& given, torch::optim::Optimizer& optimizer,
    const ScheduleSettings& settings);

}  // namespace framework

// REGISTER_SCHEDULER("step", framework::ChainableSchedule(BuildStep, kStepOptions));
#define REGISTER_SCHEDULER(name, entry)                             \
  static ::framework::Registration<::framework::SchedulerEntry>     \
      FRAMEWORK_REGISTRY_UNIQUE_NAME(scheduler_registration_)(      \
          ::framework::SchedulerRegistry(), name, entry, __FILE__)

#endif  // FRAMEWORK_OPTIM_LR_SCHEDULER_H_
