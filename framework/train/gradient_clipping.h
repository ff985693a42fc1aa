// Gradient clipping, as PyTorch's torch.nn.utils.clip_grad_norm_ (the total
// p-norm of all gradients scaled down to at most max_norm; p = inf: the
// largest absolute value) and clip_grad_value_ (each gradient clamped to
// [-max_value, max_value]), to the bit (tests/gradient_clipping_test.cc
// compares with Python PyTorch on the same gradients). The loop applies it
// after the gradients are averaged over the ranks, so every rank clips the
// same gradients the same way, and records the total norm before clipping.
//
//   GradientClipping clipping;
//   clipping.max_norm = 1.0;
//   const double norm = ClipGradients(model.parameters(), clipping);
#ifndef FRAMEWORK_TRAIN_GRADIENT_CLIPPING_H_
#define FRAMEWORK_TRAIN_GRADIENT_CLIPPING_H_

#include <vector>

#include <ATen/core/Tensor.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace framework {

struct GradientClipping {
  double max_norm = 0;   // > 0: clip the total norm to this; 0: off
  double norm_type = 2;  // p of the p-norm, > 0; infinity: max |gradient|
  double max_value = 0;  // > 0: clamp every gradient to +-this; 0: off

  bool by_norm() const { return max_norm > 0; }
  bool by_value() const { return max_value > 0; }
};

// A norm type as a user writes it: a number > 0, or "inf"; the error says
// what is accepted (the caller names the flag).
absl::StatusOr<double> ParseNormType(absl::string_view text);

// Clips the gradients of `parameters` (those without one are skipped): by
// norm first, then by value. Returns the total norm before clipping when
// clipping by norm, NaN otherwise.
double ClipGradients(const std::vector<at::Tensor>& parameters, const GradientClipping& clipping);

}  // namespace framework

#endif  // FRAMEWORK_TRAIN_GRADIENT_CLIPPING_H_
