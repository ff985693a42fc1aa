// The schedules every binary has, each equal to its torch.optim.lr_scheduler
// counterpart to the bit: none (LambdaLR(1)), step, multistep, exponential,
// cosine (CosineAnnealingLR) and plateau (ReduceLROnPlateau).
#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "framework/optim/lr_scheduler.h"
#include "framework/optim/optimizer.h"

namespace framework {
namespace {

using ChainablePtr = std::unique_ptr<ChainableScheduler>;

absl::Status Invalid(const std::string& message) {
  return absl::InvalidArgumentError(message);
}

// PyTorch has no "none" schedule; this one behaves as LambdaLR(lambda e: 1).
class ConstantScheduler : public ChainableScheduler {
 public:
  using ChainableScheduler::ChainableScheduler;

 protected:
  double RecursiveLr(double, double base_lr) const override { return base_lr; }
};

class StepScheduler : public ChainableScheduler {
 public:
  StepScheduler(torch::optim::Optimizer& optimizer, std::vector<double> base,
                int64_t step_size, double gamma)
      : ChainableScheduler(optimizer, std::move(base)),
        step_size_(step_size),
        gamma_(gamma) {}

 protected:
  double RecursiveLr(double lr, double) const override {
    if (last_epoch() == 0 || last_epoch() % step_size_ != 0) return lr;
    return lr * gamma_;
  }
  std::optional<double> ClosedFormLr(double base_lr) const override {
    return base_lr * std::pow(gamma_, static_cast<double>(last_epoch() / step_size_));
  }

 private:
  int64_t step_size_;
  double gamma_;
};

class MultiStepScheduler : public ChainableScheduler {
 public:
  MultiStepScheduler(torch::optim::Optimizer& optimizer,
                     std::vector<double> base, std::vector<int64_t> milestones,
                     double gamma)
      : ChainableScheduler(optimizer, std::move(base)),
        milestones_(std::move(milestones)),
        gamma_(gamma) {
    std::sort(milestones_.begin(), milestones_.end());
  }

 protected:
  double RecursiveLr(double lr, double) const override {
    const auto count =
        std::count(milestones_.begin(), milestones_.end(), last_epoch());
    if (count == 0) return lr;
    return lr * std::pow(gamma_, static_cast<double>(count));
  }
  std::optional<double> ClosedFormLr(double base_lr) const override {
    const auto passed =
        std::upper_bound(milestones_.begin(), milestones_.end(), last_epoch()) -
        milestones_.begin();
    return base_lr * std::pow(gamma_, static_cast<double>(passed));
  }

 private:
  std::vector<int64_t> milestones_;
  double gamma_;
};

class ExponentialScheduler : public ChainableScheduler {
 public:
  ExponentialScheduler(torch::optim::Optimizer& optimizer,
                       std::vector<double> base, double gamma)
      : ChainableScheduler(optimizer, std::move(base)), gamma_(gamma) {}

 protected:
  double RecursiveLr(double lr, double) const override {
    return last_epoch() == 0 ? lr : lr * gamma_;
  }
  std::optional<double> ClosedFormLr(double base_lr) const override {
    return base_lr * std::pow(gamma_, static_cast<double>(last_epoch()));
  }

 private:
  double gamma_;
};

class CosineScheduler : public ChainableScheduler {
 public:
  CosineScheduler(torch::optim::Optimizer& optimizer, std::vector<double> base,
                  int64_t t_max, double eta_min)
      : ChainableScheduler(optimizer, std::move(base)),
        t_max_(t_max),
        eta_min_(eta_min) {}

 protected:
  double RecursiveLr(double lr, double base_lr) const override {
    const int64_t epoch = last_epoch();
    const double t_max = static_cast<double>(t_max_);
    if (epoch == 0) return lr;
    if (step_count() == 1 && epoch > 0) {
      return eta_min_ + (base_lr - eta_min_) *
                            (1 + std::cos(static_cast<double>(epoch) * M_PI / t_max)) / 2;
    }
    if ((epoch - 1 - t_max_) % (2 * t_max_) == 0) {
      return lr + (base_lr - eta_min_) * (1 - std::cos(M_PI / t_max)) / 2;
    }
    return (1 + std::cos(M_PI * static_cast<double>(epoch) / t_max)) /
               (1 + std::cos(M_PI * static_cast<double>(epoch - 1) / t_max)) *
               (lr - eta_min_) +
           eta_min_;
  }
  std::optional<double> ClosedFormLr(double base_lr) const override {
    return eta_min_ + (base_lr - eta_min_) *
                          (1 + std::cos(M_PI * static_cast<double>(last_epoch()) /
                                        static_cast<double>(t_max_))) /
                          2;
  }

 private:
  int64_t t_max_;
  double eta_min_;
};

// torch.optim.lr_scheduler.ReduceLROnPlateau.
class PlateauScheduler : public LrScheduler {
 public:
  PlateauScheduler(torch::optim::Optimizer& optimizer,
                   const SchedulerOptions& options)
      : optimizer_(optimizer),
        maximize_(options.plateau_mode == "max"),
        relative_(options.plateau_threshold_mode == "rel"),
        factor_(options.plateau_factor),
        patience_(options.plateau_patience),
        threshold_(options.plateau_threshold),
        cooldown_(options.plateau_cooldown),
        min_lr_(options.plateau_min_lr),
        eps_(options.plateau_eps),
        best_(WorstValue()) {}

  void Step(double metric) override {
    last_epoch_ += 1;
    if (IsBetter(metric, best_)) {
      best_ = metric;
      num_bad_epochs_ = 0;
    } else {
      num_bad_epochs_ += 1;
    }
    if (cooldown_counter_ > 0) {
      cooldown_counter_ -= 1;
      num_bad_epochs_ = 0;
    }
    if (num_bad_epochs_ > patience_) {
      std::vector<double> lrs = GetLearningRates(optimizer_);
      for (double& lr : lrs) {
        const double reduced = std::max(lr * factor_, min_lr_);
        if (lr - reduced > eps_) lr = reduced;
      }
      SetLearningRates(optimizer_, lrs);
      cooldown_counter_ = cooldown_;
      num_bad_epochs_ = 0;
    }
  }

  nlohmann::json State() const override {
    // JSON has no infinity: an unset best is stored as null.
    nlohmann::json best = std::isfinite(best_) ? nlohmann::json(best_) : nullptr;
    return {{"last_epoch", last_epoch_},
            {"best", best},
            {"num_bad_epochs", num_bad_epochs_},
            {"cooldown_counter", cooldown_counter_},
            {"lrs", GetLearningRates(optimizer_)}};
  }

  absl::Status LoadState(const nlohmann::json& state) override {
    try {
      std::vector<double> lrs = state.at("lrs").get<std::vector<double>>();
      if (lrs.size() != optimizer_.param_groups().size()) {
        return BadSchedulerState("parameter group count differs", state);
      }
      last_epoch_ = state.at("last_epoch").get<int64_t>();
      best_ = state.at("best").is_null() ? WorstValue()
                                         : state.at("best").get<double>();
      num_bad_epochs_ = state.at("num_bad_epochs").get<int64_t>();
      cooldown_counter_ = state.at("cooldown_counter").get<int64_t>();
      SetLearningRates(optimizer_, lrs);
    } catch (const nlohmann::json::exception& e) {
      return BadSchedulerState(e.what(), state);
    }
    return absl::OkStatus();
  }

 private:
  double WorstValue() const {
    return maximize_ ? -std::numeric_limits<double>::infinity()
                     : std::numeric_limits<double>::infinity();
  }

  bool IsBetter(double value, double best) const {
    if (relative_) {
      return maximize_ ? value > best * (threshold_ + 1.)
                       : value < best * (1. - threshold_);
    }
    return maximize_ ? value > best + threshold_ : value < best - threshold_;
  }

  torch::optim::Optimizer& optimizer_;
  const bool maximize_;
  const bool relative_;
  const double factor_;
  const int64_t patience_;
  const double threshold_;
  const int64_t cooldown_;
  const double min_lr_;
  const double eps_;
  double best_;
  int64_t last_epoch_ = 0;
  int64_t num_bad_epochs_ = 0;
  int64_t cooldown_counter_ = 0;
};

absl::StatusOr<ChainablePtr> BuildConstant(const SchedulerOptions&, torch::optim::Optimizer& optimizer,
                                           std::vector<double> base, int64_t) {
  return ChainablePtr(new ConstantScheduler(optimizer, std::move(base)));
}

absl::StatusOr<ChainablePtr> BuildStep(const SchedulerOptions& o, torch::optim::Optimizer& optimizer,
                                       std::vector<double> base, int64_t) {
  if (o.step_size < 1) return Invalid(absl::StrCat("--step_size must be >= 1, got ", o.step_size));
  return ChainablePtr(new StepScheduler(optimizer, std::move(base), o.step_size, o.gamma));
}

absl::StatusOr<ChainablePtr> BuildMultiStep(const SchedulerOptions& o,
                                            torch::optim::Optimizer& optimizer,
                                            std::vector<double> base, int64_t) {
  if (o.milestones.empty()) return Invalid("--scheduler=multistep needs --milestones (e.g. 10,15)");
  for (int64_t milestone : o.milestones) {
    if (milestone < 1) {
      return Invalid(absl::StrCat("--milestones must be >= 1, got ", absl::StrJoin(o.milestones, ",")));
    }
  }
  return ChainablePtr(new MultiStepScheduler(optimizer, std::move(base), o.milestones, o.gamma));
}

absl::StatusOr<ChainablePtr> BuildExponential(const SchedulerOptions& o,
                                              torch::optim::Optimizer& optimizer,
                                              std::vector<double> base, int64_t) {
  return ChainablePtr(new ExponentialScheduler(optimizer, std::move(base), o.gamma));
}

absl::StatusOr<ChainablePtr> BuildCosine(const SchedulerOptions& o, torch::optim::Optimizer& optimizer,
                                         std::vector<double> base, int64_t epochs) {
  const int64_t t_max = o.t_max > 0 ? o.t_max : std::max<int64_t>(1, epochs - o.warmup_epochs);
  return ChainablePtr(new CosineScheduler(optimizer, std::move(base), t_max, o.eta_min));
}

absl::StatusOr<std::unique_ptr<LrScheduler>> BuildPlateau(const SchedulerOptions& o,
                                                          torch::optim::Optimizer& optimizer,
                                                          int64_t /*epochs*/) {
  if (o.plateau_mode != "min" && o.plateau_mode != "max") {
    return Invalid(absl::StrCat("plateau mode must be min or max, got '", o.plateau_mode, "'"));
  }
  if (o.plateau_threshold_mode != "rel" && o.plateau_threshold_mode != "abs") {
    return Invalid(absl::StrCat("--plateau_threshold_mode must be rel or abs, got '",
                                o.plateau_threshold_mode, "'"));
  }
  if (!(o.plateau_factor > 0 && o.plateau_factor < 1)) {
    return Invalid(absl::StrCat("--plateau_factor must be in (0, 1), got ", o.plateau_factor));
  }
  if (o.plateau_patience < 0 || o.plateau_cooldown < 0) {
    return Invalid("--plateau_patience and --plateau_cooldown must be >= 0");
  }
  return std::unique_ptr<LrScheduler>(new PlateauScheduler(optimizer, o));
}

}  // namespace

REGISTER_SCHEDULER("none", ChainableSchedule(BuildConstant));
REGISTER_SCHEDULER("step", ChainableSchedule(BuildStep));
REGISTER_SCHEDULER("multistep", ChainableSchedule(BuildMultiStep));
REGISTER_SCHEDULER("exponential", ChainableSchedule(BuildExponential));
REGISTER_SCHEDULER("cosine", ChainableSchedule(BuildCosine));
REGISTER_SCHEDULER("plateau", StandaloneSchedule(BuildPlateau));

}  // namespace framework
