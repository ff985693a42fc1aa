// Dynamic loss scaling for float16 training (--precision=fp16), with
// PyTorch's GradScaler semantics, so a run resumed from a checkpoint goes on
// with the scale and growth tracker it had (transformers#34053: a resume
// that restarted at the initial scale skipped steps for nothing).
//
// Each step the loss is multiplied by the scale before backward; after the
// ranks' average the gradients are multiplied by the float32 reciprocal of
// the scale (GradScaler.unscale_) and checked for inf/NaN; a step with any
// is skipped (no optimizer step) and the scale is multiplied by the backoff
// factor, and after `growth_interval` steps in a row without any it is
// multiplied by the growth factor (torch._amp_update_scale_, whose float32
// arithmetic this follows). The logic uses no device-specific kernel, so it
// runs and is tested on the CPU (PyTorch 1.13's kernels are CUDA-only).
#ifndef FRAMEWORK_TRAIN_LOSS_SCALER_H_
#define FRAMEWORK_TRAIN_LOSS_SCALER_H_

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"

namespace framework {

// GradScaler's defaults.
struct LossScalerOptions {
  double init_scale = 65536.0;
  double growth_factor = 2.0;
  double backoff_factor = 0.5;
  int64_t growth_interval = 2000;
};

class LossScaler {
 public:
  explicit LossScaler(LossScalerOptions options = {});

  float scale() const { return scale_; }
  int64_t growth_tracker() const { return growth_tracker_; }

  // loss x scale, in float32 (GradScaler.scale).
  at::Tensor Scale(const at::Tensor& loss) const;
  // Multiplies every defined gradient of `parameters` by 1 / scale and
  // returns whether any gradient held an inf or NaN (found_inf).
  bool Unscale(const std::vector<at::Tensor>& parameters) const;
  // The scale and growth tracker after a step that found (or did not find)
  // inf/NaN gradients.
  void Update(bool found_inf);

  // The whole state: scale, growth tracker and the options.
  nlohmann::json State() const;
  absl::Status LoadState(const nlohmann::json& state);

 private:
  LossScalerOptions options_;
  float scale_;
  int64_t growth_tracker_ = 0;
};

}  // namespace framework

#endif  // FRAMEWORK_TRAIN_LOSS_SCALER_H_
