// The built-in transforms against what torchvision's of the same names do
// on the same tensors (crop positions, flip, normalisation), and their
// checks of the shapes they are given.
#include <memory>
#include <string>

#include <gtest/gtest.h>
#include <torch/types.h>

#include "framework/data/sample_transform.h"

namespace plugins {
namespace {

std::shared_ptr<const framework::SampleTransforms> Parse(const std::string& text) {
  absl::StatusOr<std::shared_ptr<const framework::SampleTransforms>> parsed =
      framework::SampleTransforms::ParseText(text, "transforms");
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  return parsed.ok() ? *parsed : nullptr;
}

TEST(ImageTransformsTest, NormalizeTakesOneValueOrOnePerChannel) {
  const torch::Tensor image = torch::arange(12, torch::kFloat32).reshape({3, 2, 2});
  const torch::Tensor per_channel =
      Parse(R"([{"normalize": {"mean": [1, 2, 3], "std": [2, 4, 8]}}])")->Apply(image, 1, 0, 0);
  const torch::Tensor expected =
      (image - torch::tensor({1.f, 2.f, 3.f}).reshape({3, 1, 1})) /
      torch::tensor({2.f, 4.f, 8.f}).reshape({3, 1, 1});
  EXPECT_TRUE(torch::equal(per_channel, expected));
  EXPECT_TRUE(torch::equal(Parse(R"([{"normalize": {"mean": [1], "std": [2]}}])")->Apply(image, 1, 0, 0),
                           (image - 1) / 2));
  absl::StatusOr<std::vector<int64_t>> shape =
      Parse(R"([{"normalize": {"mean": [1, 2], "std": [1]}}])")->OutputShape({3, 2, 2});
  ASSERT_FALSE(shape.ok());
  EXPECT_NE(shape.status().message().find("mean and std have 2 values, for samples of 3 channels"),
            std::string::npos)
      << shape.status();
}

TEST(ImageTransformsTest, CropsAreTorchvisionsGeometryAndTheSameForTheSameSample) {
  const torch::Tensor image = torch::arange(5 * 7, torch::kFloat32).reshape({1, 5, 7});
  // torchvision's center_crop: top = round((5 - 3) / 2) = 1, left = round((7 - 3) / 2) = 2.
  EXPECT_TRUE(torch::equal(Parse(R"([{"center_crop": {"size": 3}}])")->Apply(image, 1, 0, 0),
                           image.narrow(1, 1, 3).narrow(2, 2, 3)));
  const auto crop = Parse(R"([{"random_crop": {"size": 4, "padding": 1}}, {"horizontal_flip": {}}])");
  EXPECT_TRUE(torch::equal(crop->Apply(image, 9, 3, 17), crop->Apply(image, 9, 3, 17)));
  bool differs = false;
  for (int64_t epoch = 0; epoch < 8; ++epoch) {
    differs |= !torch::equal(crop->Apply(image, 9, epoch, 17), crop->Apply(image, 9, 0, 17));
  }
  EXPECT_TRUE(differs) << "the augmentation does not change with the epoch";
  const auto resized = Parse(R"([{"random_resized_crop": {"size": 6}}])");
  EXPECT_EQ(resized->Apply(image, 1, 0, 0).sizes(), torch::IntArrayRef({1, 6, 6}));
  EXPECT_EQ(*Parse(R"([{"resize": {"size": 10}}])")->OutputShape({1, 5, 7}),
            (std::vector<int64_t>{1, 10, 14}));
}

}  // namespace
}  // namespace plugins
