// The schedules every binary has, each equal to its torch.optim.lr_scheduler
// counterpart to the bit: none (LambdaLR(1)), step, multistep, exponential,
// cosine (CosineAnnealingLR) and plateau (ReduceLROnPlateau).
#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

#include "absl/strings/str_cat.h"
#include "framework/optim/lr_scheduler.h"
#include "framework/optim/optimizer.h"

namespace framework {
namespace {

using ChainablePtr = std::unique_ptr<ChainableScheduler>;

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
  PlateauScheduler(torch::optim::Optimizer& optimizer, const OptionValues& options,
                   bool maximize)
      : optimizer_(optimizer),
        maximize_(maximize),
        relative_(options.Choice("threshold_mode") == "rel"),
        factor_(options.Double("factor")),
        patience_(options.Int("patience")),
        threshold_(options.Double("threshold")),
        cooldown_(options.Int("cooldown")),
        min_lr_(options.Double("min_lr")),
        eps_(options.Double("eps")),
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

absl::StatusOr<ChainablePtr> BuildConstant(const OptionValues&, torch::optim::Optimizer& optimizer,
                                           std::vector<double> base, const ScheduleSettings&) {
  return ChainablePtr(new ConstantScheduler(optimizer, std::move(base)));
}

OptionSpec Gamma(double default_value) {
  return DoubleOption("gamma", default_value, "Multiplicative factor of the decay.")
      .Above(0)
      .PyTorchKey("gamma");
}

const DeclaredOptions& StepOptions() {
  static const auto* options = new DeclaredOptions{
      IntOption("step_size", 10, "Decay every N epochs.").AtLeast(1).PyTorchKey("step_size"),
      Gamma(0.1),
  };
  return *options;
}

absl::StatusOr<ChainablePtr> BuildStep(const OptionValues& o, torch::optim::Optimizer& optimizer,
                                       std::vector<double> base, const ScheduleSettings&) {
  return ChainablePtr(
      new StepScheduler(optimizer, std::move(base), o.Int("step_size"), o.Double("gamma")));
}

const DeclaredOptions& MultiStepOptions() {
  static const auto* options = new DeclaredOptions{
      // No PyTorch key: MultiStepLR keeps its milestones as a Counter, which
      // our pickle writer does not write, so the schedule is not exported.
      IntListOption("milestones", {}, "Epochs after which to decay, e.g. 10,15.")
          .AtLeast(1)
          .NonEmpty(),
      Gamma(0.1),
  };
  return *options;
}

absl::StatusOr<ChainablePtr> BuildMultiStep(const OptionValues& o,
                                            torch::optim::Optimizer& optimizer,
                                            std::vector<double> base, const ScheduleSettings&) {
  return ChainablePtr(new MultiStepScheduler(optimizer, std::move(base), o.IntList("milestones"),
                                             o.Double("gamma")));
}

const DeclaredOptions& ExponentialOptions() {
  static const auto* options = new DeclaredOptions{Gamma(0.1)};
  return *options;
}

absl::StatusOr<ChainablePtr> BuildExponential(const OptionValues& o,
                                              torch::optim::Optimizer& optimizer,
                                              std::vector<double> base, const ScheduleSettings&) {
  return ChainablePtr(new ExponentialScheduler(optimizer, std::move(base), o.Double("gamma")));
}

const DeclaredOptions& CosineOptions() {
  static const auto* options = new DeclaredOptions{
      IntOption("t_max", 0, "Period in epochs; 0: the epochs after warm-up.")
          .AtLeast(0)
          .PyTorchKey("T_max"),
      DoubleOption("eta_min", 0.0, "Minimum learning rate.").AtLeast(0).PyTorchKey("eta_min"),
  };
  return *options;
}

absl::StatusOr<ChainablePtr> BuildCosine(const OptionValues& o, torch::optim::Optimizer& optimizer,
                                         std::vector<double> base,
                                         const ScheduleSettings& settings) {
  const int64_t t_max = o.Int("t_max") > 0 ? o.Int("t_max")
                                           : std::max<int64_t>(1, settings.ScheduleEpochs());
  return ChainablePtr(new CosineScheduler(optimizer, std::move(base), t_max, o.Double("eta_min")));
}

const DeclaredOptions& PlateauOptions() {
  static const auto* options = new DeclaredOptions{
      ChoiceOption("mode", "auto", {"auto", "min", "max"},
                   "Whether the monitored metric improves downwards or upwards; auto: as "
                   "the run's monitor says."),
      DoubleOption("factor", 0.1, "Decay factor.").Above(0).Below(1),
      IntOption("patience", 10, "Epochs without improvement before a decay.").AtLeast(0),
      DoubleOption("threshold", 1e-4, "Smallest change that counts as an improvement.")
          .AtLeast(0),
      ChoiceOption("threshold_mode", "rel", {"rel", "abs"},
                   "Whether the threshold is relative or absolute."),
      IntOption("cooldown", 0, "Epochs to wait after a decay.").AtLeast(0),
      DoubleOption("min_lr", 0.0, "Lower bound of the learning rate.").AtLeast(0),
      DoubleOption("eps", 1e-8, "Smallest decay applied.").AtLeast(0),
  };
  return *options;
}

absl::StatusOr<std::unique_ptr<LrScheduler>> BuildPlateau(const OptionValues& o,
                                                          torch::optim::Optimizer& optimizer,
                                                          const ScheduleSettings& settings) {
  const std::string mode = o.Choice("mode");
  const bool maximize = mode == "auto" ? settings.monitor_maximizes : mode == "max";
  return std::unique_ptr<LrScheduler>(new PlateauScheduler(optimizer, o, maximize));
}

}  // namespace

REGISTER_SCHEDULER("none", ChainableSchedule(BuildConstant));
REGISTER_SCHEDULER("step", ChainableSchedule(BuildStep, StepOptions()));
REGISTER_SCHEDULER("multistep", ChainableSchedule(BuildMultiStep, MultiStepOptions()));
REGISTER_SCHEDULER("exponential", ChainableSchedule(BuildExponential, ExponentialOptions()));
REGISTER_SCHEDULER("cosine", ChainableSchedule(BuildCosine, CosineOptions()));
REGISTER_SCHEDULER("plateau", StandaloneSchedule(BuildPlateau, PlateauOptions()));

}  // namespace framework
