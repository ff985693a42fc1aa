// JPEG files decoded to 8-bit pixels with libjpeg-turbo's TurboJPEG API
// (Debian's libturbojpeg0-dev), with the settings PIL decodes with (the
// accurate integer DCT, fancy upsampling), so the pixels equal PIL's and
// torchvision's default loader's: Debian's Pillow decodes with the same
// libjpeg-turbo. Gray JPEGs decode to one channel (and RGB replicates it, as
// PIL's convert("RGB")); CMYK and YCCK JPEGs are refused with the file named.
#ifndef FRAMEWORK_FORMATS_JPEG_IMAGE_H_
#define FRAMEWORK_FORMATS_JPEG_IMAGE_H_

#include <string>

#include <torch/types.h>

#include "absl/status/statusor.h"
#include "framework/formats/pixel_mode.h"

namespace framework {

// uint8 [C, H, W] of the JPEG `bytes` as `mode` says (pixel_mode.h); errors
// name `source`.
absl::StatusOr<torch::Tensor> DecodeJpeg(const std::string& bytes, const std::string& source,
                                         PixelMode mode);

// True when `bytes` start with a JPEG's SOI marker.
bool LooksLikeJpeg(const std::string& bytes);

}  // namespace framework

#endif  // FRAMEWORK_FORMATS_JPEG_IMAGE_H_
