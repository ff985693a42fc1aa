// How the image data sets (image_folder, tar_shards) turn a file's bytes
// into a sample: PNG or JPEG by content (framework/formats/png_image.h,
// jpeg_image.h), as PIL's convert("RGB") or, with "mode": "gray",
// convert("L"), scaled to [0, 1] and normalised as (x - mean) / std, the
// very operations the fashion_mnist data set applies (defaults 0.5 and
// 0.5), so the same pixels give the same bits from any of them.
#ifndef PLUGINS_DATASETS_IMAGE_DECODING_H_
#define PLUGINS_DATASETS_IMAGE_DECODING_H_

#include <string>

#include <torch/types.h>

#include "absl/status/statusor.h"
#include "framework/core/declared_options.h"
#include "framework/data/dataset.h"
#include "framework/formats/pixel_mode.h"

namespace plugins {

struct ImageDecoding {
  framework::PixelMode mode = framework::PixelMode::kRgb;
  double mean = 0.5;
  double std = 0.5;
};

// The options both data sets declare: mode, mean, std.
framework::DeclaredOptions ImageDecodingOptions();
ImageDecoding ImageDecodingFrom(const framework::OptionValues& options);
// What the data set records of its pixels (Dataset::pixels).
framework::PixelNormalization NormalizationOf(const ImageDecoding& decoding);

// float [C, H, W] of the image file `bytes`; errors name `source`.
absl::StatusOr<torch::Tensor> DecodeImage(const std::string& bytes, const std::string& source,
                                          const ImageDecoding& decoding);

}  // namespace plugins

#endif  // PLUGINS_DATASETS_IMAGE_DECODING_H_
