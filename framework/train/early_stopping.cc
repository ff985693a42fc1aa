#include "framework/train/early_stopping.h"

#include <cmath>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "framework/train/callback.h"
#include "framework/train/training_loop.h"
#include "glog/logging.h"

namespace framework {

std::optional<std::string> ObserveEpoch(const EarlyStoppingRule& rule, const std::string& monitor,
                                        int64_t epoch, double value, EarlyStoppingState& state) {
  if (!std::isfinite(value)) {
    return absl::StrCat(monitor, " is ", value, " after epoch ", epoch);
  }
  const bool improved = !state.best.has_value() ||
                        (rule.maximize ? value > *state.best + rule.min_delta
                                       : value < *state.best - rule.min_delta);
  if (improved) {
    state.best = value;
    state.best_epoch = epoch;
    state.epochs_without_improvement = 0;
    return std::nullopt;
  }
  ++state.epochs_without_improvement;
  if (state.epochs_without_improvement < rule.patience) return std::nullopt;
  return absl::StrFormat(
      "%s has not %s by more than %g for %d epoch(s) (best %.6g after epoch %d; %.6g after "
      "epoch %d)",
      monitor, rule.maximize ? "risen" : "fallen", rule.min_delta,
      state.epochs_without_improvement, *state.best, state.best_epoch, value, epoch);
}

const DeclaredOptions& EarlyStoppingOptions() {
  static const auto* options = new DeclaredOptions{
      IntOption("patience", 3, "Epochs without improvement of --monitor before training ends.")
          .AtLeast(1),
      DoubleOption("min_delta", 0.0, "How much better than the best an epoch must be to count.")
          .AtLeast(0),
  };
  return *options;
}

namespace {

class EarlyStoppingCallback : public Callback {
 public:
  EarlyStoppingCallback(EarlyStoppingRule rule, std::string monitor)
      : rule_(rule), monitor_(std::move(monitor)) {}

  absl::Status OnEpochEnd(TrainingLoop& loop, const EpochRecord& record) override {
    auto value = record.values.find(monitor_);
    if (value == record.values.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--monitor: early stopping follows '", monitor_, "', which is not a metric of this run"));
    }
    std::optional<std::string> reason =
        ObserveEpoch(rule_, monitor_, record.epoch, value->second, state_);
    if (reason.has_value()) {
      if (loop.rank() == 0) {
        LOG(INFO) << "Early stopping after epoch " << record.epoch << ": " << *reason;
      }
      loop.EndTraining(absl::StrCat("early stopping: ", *reason));
    }
    return absl::OkStatus();
  }

  CallbackState State() const override {
    CallbackState state;
    state.values = {{"best", state_.best.has_value() ? nlohmann::json(*state_.best) : nullptr},
                    {"best_epoch", state_.best_epoch},
                    {"epochs_without_improvement", state_.epochs_without_improvement}};
    return state;
  }

  absl::Status LoadState(const CallbackState& state, const std::string& source) override {
    try {
      EarlyStoppingState loaded;
      if (!state.values.at("best").is_null()) loaded.best = state.values.at("best").get<double>();
      loaded.best_epoch = state.values.at("best_epoch").get<int64_t>();
      loaded.epochs_without_improvement =
          state.values.at("epochs_without_improvement").get<int64_t>();
      state_ = loaded;
    } catch (const nlohmann::json::exception& e) {
      return absl::DataLossError(absl::StrCat("bad state ", state.values.dump(), ": ", e.what()));
    }
    return absl::OkStatus();
  }

 private:
  const EarlyStoppingRule rule_;
  const std::string monitor_;
  EarlyStoppingState state_;
};

absl::StatusOr<std::unique_ptr<Callback>> BuildEarlyStopping(const CallbackContext& context) {
  EarlyStoppingRule rule;
  rule.patience = context.options.Int("patience");
  rule.min_delta = context.options.Double("min_delta");
  rule.maximize = context.monitor_maximizes;
  return std::make_unique<EarlyStoppingCallback>(rule, context.monitor);
}

}  // namespace

REGISTER_CALLBACK("early_stopping", BuildEarlyStopping, EarlyStoppingOptions());

}  // namespace framework
