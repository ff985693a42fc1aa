#include "plugins/datasets/image_decoding.h"

#include "framework/formats/jpeg_image.h"
#include "framework/formats/png_image.h"

namespace plugins {

framework::DeclaredOptions ImageDecodingOptions() {
  return {
      framework::ChoiceOption("mode", "rgb", {"rgb", "gray"},
                              "Pixels as PIL's convert(\"RGB\") or convert(\"L\")."),
      framework::DoubleOption("mean", 0.5, "Subtracted from the [0, 1] pixels."),
      framework::DoubleOption("std", 0.5, "Then divides them.").Above(0),
  };
}

ImageDecoding ImageDecodingFrom(const framework::OptionValues& options) {
  ImageDecoding decoding;
  decoding.mode = options.Choice("mode") == "gray" ? framework::PixelMode::kGray
                                                   : framework::PixelMode::kRgb;
  decoding.mean = options.Double("mean");
  decoding.std = options.Double("std");
  return decoding;
}

framework::PixelNormalization NormalizationOf(const ImageDecoding& decoding) {
  return {decoding.mean, decoding.std};
}

absl::StatusOr<torch::Tensor> DecodeImage(const std::string& bytes, const std::string& source,
                                          const ImageDecoding& decoding) {
  // By content, whatever the name says.
  absl::StatusOr<torch::Tensor> pixels =
      framework::LooksLikeJpeg(bytes) ? framework::DecodeJpeg(bytes, source, decoding.mode)
                                      : framework::DecodePng(bytes, source, decoding.mode);
  if (!pixels.ok()) return pixels.status();
  return pixels->to(torch::kFloat32).div_(255.0).sub_(decoding.mean).div_(decoding.std);
}

}  // namespace plugins
