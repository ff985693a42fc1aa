#include "plugins/datasets/image_decoding.h"

#include <stdexcept>

#include "absl/strings/str_cat.h"
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

std::pair<std::vector<torch::Tensor>, torch::Tensor> ImageSampleSource::GatherEach(
    const torch::Tensor& indices, int64_t) const {
  const torch::Tensor where = indices.to(torch::kInt64).contiguous();
  const int64_t* index = where.data_ptr<int64_t>();
  std::vector<torch::Tensor> images;
  torch::Tensor targets = torch::empty({where.numel()}, torch::kInt64);
  for (int64_t b = 0; b < where.numel(); ++b) {
    images.push_back(Image(index[b]));
    targets[b] = Label(index[b]);
  }
  return {std::move(images), targets};
}

std::pair<torch::Tensor, torch::Tensor> ImageSampleSource::Gather(const torch::Tensor& indices,
                                                                  int64_t epoch) const {
  std::pair<std::vector<torch::Tensor>, torch::Tensor> each = GatherEach(indices, epoch);
  const torch::Tensor where = indices.to(torch::kInt64).contiguous();
  for (size_t b = 0; b < each.first.size(); ++b) {
    if (each.first[b].sizes() != torch::IntArrayRef(shape_)) {
      throw std::runtime_error(absl::StrCat(
          Name(where[b].item<int64_t>()), ": an image of ", each.first[b].size(1), "x",
          each.first[b].size(2), ", not the data set's ", shape_[1], "x", shape_[2],
          " (images of several sizes need a crop or resize to one size in --transforms)"));
    }
  }
  std::vector<int64_t> batch_shape = {static_cast<int64_t>(each.first.size())};
  batch_shape.insert(batch_shape.end(), shape_.begin(), shape_.end());
  return {each.first.empty() ? torch::empty(batch_shape) : torch::stack(each.first), each.second};
}

}  // namespace plugins
