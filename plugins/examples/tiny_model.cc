// An example plugin built as a shared object (libexample_tiny.so) and loaded
// into an experiment binary with --plugins: a linear classifier and an
// inverse-square-root learning-rate schedule. Nothing in framework/ or in the
// binary knows about either.
//
//   bazel build //plugins/examples:libexample_tiny.so
//   bazel-bin/experiments/lenet --model=tiny --scheduler=inverse_sqrt
//       --plugins=bazel-bin/plugins/examples/libexample_tiny.so
#include <cmath>

#include <torch/nn/modules/linear.h>

#include "framework/core/config_reader.h"
#include "framework/model/model.h"
#include "framework/optim/lr_scheduler.h"

namespace {

class Tiny : public framework::Model {
 public:
  Tiny(int64_t inputs, int64_t classes) {
    fc_ = register_module("fc", torch::nn::Linear(inputs, classes));
  }
  torch::Tensor forward(torch::Tensor x) override { return fc_->forward(x.flatten(1)); }

 private:
  torch::nn::Linear fc_{nullptr};
};

absl::StatusOr<std::shared_ptr<framework::Model>> BuildTiny(const nlohmann::json& config) {
  framework::ConfigReader reader(config, "model 'tiny'");
  auto input = framework::ReadImageInput(reader, /*min_side=*/1);
  auto classes = reader.Int(framework::kClassesKey, 10, 2);
  for (const absl::Status& s : {input.status(), classes.status(), reader.Finish()}) {
    if (!s.ok()) return s;
  }
  return std::shared_ptr<framework::Model>(std::make_shared<Tiny>(input->elements(), *classes));
}

// lr(epoch) = base_lr / sqrt(epoch + 1).
class InverseSqrt : public framework::ChainableScheduler {
 public:
  using ChainableScheduler::ChainableScheduler;

 protected:
  double RecursiveLr(double, double base_lr) const override { return *ClosedFormLr(base_lr); }
  std::optional<double> ClosedFormLr(double base_lr) const override {
    return base_lr / std::sqrt(static_cast<double>(last_epoch() + 1));
  }
};

absl::StatusOr<std::unique_ptr<framework::ChainableScheduler>> BuildInverseSqrt(
    const framework::OptionValues&, torch::optim::Optimizer& optimizer,
    std::vector<double> base_lrs, const framework::ScheduleSettings&) {
  return std::unique_ptr<framework::ChainableScheduler>(
      new InverseSqrt(optimizer, std::move(base_lrs)));
}

}  // namespace

REGISTER_MODEL("tiny", BuildTiny);
REGISTER_SCHEDULER("inverse_sqrt", framework::ChainableSchedule(BuildInverseSqrt));
