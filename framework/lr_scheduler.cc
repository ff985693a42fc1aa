#include "framework/lr_scheduler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "framework/optimizer.h"

namespace framework {
namespace {

using SchedulerPtr = std::unique_ptr<LrScheduler>;

absl::Status StateError(const std::string& what, const nlohmann::json& state) {
  return absl::InvalidArgumentError(
      absl::StrCat("bad scheduler state (", what, "): ", state.dump()));
}

// Mirrors torch.optim.lr_scheduler._LRScheduler: a recursive get_lr() on the
// current learning rate, and an optional closed form used when stepped to an
// explicit epoch (as SequentialLR does at its milestones).
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

  nlohmann::json State() const override {
    return {{"last_epoch", last_epoch_},
            {"step_count", step_count_},
            {"base_lrs", base_lrs_},
            {"lrs", GetLearningRates(optimizer_)}};
  }

  absl::Status LoadState(const nlohmann::json& state) override {
    try {
      std::vector<double> lrs = state.at("lrs").get<std::vector<double>>();
      std::vector<double> base_lrs =
          state.at("base_lrs").get<std::vector<double>>();
      if (lrs.size() != optimizer_.param_groups().size() ||
          base_lrs.size() != lrs.size()) {
        return StateError("parameter group count differs", state);
      }
      last_epoch_ = state.at("last_epoch").get<int64_t>();
      step_count_ = state.at("step_count").get<int64_t>();
      base_lrs_ = std::move(base_lrs);
      SetLearningRates(optimizer_, lrs);
    } catch (const nlohmann::json::exception& e) {
      return StateError(e.what(), state);
    }
    return absl::OkStatus();
  }

 protected:
  // get_lr() for one parameter group, after last_epoch_ was advanced.
  virtual double RecursiveLr(double current_lr, double base_lr) const = 0;
  virtual std::optional<double> ClosedFormLr(double /*base_lr*/) const {
    return std::nullopt;
  }

  int64_t step_count() const { return step_count_; }

 private:
  void Advance(std::optional<int64_t> epoch) {
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

  torch::optim::Optimizer& optimizer_;
  std::vector<double> base_lrs_;
  int64_t last_epoch_ = -1;
  int64_t step_count_ = 0;
};

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
        return StateError("wrong number of chained schedulers", state);
      }
      // The last restored scheduler sets the optimizer's rates; all of them
      // saved the same (current) ones.
      for (size_t i = 0; i < schedulers_.size(); ++i) {
        absl::Status status = schedulers_[i]->LoadState(inner[i]);
        if (!status.ok()) return status;
      }
      last_epoch_ = state.at("last_epoch").get<int64_t>();
    } catch (const nlohmann::json::exception& e) {
      return StateError(e.what(), state);
    }
    return absl::OkStatus();
  }

 private:
  std::vector<std::unique_ptr<ChainableScheduler>> schedulers_;
  std::vector<int64_t> milestones_;
  int64_t last_epoch_ = 0;
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
        return StateError("parameter group count differs", state);
      }
      last_epoch_ = state.at("last_epoch").get<int64_t>();
      best_ = state.at("best").is_null() ? WorstValue()
                                         : state.at("best").get<double>();
      num_bad_epochs_ = state.at("num_bad_epochs").get<int64_t>();
      cooldown_counter_ = state.at("cooldown_counter").get<int64_t>();
      SetLearningRates(optimizer_, lrs);
    } catch (const nlohmann::json::exception& e) {
      return StateError(e.what(), state);
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

absl::Status Invalid(const std::string& message) {
  return absl::InvalidArgumentError(message);
}

// Builds a chainable schedule (without its initial step).
absl::StatusOr<std::unique_ptr<ChainableScheduler>> BuildChainable(
    const SchedulerOptions& o, torch::optim::Optimizer& optimizer,
    std::vector<double> base, int64_t epochs) {
  if (o.name == "none") {
    return std::unique_ptr<ChainableScheduler>(
        new ConstantScheduler(optimizer, std::move(base)));
  }
  if (o.name == "step") {
    if (o.step_size < 1) {
      return Invalid(absl::StrCat("--step_size must be >= 1, got ", o.step_size));
    }
    return std::unique_ptr<ChainableScheduler>(
        new StepScheduler(optimizer, std::move(base), o.step_size, o.gamma));
  }
  if (o.name == "multistep") {
    if (o.milestones.empty()) {
      return Invalid("--scheduler=multistep needs --milestones (e.g. 10,15)");
    }
    for (int64_t milestone : o.milestones) {
      if (milestone < 1) {
        return Invalid(absl::StrCat("--milestones must be >= 1, got ",
                                    absl::StrJoin(o.milestones, ",")));
      }
    }
    return std::unique_ptr<ChainableScheduler>(new MultiStepScheduler(
        optimizer, std::move(base), o.milestones, o.gamma));
  }
  if (o.name == "exponential") {
    return std::unique_ptr<ChainableScheduler>(
        new ExponentialScheduler(optimizer, std::move(base), o.gamma));
  }
  if (o.name == "cosine") {
    const int64_t t_max =
        o.t_max > 0 ? o.t_max : std::max<int64_t>(1, epochs - o.warmup_epochs);
    return std::unique_ptr<ChainableScheduler>(
        new CosineScheduler(optimizer, std::move(base), t_max, o.eta_min));
  }
  return absl::NotFoundError(absl::StrCat("scheduler '", o.name,
                                          "' cannot follow a warm-up"));
}

absl::StatusOr<SchedulerPtr> BuildChainableTopLevel(
    const SchedulerOptions& o, torch::optim::Optimizer& optimizer,
    int64_t epochs) {
  std::vector<double> base = GetLearningRates(optimizer);
  absl::StatusOr<std::unique_ptr<ChainableScheduler>> main =
      BuildChainable(o, optimizer, base, epochs);
  if (!main.ok()) return main.status();
  if (o.warmup_epochs == 0) {
    (*main)->InitialStep();
    return SchedulerPtr(std::move(*main));
  }
  // As in PyTorch: construct LinearLR, then the main schedule, then
  // SequentialLR over both; each constructor performs its initial step.
  auto warmup = std::make_unique<LinearScheduler>(
      optimizer, base, o.warmup_start_factor, 1.0, o.warmup_epochs);
  warmup->InitialStep();
  (*main)->InitialStep();
  std::vector<std::unique_ptr<ChainableScheduler>> chain;
  chain.push_back(std::move(warmup));
  chain.push_back(std::move(*main));
  return SchedulerPtr(new SequentialScheduler(
      optimizer, base, std::move(chain), {o.warmup_epochs}));
}

absl::StatusOr<SchedulerPtr> BuildPlateau(const SchedulerOptions& o,
                                          torch::optim::Optimizer& optimizer,
                                          int64_t /*epochs*/) {
  if (o.warmup_epochs > 0) {
    return Invalid("--scheduler=plateau cannot follow a warm-up "
                   "(--warmup_epochs must be 0), as in PyTorch's SequentialLR");
  }
  if (o.plateau_mode != "min" && o.plateau_mode != "max") {
    return Invalid(absl::StrCat("plateau mode must be min or max, got '",
                                o.plateau_mode, "'"));
  }
  if (o.plateau_threshold_mode != "rel" && o.plateau_threshold_mode != "abs") {
    return Invalid(absl::StrCat("--plateau_threshold_mode must be rel or abs, got '",
                                o.plateau_threshold_mode, "'"));
  }
  if (!(o.plateau_factor > 0 && o.plateau_factor < 1)) {
    return Invalid(absl::StrCat("--plateau_factor must be in (0, 1), got ",
                                o.plateau_factor));
  }
  if (o.plateau_patience < 0 || o.plateau_cooldown < 0) {
    return Invalid("--plateau_patience and --plateau_cooldown must be >= 0");
  }
  return SchedulerPtr(new PlateauScheduler(optimizer, o));
}

}  // namespace

Registry<SchedulerFactory>& SchedulerRegistry() {
  static auto* registry = [] {
    auto* r = new Registry<SchedulerFactory>("scheduler");
    for (const char* name : {"none", "step", "multistep", "exponential", "cosine"}) {
      r->Register(name, BuildChainableTopLevel);
    }
    r->Register("plateau", BuildPlateau);
    return r;
  }();
  return *registry;
}

absl::StatusOr<std::unique_ptr<LrScheduler>> BuildScheduler(
    const SchedulerOptions& options, torch::optim::Optimizer& optimizer,
    int64_t epochs) {
  absl::StatusOr<SchedulerFactory> factory =
      SchedulerRegistry().Find(options.name);
  if (!factory.ok()) return factory.status();
  if (options.warmup_epochs < 0) {
    return Invalid(absl::StrCat("--warmup_epochs must be >= 0, got ",
                                options.warmup_epochs));
  }
  if (options.warmup_epochs > 0 &&
      !(options.warmup_start_factor > 0 && options.warmup_start_factor <= 1)) {
    return Invalid(absl::StrCat("--warmup_start_factor must be in (0, 1], got ",
                                options.warmup_start_factor));
  }
  if (!(options.gamma > 0)) {
    return Invalid(absl::StrCat("--gamma must be > 0, got ", options.gamma));
  }
  return (*factory)(options, optimizer, epochs);
}

}  // namespace framework
