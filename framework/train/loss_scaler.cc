#include "framework/train/loss_scaler.h"

#include <cmath>

#include <ATen/Functions.h>
#include <ATen/core/grad_mode.h>

#include "absl/strings/str_cat.h"

namespace framework {

LossScaler::LossScaler(LossScalerOptions options)
    : options_(options), scale_(static_cast<float>(options.init_scale)) {}

at::Tensor LossScaler::Scale(const at::Tensor& loss) const {
  return loss.mul(at::scalar_tensor(scale_, loss.options().dtype(at::kFloat)));
}

bool LossScaler::Unscale(const std::vector<at::Tensor>& parameters) const {
  at::NoGradGuard no_grad;
  // GradScaler: inv_scale = self._scale.double().reciprocal().float().
  const float inv_scale = static_cast<float>(1.0 / static_cast<double>(scale_));
  // As GradScaler's found_inf: one flag on the device, read once, so a GPU
  // waits once per step, not once per parameter.
  at::Tensor found_inf;
  for (const at::Tensor& parameter : parameters) {
    at::Tensor grad = parameter.grad();
    if (!grad.defined()) continue;
    const at::Tensor non_finite = at::isfinite(grad).all().logical_not();
    found_inf = found_inf.defined() ? found_inf.logical_or(non_finite) : non_finite;
    if (inv_scale != 1.0f) grad.mul_(at::scalar_tensor(inv_scale, grad.options()));
  }
  return found_inf.defined() && found_inf.item<bool>();
}

void LossScaler::Update(bool found_inf) {
  // As _amp_update_scale_'s kernel: float32 scale, double factors.
  if (found_inf) {
    scale_ = static_cast<float>(static_cast<double>(scale_) * options_.backoff_factor);
    growth_tracker_ = 0;
    return;
  }
  const int64_t successful = growth_tracker_ + 1;
  if (successful == options_.growth_interval) {
    const float grown = static_cast<float>(static_cast<double>(scale_) * options_.growth_factor);
    if (std::isfinite(grown)) scale_ = grown;
    growth_tracker_ = 0;
  } else {
    growth_tracker_ = successful;
  }
}

nlohmann::json LossScaler::State() const {
  // PyTorch's GradScaler.state_dict() keys.
  return {{"scale", scale_},
          {"growth_factor", options_.growth_factor},
          {"backoff_factor", options_.backoff_factor},
          {"growth_interval", options_.growth_interval},
          {"_growth_tracker", growth_tracker_}};
}

absl::Status LossScaler::LoadState(const nlohmann::json& state) {
  try {
    const float scale = state.at("scale").get<float>();
    const int64_t tracker = state.at("_growth_tracker").get<int64_t>();
    if (!(scale > 0) || !std::isfinite(scale) || tracker < 0) {
      return absl::DataLossError(absl::StrCat("bad loss scaler state ", state.dump()));
    }
    scale_ = scale;
    growth_tracker_ = tracker;
    options_.growth_factor = state.at("growth_factor").get<double>();
    options_.backoff_factor = state.at("backoff_factor").get<double>();
    options_.growth_interval = state.at("growth_interval").get<int64_t>();
  } catch (const nlohmann::json::exception& e) {
    return absl::DataLossError(absl::StrCat("bad loss scaler state ", state.dump(), ": ", e.what()));
  }
  return absl::OkStatus();
}

}  // namespace framework
