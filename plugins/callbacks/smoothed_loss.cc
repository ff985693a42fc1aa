// Callback "smoothed_loss": the training loss smoothed over steps, as
// fastai's SmoothenValue and most progress displays compute it, reported per
// epoch as train_smoothed_loss in metrics.jsonl and the curves.
//
// It is the example of a callback with state: the running average and the
// step count go into every checkpoint (and come back on resume), so a
// resumed run reports the same value as one that never stopped, to the bit.
// Select it with --callbacks=smoothed_loss; its option:
// --callback_options={"smoothed_loss":{"beta":0.9}}.
#include <cmath>
#include <memory>

#include "absl/strings/str_cat.h"
#include "framework/train/callback.h"
#include "framework/train/training_loop.h"

namespace {

using framework::Callback;
using framework::CallbackContext;
using framework::CallbackState;

class SmoothedLoss : public Callback {
 public:
  explicit SmoothedLoss(double beta) : beta_(beta) {}

  absl::Status OnStepEnd(framework::TrainingLoop& loop) override {
    average_ = beta_ * average_ + (1 - beta_) * loop.last_step().loss;
    ++steps_;
    return absl::OkStatus();
  }

  absl::Status AfterEvaluation(framework::TrainingLoop& loop,
                               framework::EpochRecord& record) override {
    // Bias-corrected: the average starts at zero.
    if (steps_ > 0) {
      record.values["train_smoothed_loss"] =
          average_ / (1 - std::pow(beta_, static_cast<double>(steps_)));
    }
    return absl::OkStatus();
  }

  std::vector<std::string> AddedValues(const std::vector<std::string>&) const override {
    return {"train_smoothed_loss"};
  }

  CallbackState State() const override {
    CallbackState state;
    state.values = {{"average", average_}, {"steps", steps_}};
    return state;
  }

  absl::Status LoadState(const CallbackState& state, const std::string& source) override {
    if (!state.values.contains("average") || !state.values.contains("steps")) {
      return absl::DataLossError(absl::StrCat("expected average and steps, got ",
                                              state.values.dump()));
    }
    average_ = state.values["average"].get<double>();
    steps_ = state.values["steps"].get<int64_t>();
    return absl::OkStatus();
  }

 private:
  const double beta_;
  double average_ = 0;
  int64_t steps_ = 0;
};

absl::StatusOr<std::unique_ptr<Callback>> BuildSmoothedLoss(const CallbackContext& context) {
  return std::make_unique<SmoothedLoss>(context.options.Double("beta"));
}

const framework::DeclaredOptions kSmoothedLossOptions = {
    framework::DoubleOption("beta", 0.98, "Weight of the previous average at each step.")
        .AtLeast(0)
        .Below(1),
};

}  // namespace

REGISTER_CALLBACK("smoothed_loss", BuildSmoothedLoss, kSmoothedLossOptions);
