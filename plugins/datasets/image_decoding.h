// How the image data sets (image_folder, tar_shards) turn a file's bytes
// into a sample: PNG or JPEG by content (framework/formats/png_image.h,
// jpeg_image.h), as PIL's convert("RGB") or, with "mode": "gray",
// convert("L"), scaled to [0, 1] and normalised as (x - mean) / std, the
// very operations the fashion_mnist data set applies (defaults 0.5 and
// 0.5), so the same pixels give the same bits from any of them.
#ifndef PLUGINS_DATASETS_IMAGE_DECODING_H_
#define PLUGINS_DATASETS_IMAGE_DECODING_H_

#include <string>
#include <utility>
#include <vector>

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

// The samples of an image data set, one decoded image and one class each:
// what image_folder and tar_shards share. A subclass says where sample i's
// image is (Image, Name) and its class (Label); this gathers them, as a
// batch of the data set's image shape (Gather, which names an image of
// another size) or one tensor each for transforms to crop (GatherEach).
class ImageSampleSource : public framework::SampleSource {
 public:
  ImageSampleSource(std::vector<int64_t> shape, int64_t samples)
      : shape_(std::move(shape)), samples_(samples) {}

  int64_t size() const override { return samples_; }
  std::pair<std::vector<torch::Tensor>, torch::Tensor> GatherEach(const torch::Tensor& indices,
                                                                   int64_t epoch) const override;
  std::pair<torch::Tensor, torch::Tensor> Gather(const torch::Tensor& indices,
                                                 int64_t epoch) const override;

  // Sample `index`'s image, decoded; throws std::runtime_error naming it.
  virtual torch::Tensor Image(int64_t index) const = 0;
  virtual int64_t Label(int64_t index) const = 0;
  // The file (and member) sample `index` is read from, for messages.
  virtual std::string Name(int64_t index) const = 0;

 protected:
  const std::vector<int64_t>& shape() const { return shape_; }

 private:
  std::vector<int64_t> shape_;  // [C, H, W] of every image (without transforms)
  int64_t samples_;
};

}  // namespace plugins

#endif  // PLUGINS_DATASETS_IMAGE_DECODING_H_
