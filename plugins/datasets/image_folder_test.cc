// The image_folder data set against torchvision: the same class indices and
// order, and PIL's pixels (convert("RGB") and convert("L") with ToTensor) to
// the bit, for PNGs of every 8-bit mode and JPEGs; bad images named.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>

#include <torch/types.h>

#include "framework/core/device_map.h"
#include "framework/data/dataset.h"
#include "framework/testing/test_command.h"
#include "framework/weights/weights_file.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace plugins {
namespace {

absl::StatusOr<framework::DataSplits> Load(const std::string& dir, const std::string& mode) {
  framework::DataOptions options;
  options.data_dir = dir;
  options.options = *framework::ResolveDatasetOptions(
      "image_folder", {{"mode", mode}, {"mean", 0.0}, {"std", 1.0}},
      [](const std::string& key) { return key; });
  return framework::LoadDataset("image_folder", options);
}

TEST(ImageFolderTest, EqualsTorchvisionsImageFolderAndPilsPixels) {
  const std::string dir = testing::TempDir() + "/images";
  const unsigned seed = std::random_device()() % 100000;
  const nlohmann::json listing = nlohmann::json::parse(framework::RunCommandForTest(
      "IMAGE_SEED=" + std::to_string(seed) + " /usr/bin/python3 tests/torchvision_image_folder.py " +
      dir + " " + dir + ".pt"));
  std::printf("images drawn with seed %u (IMAGE_SEED)\n", seed);
  absl::StatusOr<std::vector<framework::NamedTensor>> read =
      framework::ReadWeights(dir + ".pt", framework::DeviceMap(torch::kCPU));
  ASSERT_TRUE(read.ok()) << read.status();
  std::map<std::string, torch::Tensor> reference;
  for (const framework::NamedTensor& named : *read) reference[named.name] = named.tensor;

  for (const std::string mode : {"rgb", "gray"}) {
    absl::StatusOr<framework::DataSplits> data = Load(dir, mode);
    ASSERT_TRUE(data.ok()) << data.status();
    EXPECT_EQ(data->train.classes, 3);
    const std::vector<std::pair<std::string, const framework::Dataset*>> splits = {
        {"train", &data->train}, {"val", &data->valid}};
    for (const auto& [split, set] : splits) {
      const int64_t n = static_cast<int64_t>(listing[split].size());
      ASSERT_EQ(set->size(), n) << split;
      ASSERT_EQ(n, 12) << "hidden and text files are skipped";
      auto [inputs, targets] = set->Gather(torch::arange(n, torch::kInt64), 0);
      EXPECT_TRUE(torch::equal(targets, reference.at(split + "_targets"))) << split;
      const torch::Tensor expected = reference.at(split + "_" + mode);
      ASSERT_EQ(inputs.sizes(), expected.sizes()) << split << " " << mode;
      EXPECT_TRUE(torch::equal(inputs, expected))
          << split << " " << mode << ": max |difference| "
          << (inputs - expected).abs().max().item<double>();
      // Any order, any subset: a pure function of the index.
      const torch::Tensor some = torch::tensor({4, 0, 7}, torch::kInt64);
      EXPECT_TRUE(torch::equal(set->Gather(some, 3).first, inputs.index_select(0, some)));
    }
    const nlohmann::json facts = data->train.ModelFacts();
    EXPECT_EQ(facts["input_channels"], mode == "rgb" ? 3 : 1);
    EXPECT_EQ(facts["input_height"], 6);
    EXPECT_EQ(facts["input_width"], 8);
    EXPECT_EQ(facts["classes"], 3);
  }
}

TEST(ImageFolderTest, BadImagesAreNamed) {
  const std::string dir = testing::TempDir() + "/bad_images";
  framework::RunCommandForTest("/usr/bin/python3 tests/torchvision_image_folder.py " + dir + " " +
                               dir + ".pt > /dev/null 2>&1");
  // Truncated.
  const std::string victim = dir + "/train/cat/z.png";
  std::string bytes;
  {
    std::ifstream in(victim, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  { std::ofstream(victim, std::ios::binary) << bytes.substr(0, bytes.size() / 2); }
  absl::StatusOr<framework::DataSplits> data = Load(dir, "rgb");
  ASSERT_TRUE(data.ok()) << data.status();
  try {
    data->train.Gather(torch::arange(data->train.size(), torch::kInt64), 0);
    ADD_FAILURE() << "a truncated PNG was decoded";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(victim + ": cannot decode this PNG"), std::string::npos)
        << e.what();
  }
  // 16-bit, refused.
  framework::RunCommandForTest(
      "/usr/bin/python3 -c \"import numpy; from PIL import Image; Image.fromarray((numpy.ones((6, "
      "8)) * 40000).astype(numpy.uint16)).save('" + victim + "')\"");
  try {
    data->train.Gather(torch::arange(data->train.size(), torch::kInt64), 0);
    ADD_FAILURE() << "a 16-bit PNG was decoded";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(victim + ": cannot decode this PNG: a 16-bit PNG"),
              std::string::npos)
        << e.what();
  }
  // A truncated JPEG, refused as PIL refuses it.
  const std::string photo = dir + "/train/cat/photo.jpg";
  {
    std::ifstream in(photo, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  { std::ofstream(photo, std::ios::binary) << bytes.substr(0, bytes.size() * 2 / 3); }
  framework::RunCommandForTest("cp " + dir + "/train/cat/sub420.JPEG " + victim);  // PNG no more
  try {
    data->train.Gather(torch::arange(data->train.size(), torch::kInt64), 0);
    ADD_FAILURE() << "a truncated JPEG was decoded";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(photo + ": cannot "), std::string::npos)
        << e.what();
  }
  // An empty class folder.
  std::filesystem::create_directories(dir + "/val/empty");
  EXPECT_NE(std::string(Load(dir, "rgb").status().message()).find(dir + "/val/empty: an empty class folder"),
            std::string::npos);
  std::filesystem::remove(dir + "/val/empty");
  std::filesystem::remove_all(dir + "/val/dog");
  EXPECT_NE(std::string(Load(dir, "rgb").status().message()).find("its class folders differ from train/'s"),
            std::string::npos);
}

}  // namespace
}  // namespace plugins
