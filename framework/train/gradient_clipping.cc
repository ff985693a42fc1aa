#include "framework/train/gradient_clipping.h"

#include <cmath>
#include <limits>
#include <string>

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace framework {

absl::StatusOr<double> ParseNormType(absl::string_view text) {
  if (text == "inf") return std::numeric_limits<double>::infinity();
  double value = 0;
  if (!absl::SimpleAtod(text, &value) || !std::isfinite(value) || value <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("must be a number > 0 (2: the Euclidean norm) or inf, got '", text, "'"));
  }
  return value;
}

namespace {

// PyTorch 1.13's Python clip_grad_norm_, operation for operation. LibTorch's
// C++ torch::nn::utils::clip_grad_norm_ is not the same to the bit: it
// computes max_norm / (norm + 1e-6) by division, where Python's
// float / tensor is reciprocal(tensor) * float (measured: the gradients
// differed with the inf- and 3.5-norms, tests/gradient_clipping_test.cc).
double ClipGradNorm(const std::vector<at::Tensor>& grads, double max_norm, double norm_type) {
  if (grads.empty()) return 0.0;
  const bool inf = std::isinf(norm_type);
  std::vector<at::Tensor> norms;
  for (const at::Tensor& grad : grads) {
    if (inf) {
      norms.push_back(grad.abs().max());
      continue;
    }
    // Python's torch.norm(g, p) is linalg.vector_norm over every dimension.
    std::vector<int64_t> dims(static_cast<size_t>(grad.dim()));
    for (int64_t d = 0; d < grad.dim(); ++d) dims[static_cast<size_t>(d)] = d;
    norms.push_back(at::linalg_vector_norm(grad, norm_type, dims));
  }
  at::Tensor total_norm;
  if (inf) {
    total_norm = norms.size() == 1 ? norms[0] : at::max(at::stack(norms));
  } else {
    total_norm = at::linalg_vector_norm(at::stack(norms), norm_type, std::vector<int64_t>{0});
  }
  const at::Tensor clip_coef = (total_norm + 1e-6).reciprocal() * max_norm;
  const at::Tensor clip_coef_clamped = at::clamp(clip_coef, c10::nullopt, 1.0);
  // Python multiplies even by 1; x * 1 is x for every float (NaN and inf
  // included), so a bound that does not bind skips the multiplications and
  // keeps the bits.
  if (clip_coef_clamped.item<float>() != 1.0f) {
    for (const at::Tensor& grad : grads) grad.mul_(clip_coef_clamped);
  }
  return total_norm.item<double>();
}

}  // namespace

double ClipGradients(const std::vector<at::Tensor>& parameters, const GradientClipping& clipping) {
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> grads;
  for (const at::Tensor& parameter : parameters) {
    if (parameter.grad().defined()) grads.push_back(parameter.grad());
  }
  double total_norm = std::numeric_limits<double>::quiet_NaN();
  if (clipping.by_norm()) total_norm = ClipGradNorm(grads, clipping.max_norm, clipping.norm_type);
  if (clipping.by_value()) {
    for (const at::Tensor& grad : grads) grad.clamp_(-clipping.max_value, clipping.max_value);
  }
  return total_norm;
}

}  // namespace framework
