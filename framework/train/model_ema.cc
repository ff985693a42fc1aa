#include "framework/train/model_ema.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>

#include <torch/csrc/autograd/grad_mode.h>

#include "absl/strings/str_cat.h"
#include "framework/model/state_dict.h"
#include "framework/train/callback.h"
#include "framework/train/training_loop.h"
#include "glog/logging.h"

namespace framework {

double EmaDecay(const EmaSchedule& schedule, int64_t update) {
  const int64_t step = std::max<int64_t>(0, update - schedule.update_after_step - 1);
  if (step <= 0) return 0.0;
  if (!schedule.warmup) return schedule.decay;
  const double decay =
      1.0 - std::pow(1.0 + static_cast<double>(step) / schedule.warmup_gamma,
                     -schedule.warmup_power);
  return std::max(std::min(decay, schedule.decay), schedule.min_decay);
}

void UpdateEma(const std::vector<NamedTensor>& average, const std::vector<NamedTensor>& live,
               double decay) {
  CHECK_EQ(average.size(), live.size());
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < average.size(); ++i) {
    CHECK_EQ(average[i].name, live[i].name);
    at::Tensor ema = average[i].tensor;
    if (ema.is_floating_point()) {
      ema.lerp_(live[i].tensor, 1.0 - decay);
    } else {
      ema.copy_(live[i].tensor);
    }
  }
}

const DeclaredOptions& EmaOptions() {
  static const auto* options = new DeclaredOptions{
      DoubleOption("decay", 0.9999, "The average's decay per optimizer step.").AtLeast(0).Below(1),
      BoolOption("warmup", false,
                 "timm's warm-up: the decay grows as 1 - (1 + k / warmup_gamma)^-warmup_power "
                 "up to decay."),
      DoubleOption("warmup_gamma", 1.0, "Warm-up's gamma.").Above(0),
      DoubleOption("warmup_power", 2.0 / 3.0, "Warm-up's power.").Above(0),
      DoubleOption("min_decay", 0.0, "The warm-up's least decay.").AtLeast(0).Below(1),
      IntOption("update_after_step", 0, "Steps during which the average is a copy.").AtLeast(0),
  };
  return *options;
}

namespace {

constexpr char kValidPrefix[] = "valid_ema_";

class ModelEmaCallback : public Callback {
 public:
  ModelEmaCallback(EmaSchedule schedule, std::shared_ptr<Model> average)
      : schedule_(schedule), average_(std::move(average)), tensors_(StateDict(*average_)) {}

  absl::Status OnEpochStart(TrainingLoop& loop) override {
    // The model's tensors, which the optimizer changes in place: looked up
    // once an epoch rather than at every step.
    live_ = StateDict(loop.model());
    // Before the first update the average is the model (rank 0's weights on
    // every rank, as the loop broadcast them).
    if (updates_ == 0) UpdateEma(tensors_, live_, 0.0);
    return absl::OkStatus();
  }

  absl::Status AfterOptimizerStep(TrainingLoop& loop) override {
    ++updates_;
    UpdateEma(tensors_, live_, EmaDecay(schedule_, updates_));
    return absl::OkStatus();
  }

  absl::Status AfterEvaluation(TrainingLoop& loop, EpochRecord& record) override {
    absl::StatusOr<std::map<std::string, double>> values = loop.Evaluate(*average_);
    if (!values.ok()) {
      return absl::Status(values.status().code(),
                          absl::StrCat("evaluating the weights' average: ",
                                       values.status().message()));
    }
    for (const auto& [name, value] : *values) record.values[kValidPrefix + name] = value;
    return absl::OkStatus();
  }

  std::vector<std::string> AddedValues(const std::vector<std::string>& metrics) const override {
    std::vector<std::string> names = {std::string(kValidPrefix) + "loss"};
    for (const std::string& metric : metrics) names.push_back(kValidPrefix + metric);
    return names;
  }

  CallbackState State() const override {
    CallbackState state;
    state.values = {{"updates", updates_}};
    state.tensors = tensors_;
    return state;
  }

  absl::Status LoadState(const CallbackState& state, const std::string& source) override {
    if (!state.values.contains("updates") || !state.values["updates"].is_number_integer()) {
      return absl::DataLossError(absl::StrCat("no update count in ", state.values.dump()));
    }
    if (absl::Status status = LoadStateDict(*average_, state.tensors, /*strict=*/true,
                                            absl::StrCat(source, " (the weights' average)"));
        !status.ok()) {
      return status;
    }
    updates_ = state.values["updates"].get<int64_t>();
    return absl::OkStatus();
  }

 private:
  const EmaSchedule schedule_;
  std::shared_ptr<Model> average_;
  const std::vector<NamedTensor> tensors_;  // average_'s, live
  std::vector<NamedTensor> live_;           // the model's, live
  int64_t updates_ = 0;
};

absl::StatusOr<std::unique_ptr<Callback>> BuildModelEma(const CallbackContext& context) {
  EmaSchedule schedule;
  schedule.decay = context.options.Double("decay");
  schedule.warmup = context.options.Bool("warmup");
  schedule.warmup_gamma = context.options.Double("warmup_gamma");
  schedule.warmup_power = context.options.Double("warmup_power");
  schedule.min_decay = context.options.Double("min_decay");
  schedule.update_after_step = context.options.Int("update_after_step");
  if (!context.build_model) return absl::InvalidArgumentError("needs a model to average into");
  absl::StatusOr<std::shared_ptr<Model>> average = context.build_model();
  if (!average.ok()) return average.status();
  for (auto& parameter : (*average)->parameters()) parameter.requires_grad_(false);
  return std::make_unique<ModelEmaCallback>(schedule, *std::move(average));
}

}  // namespace

REGISTER_CALLBACK("ema", BuildModelEma, EmaOptions());

}  // namespace framework
