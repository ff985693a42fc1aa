#include "framework/optim/lr_scheduler.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "framework/optim/optimizer.h"

namespace framework {

nlohmann::json ChainableScheduler::State() const {
  return {{"last_epoch", last_epoch_},
          {"step_count", step_count_},
          {"base_lrs", base_lrs_},
          {"lrs", GetLearningRates(optimizer_)}};
}

absl::Status ChainableScheduler::LoadState(const nlohmann::json& state) {
  try {
    std::vector<double> lrs = state.at("lrs").get<std::vector<double>>();
    std::vector<double> base_lrs =
        state.at("base_lrs").get<std::vector<double>>();
    if (lrs.size() != optimizer_.param_groups().size() ||
        base_lrs.size() != lrs.size()) {
      return BadSchedulerState("parameter group count differs", state);
    }
    last_epoch_ = state.at("last_epoch").get<int64_t>();
    step_count_ = state.at("step_count").get<int64_t>();
    base_lrs_ = std::move(base_lrs);
    SetLearningRates(optimizer_, lrs);
  } catch (const nlohmann::json::exception& e) {
    return BadSchedulerState(e.what(), state);
  }
  return absl::OkStatus();
}

void ChainableScheduler::Advance(std::optional<int64_t> epoch) {
  ++step_count_;
  std::vector<double> lrs = GetLearningRates(optimizer_);
  if (epoch.has_value()) {
    last_epoch_ = *epoch;
  } else {
    ++last_epoch_;
  }
  for (size_t i = 0; i < lrs.size(); ++i) {
    std::optional<double> closed =
        epoch.has_value() ? ClosedFormLr(base_lrs_[i]) : std::nullopt;
    lrs[i] = closed.has_value() ? *closed : RecursiveLr(lrs[i], base_lrs_[i]);
  }
  SetLearningRates(optimizer_, lrs);
}

namespace {

// The warm-up: torch.optim.lr_scheduler.LinearLR.
class LinearScheduler : public ChainableScheduler {
 public:
  LinearScheduler(torch::optim::Optimizer& optimizer, std::vector<double> base,
                  double start_factor, double end_factor, int64_t total_iters)
      : ChainableScheduler(optimizer, std::move(base)),
        start_factor_(start_factor),
        end_factor_(end_factor),
        total_iters_(total_iters) {}

 protected:
  double RecursiveLr(double lr, double) const override {
    const int64_t epoch = last_epoch();
    if (epoch == 0) return lr * start_factor_;
    if (epoch > total_iters_) return lr;
    return lr * (1. + (end_factor_ - start_factor_) /
                          (static_cast<double>(total_iters_) * start_factor_ +
                           static_cast<double>(epoch - 1) *
                               (end_factor_ - start_factor_)));
  }
  std::optional<double> ClosedFormLr(double base_lr) const override {
    return base_lr *
           (start_factor_ +
            (end_factor_ - start_factor_) *
                static_cast<double>(std::min(total_iters_, last_epoch())) /
                static_cast<double>(total_iters_));
  }

 private:
  double start_factor_;
  double end_factor_;
  int64_t total_iters_;
};

// torch.optim.lr_scheduler.SequentialLR, including its constructor's resets.
class SequentialScheduler : public LrScheduler {
 public:
  SequentialScheduler(torch::optim::Optimizer& optimizer,
                      std::vector<double> base_lrs,
                      std::vector<std::unique_ptr<ChainableScheduler>> schedulers,
                      std::vector<int64_t> milestones)
      : schedulers_(std::move(schedulers)), milestones_(std::move(milestones)) {
    SetLearningRates(optimizer, base_lrs);
    for (auto& scheduler : schedulers_) {
      scheduler->set_last_epoch(scheduler->last_epoch() - 1);
    }
    schedulers_[0]->InitialStep();
  }

  void Step(double metric) override {
    ++last_epoch_;
    const size_t index =
        std::upper_bound(milestones_.begin(), milestones_.end(), last_epoch_) -
        milestones_.begin();
    ChainableScheduler& scheduler = *schedulers_[index];
    if (index > 0 && milestones_[index - 1] == last_epoch_) {
      scheduler.StepTo(0);
    } else {
      scheduler.Step(metric);
    }
  }

  nlohmann::json State() const override {
    nlohmann::json inner = nlohmann::json::array();
    for (const auto& scheduler : schedulers_) inner.push_back(scheduler->State());
    return {{"last_epoch", last_epoch_}, {"schedulers", inner}};
  }

  absl::Status LoadState(const nlohmann::json& state) override {
    try {
      const nlohmann::json& inner = state.at("schedulers");
      if (!inner.is_array() || inner.size() != schedulers_.size()) {
        return BadSchedulerState("wrong number of chained schedulers", state);
      }
      // The last restored scheduler sets the optimizer's rates; all of them
      // saved the same (current) ones.
      for (size_t i = 0; i < schedulers_.size(); ++i) {
        absl::Status status = schedulers_[i]->LoadState(inner[i]);
        if (!status.ok()) return status;
      }
      last_epoch_ = state.at("last_epoch").get<int64_t>();
    } catch (const nlohmann::json::exception& e) {
      return BadSchedulerState(e.what(), state);
    }
    return absl::OkStatus();
  }

 private:
  std::vector<std::unique_ptr<ChainableScheduler>> schedulers_;
  std::vector<int64_t> milestones_;
  int64_t last_epoch_ = 0;
};

absl::Status Invalid(const std::string& message) {
  return absl::InvalidArgumentError(message);
}

}  // namespace

absl::Status BadSchedulerState(const std::string& what, const nlohmann::json& state) {
  return absl::InvalidArgumentError(
      absl::StrCat("bad scheduler state (", what, "): ", state.dump()));
}

Registry<SchedulerEntry>& SchedulerRegistry() {
  static auto* registry = new Registry<SchedulerEntry>("scheduler");
  return *registry;
}

absl::StatusOr<OptionValues> ResolveSchedulerOptions(
    const std::string& name, const nlohmann::json& given,
    const std::function<std::string(const std::string& key)>& where) {
  absl::StatusOr<SchedulerEntry> entry = SchedulerRegistry().Find(name);
  if (!entry.ok()) return entry.status();
  return ResolveOptions(entry->options, given, absl::StrCat("scheduler '", name, "'"), where);
}

absl::StatusOr<std::unique_ptr<LrScheduler>> BuildScheduler(
    const std::string& name, const OptionValues& options, torch::optim::Optimizer& optimizer,
    const ScheduleSettings& settings) {
  absl::StatusOr<SchedulerEntry> entry = SchedulerRegistry().Find(name);
  if (!entry.ok()) return entry.status();
  CHECK_GE(settings.warmup_epochs, 0);
  CHECK(settings.warmup_epochs == 0 ||
        (settings.warmup_start_factor > 0 && settings.warmup_start_factor <= 1))
      << settings.warmup_start_factor;
  if (entry->standalone) {
    if (settings.warmup_epochs > 0) {
      return Invalid(absl::StrCat("scheduler '", name,
                                  "' cannot follow a warm-up, as in PyTorch's SequentialLR"));
    }
    return entry->standalone(options, optimizer, settings);
  }
  CHECK(entry->chainable) << "scheduler '" << name << "' registered without a factory";
  const std::vector<double> base = GetLearningRates(optimizer);
  absl::StatusOr<std::unique_ptr<ChainableScheduler>> main =
      entry->chainable(options, optimizer, base, settings);
  if (!main.ok()) return main.status();
  if (settings.warmup_epochs == 0) {
    (*main)->InitialStep();
    return std::unique_ptr<LrScheduler>(std::move(*main));
  }
  // As in PyTorch: construct LinearLR, then the main schedule, then
  // SequentialLR over both; each constructor performs its initial step.
  auto warmup = std::make_unique<LinearScheduler>(optimizer, base, settings.warmup_start_factor,
                                                  1.0, settings.warmup_epochs);
  warmup->InitialStep();
  (*main)->InitialStep();
  std::vector<std::unique_ptr<ChainableScheduler>> chain;
  chain.push_back(std::move(warmup));
  chain.push_back(std::move(*main));
  return std::unique_ptr<LrScheduler>(
      new SequentialScheduler(optimizer, base, std::move(chain), {settings.warmup_epochs}));
}

absl::StatusOr<std::unique_ptr<LrScheduler>> BuildScheduler(
    const std::string& name, const nlohmann::json& given, torch::optim::Optimizer& optimizer,
    const ScheduleSettings& settings) {
  absl::StatusOr<OptionValues> options =
      ResolveSchedulerOptions(name, given, [](const std::string& key) { return "'" + key + "'"; });
  if (!options.ok()) return options.status();
  return BuildScheduler(name, *options, optimizer, settings);
}

}  // namespace framework
