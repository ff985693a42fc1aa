// What decoded image pixels become, as PIL's conversions make them, for the
// image decoders (png_image.h, jpeg_image.h): convert("RGB") replicates a
// gray channel; convert("L") is ITU-R 601-2 luma computed as PIL computes
// it, (19595 R + 38470 G + 7471 B + 2^15) >> 16, to the bit.
#ifndef FRAMEWORK_FORMATS_PIXEL_MODE_H_
#define FRAMEWORK_FORMATS_PIXEL_MODE_H_

#include <torch/types.h>

namespace framework {

enum class PixelMode { kRgb, kGray };

// `hwc`: uint8 [H, W, 1 or 3]; returns uint8 [C, H, W] in `mode`.
torch::Tensor ConvertPixels(torch::Tensor hwc, PixelMode mode);

}  // namespace framework

#endif  // FRAMEWORK_FORMATS_PIXEL_MODE_H_
