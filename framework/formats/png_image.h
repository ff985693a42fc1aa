// PNG files decoded to 8-bit pixels, as PIL (and so torchvision's default
// image loader) sees them: palette, 1/2/4-bit gray and tRNS expanded, alpha
// dropped (not composited: PIL's convert("RGB") drops it too), interlacing
// undone, no gamma or colour-space conversion. 16-bit PNGs are refused with
// the file named: PIL reads them as 32-bit integers that its conversions
// clip, which no training data should go through silently.
//
// Encoded (for //tools:export_dataset) and decoded with Debian's libpng (low-level API: the simplified one composites
// alpha and applies gamma).
#ifndef FRAMEWORK_FORMATS_PNG_IMAGE_H_
#define FRAMEWORK_FORMATS_PNG_IMAGE_H_

#include <cstdint>
#include <string>

#include <torch/types.h>

#include "absl/status/statusor.h"
#include "framework/formats/pixel_mode.h"

namespace framework {

// uint8 [C, H, W] (C = 3 for kRgb, 1 for kGray; pixel_mode.h) of the PNG
// `bytes`; errors name `source`.
absl::StatusOr<torch::Tensor> DecodePng(const std::string& bytes, const std::string& source,
                                        PixelMode mode);

// The PNG file (8-bit gray for C = 1, RGB for C = 3; lossless, no
// timestamps, so equal pixels give equal bytes) of uint8 `pixels` [C, H, W].
absl::StatusOr<std::string> EncodePng(const torch::Tensor& pixels);

// True when `bytes` start with the PNG signature.
bool LooksLikePng(const std::string& bytes);

}  // namespace framework

#endif  // FRAMEWORK_FORMATS_PNG_IMAGE_H_
