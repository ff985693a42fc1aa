// Mixed precision (--precision): which dtype the forward passes compute in,
// through LibTorch's autocast, as torch.autocast(device_type, dtype) does.
//
//   fp32  no autocast (the default).
//   bf16  autocast to bfloat16, on the CPU and on CUDA; no loss scaling (its
//         range is float32's).
//   fp16  autocast to float16 on CUDA, with dynamic loss scaling
//         (loss_scaler.h); LibTorch 1.13 has no float16 autocast on the CPU,
//         so a CPU run refuses it.
//
// The weights, their gradients and the optimizer state stay float32.
#ifndef FRAMEWORK_TRAIN_MIXED_PRECISION_H_
#define FRAMEWORK_TRAIN_MIXED_PRECISION_H_

#include <string>

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include "absl/status/statusor.h"

namespace framework {

enum class Precision { kFp32, kBf16, kFp16 };

// "fp32", "bf16" or "fp16"; anything else is an error that lists them.
absl::StatusOr<Precision> ParsePrecision(const std::string& text);
const char* PrecisionName(Precision precision);

// OK when `device` can train in `precision`.
absl::Status CheckPrecisionOnDevice(Precision precision, const c10::Device& device);

// Autocast for `device`'s type in `precision` while it lives (nothing for
// fp32). Leaving the outermost scope clears autocast's cache of cast
// weights, as Python's autocast does on exit: the cache keys on the weight
// tensors, which the optimizer changes in place, so a cache kept past the
// forward pass would feed the next one last step's weights.
class AutocastScope {
 public:
  AutocastScope(Precision precision, const c10::Device& device);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool active_ = false;
  bool cuda_ = false;
  bool was_enabled_ = false;
  c10::ScalarType previous_dtype_ = c10::ScalarType::Undefined;
};

}  // namespace framework

#endif  // FRAMEWORK_TRAIN_MIXED_PRECISION_H_
