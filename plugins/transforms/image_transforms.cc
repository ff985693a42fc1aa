// The image transforms every experiment binary has, after torchvision's of
// the same names, on float [C, H, W] samples (sample_transform.h):
//
//   horizontal_flip      {"p": 0.5}
//   random_crop          {"size": S, "padding": 0}   pads with zeros first
//   center_crop          {"size": S}
//   resize               {"size": S}                 the shorter side to S, bilinear
//   random_resized_crop  {"size": S, "scale_min": 0.08, "scale_max": 1,
//                         "ratio_min": 0.75, "ratio_max": 1.3333}
//   normalize            {"mean": [0], "std": [1]}   (x - mean) / std, one value for
//                                                    every channel or one per channel
//
// Sizes are square (S x S). The crops' geometry is torchvision's
// (RandomResizedCrop.get_params: ten tries, then the central crop of the
// nearest allowed ratio); their random numbers are ours, from the sample's
// generator, so they are not torchvision's draws. Resizing is LibTorch's
// bilinear interpolation with antialiasing when shrinking, which is what
// torchvision's tensor path does; it is not PIL's resampling to the bit.
#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include <torch/types.h>

#include "absl/strings/str_cat.h"
#include "framework/core/declared_options.h"
#include "framework/data/sample_transform.h"

namespace plugins {
namespace {

using framework::SampleTransform;
using Shape = std::vector<int64_t>;

absl::Status TooSmall(const Shape& shape, int64_t size) {
  return absl::InvalidArgumentError(absl::StrCat("a crop of ", size, "x", size,
                                                 " does not fit samples of ", shape[1], "x",
                                                 shape[2]));
}

torch::Tensor Resized(const torch::Tensor& image, int64_t height, int64_t width) {
  if (image.size(1) == height && image.size(2) == width) return image;
  const bool shrinking = height < image.size(1) || width < image.size(2);
  const torch::Tensor batch = image.unsqueeze(0);
  return (shrinking ? at::_upsample_bilinear2d_aa(batch, {height, width}, /*align_corners=*/false)
                    : at::upsample_bilinear2d(batch, {height, width}, /*align_corners=*/false))
      .squeeze(0);
}

class HorizontalFlip : public SampleTransform {
 public:
  explicit HorizontalFlip(double p) : p_(p) {}
  torch::Tensor Apply(const torch::Tensor& sample, at::Generator& random) const override {
    // Drawn whatever p is, so p changes no other choice's numbers.
    return framework::UniformDouble(random) < p_ ? sample.flip({-1}) : sample;
  }
  absl::StatusOr<Shape> OutputShape(const Shape& shape) const override { return shape; }

 private:
  double p_;
};

class RandomCrop : public SampleTransform {
 public:
  RandomCrop(int64_t size, int64_t padding) : size_(size), padding_(padding) {}
  torch::Tensor Apply(const torch::Tensor& sample, at::Generator& random) const override {
    torch::Tensor padded = sample;
    if (padding_ > 0) {
      padded = at::constant_pad_nd(sample, {padding_, padding_, padding_, padding_}, 0);
    }
    const int64_t top = framework::UniformInt(random, padded.size(1) - size_ + 1);
    const int64_t left = framework::UniformInt(random, padded.size(2) - size_ + 1);
    return padded.narrow(1, top, size_).narrow(2, left, size_).contiguous();
  }
  absl::StatusOr<Shape> OutputShape(const Shape& shape) const override {
    if (shape[1] + 2 * padding_ < size_ || shape[2] + 2 * padding_ < size_) {
      return TooSmall(shape, size_);
    }
    return Shape{shape[0], size_, size_};
  }

 private:
  int64_t size_;
  int64_t padding_;
};

class CenterCrop : public SampleTransform {
 public:
  explicit CenterCrop(int64_t size) : size_(size) {}
  torch::Tensor Apply(const torch::Tensor& sample, at::Generator&) const override {
    // torchvision's rounding: int(round((H - S) / 2.0)).
    const int64_t top = std::llround((sample.size(1) - size_) / 2.0);
    const int64_t left = std::llround((sample.size(2) - size_) / 2.0);
    return sample.narrow(1, top, size_).narrow(2, left, size_).contiguous();
  }
  absl::StatusOr<Shape> OutputShape(const Shape& shape) const override {
    if (shape[1] < size_ || shape[2] < size_) return TooSmall(shape, size_);
    return Shape{shape[0], size_, size_};
  }

 private:
  int64_t size_;
};

class Resize : public SampleTransform {
 public:
  explicit Resize(int64_t size) : size_(size) {}
  torch::Tensor Apply(const torch::Tensor& sample, at::Generator&) const override {
    const Shape out = Target(sample.sizes().vec());
    return Resized(sample, out[1], out[2]);
  }
  absl::StatusOr<Shape> OutputShape(const Shape& shape) const override { return Target(shape); }

 private:
  // torchvision: the shorter side becomes size, the longer int(size * long / short).
  Shape Target(const Shape& shape) const {
    const int64_t height = shape[1], width = shape[2];
    if (height <= width) return {shape[0], size_, size_ * width / height};
    return {shape[0], size_ * height / width, size_};
  }
  int64_t size_;
};

class RandomResizedCrop : public SampleTransform {
 public:
  RandomResizedCrop(int64_t size, double scale_min, double scale_max, double ratio_min,
                    double ratio_max)
      : size_(size), scale_{scale_min, scale_max}, ratio_{ratio_min, ratio_max} {}

  torch::Tensor Apply(const torch::Tensor& sample, at::Generator& random) const override {
    const int64_t height = sample.size(1), width = sample.size(2);
    const double area = static_cast<double>(height * width);
    const double log_low = std::log(ratio_[0]), log_high = std::log(ratio_[1]);
    for (int attempt = 0; attempt < 10; ++attempt) {
      const double target =
          area * (scale_[0] + (scale_[1] - scale_[0]) * framework::UniformDouble(random));
      const double ratio =
          std::exp(log_low + (log_high - log_low) * framework::UniformDouble(random));
      const int64_t w = std::llround(std::sqrt(target * ratio));
      const int64_t h = std::llround(std::sqrt(target / ratio));
      if (w > 0 && h > 0 && w <= width && h <= height) {
        const int64_t top = framework::UniformInt(random, height - h + 1);
        const int64_t left = framework::UniformInt(random, width - w + 1);
        return Resized(sample.narrow(1, top, h).narrow(2, left, w), size_, size_);
      }
    }
    // torchvision's fallback: the central crop of the nearest allowed ratio.
    const double in_ratio = static_cast<double>(width) / static_cast<double>(height);
    int64_t w = width, h = height;
    if (in_ratio < ratio_[0]) {
      h = std::llround(static_cast<double>(w) / ratio_[0]);
    } else if (in_ratio > ratio_[1]) {
      w = std::llround(static_cast<double>(h) * ratio_[1]);
    }
    return Resized(sample.narrow(1, (height - h) / 2, h).narrow(2, (width - w) / 2, w), size_,
                   size_);
  }
  absl::StatusOr<Shape> OutputShape(const Shape& shape) const override {
    return Shape{shape[0], size_, size_};
  }

 private:
  int64_t size_;
  double scale_[2];
  double ratio_[2];
};

class Normalize : public SampleTransform {
 public:
  Normalize(std::vector<double> mean, std::vector<double> std)
      : mean_(torch::tensor(mean, torch::kFloat32).reshape({-1, 1, 1})),
        std_(torch::tensor(std, torch::kFloat32).reshape({-1, 1, 1})),
        channels_(std::max(mean.size(), std.size())) {}
  torch::Tensor Apply(const torch::Tensor& sample, at::Generator&) const override {
    return sample.sub(mean_).div_(std_);
  }
  absl::StatusOr<Shape> OutputShape(const Shape& shape) const override {
    if (channels_ != 1 && static_cast<int64_t>(channels_) != shape[0]) {
      return absl::InvalidArgumentError(absl::StrCat(
          "mean and std have ", channels_, " values, for samples of ", shape[0],
          " channels (give one value, or one per channel)"));
    }
    return shape;
  }

 private:
  torch::Tensor mean_;  // [1 or C, 1, 1]
  torch::Tensor std_;
  size_t channels_;
};

template <typename T, typename... Args>
absl::StatusOr<std::unique_ptr<SampleTransform>> Make(Args... args) {
  return std::unique_ptr<SampleTransform>(std::make_unique<T>(args...));
}

// A default outside its range makes an option required (declared_options.h).
framework::OptionSpec SizeOption() {
  return framework::IntOption("size", 0, "Output height and width (required).").AtLeast(1);
}

}  // namespace

REGISTER_SAMPLE_TRANSFORM(
    "horizontal_flip",
    [](const framework::OptionValues& o) { return Make<HorizontalFlip>(o.Double("p")); },
    {framework::DoubleOption("p", 0.5, "Probability of flipping.").AtLeast(0).AtMost(1)});

REGISTER_SAMPLE_TRANSFORM(
    "random_crop",
    [](const framework::OptionValues& o) -> absl::StatusOr<std::unique_ptr<SampleTransform>> {
      return Make<RandomCrop>(o.Int("size"), o.Int("padding"));
    },
    {SizeOption(), framework::IntOption("padding", 0, "Zeros added on every side first.").AtLeast(0)});

REGISTER_SAMPLE_TRANSFORM(
    "center_crop",
    [](const framework::OptionValues& o) -> absl::StatusOr<std::unique_ptr<SampleTransform>> {
      return Make<CenterCrop>(o.Int("size"));
    },
    {SizeOption()});

REGISTER_SAMPLE_TRANSFORM(
    "resize",
    [](const framework::OptionValues& o) -> absl::StatusOr<std::unique_ptr<SampleTransform>> {
      return Make<Resize>(o.Int("size"));
    },
    {framework::IntOption("size", 0, "The shorter side's new length (required).").AtLeast(1)});

REGISTER_SAMPLE_TRANSFORM(
    "random_resized_crop",
    [](const framework::OptionValues& o) -> absl::StatusOr<std::unique_ptr<SampleTransform>> {
      if (o.Double("scale_min") > o.Double("scale_max") ||
          o.Double("ratio_min") > o.Double("ratio_max")) {
        return absl::InvalidArgumentError("scale_min/ratio_min must not exceed scale_max/ratio_max");
      }
      return Make<RandomResizedCrop>(o.Int("size"), o.Double("scale_min"), o.Double("scale_max"),
                                     o.Double("ratio_min"), o.Double("ratio_max"));
    },
    {SizeOption(),
     framework::DoubleOption("scale_min", 0.08, "Smallest share of the area.").Above(0).AtMost(1),
     framework::DoubleOption("scale_max", 1.0, "Largest share of the area.").Above(0).AtMost(1),
     framework::DoubleOption("ratio_min", 3.0 / 4.0, "Smallest width/height.").Above(0),
     framework::DoubleOption("ratio_max", 4.0 / 3.0, "Largest width/height.").Above(0)});

REGISTER_SAMPLE_TRANSFORM(
    "normalize",
    [](const framework::OptionValues& o) -> absl::StatusOr<std::unique_ptr<SampleTransform>> {
      const std::vector<double> mean = o.DoubleList("mean"), std = o.DoubleList("std");
      if (mean.size() != std.size() && mean.size() != 1 && std.size() != 1) {
        return absl::InvalidArgumentError(absl::StrCat("mean has ", mean.size(), " values and std ",
                                                       std.size(), "; give as many (or one)"));
      }
      return Make<Normalize>(mean, std);
    },
    {framework::DoubleListOption("mean", {0.0}, "Subtracted: one value, or one per channel.")
         .NonEmpty(),
     framework::DoubleListOption("std", {1.0}, "Then divides: one value, or one per channel.")
         .Above(0)
         .NonEmpty()});

}  // namespace plugins
