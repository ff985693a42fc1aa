#include "framework/formats/pixel_mode.h"

namespace framework {

torch::Tensor ConvertPixels(torch::Tensor hwc, PixelMode mode) {
  const int64_t channels = hwc.size(2);
  if (mode == PixelMode::kRgb && channels == 1) {
    hwc = hwc.expand({hwc.size(0), hwc.size(1), 3});
  } else if (mode == PixelMode::kGray && channels == 3) {
    const torch::Tensor rgb = hwc.to(torch::kInt32);
    hwc = torch::floor_divide(rgb.select(2, 0) * 19595 + rgb.select(2, 1) * 38470 +
                                  rgb.select(2, 2) * 7471 + 32768,
                              65536)
              .to(torch::kUInt8)
              .unsqueeze(2);
  }
  return hwc.permute({2, 0, 1}).contiguous();
}

}  // namespace framework
