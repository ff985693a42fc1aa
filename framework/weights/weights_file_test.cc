#include "framework/weights/weights_file.h"

#include <fstream>
#include <string>

#include <torch/types.h>

#include "gtest/gtest.h"

namespace framework {
namespace {

bool StartsWith(const std::string& path, const std::string& magic) {
  std::ifstream in(path);
  std::string head(magic.size(), '\0');
  in.read(head.data(), head.size());
  return in.gcount() == static_cast<std::streamsize>(magic.size()) && head == magic;
}

// A format registered as a plugin would register one: text files that start
// with "ONES", holding one tensor of ones.
REGISTER_WEIGHTS_FORMAT(
    "test_ones",
    (WeightsFormat{"test ones",
                   [](const std::string& path) {
                     return StartsWith(path, "ONES") || StartsWith(path, "BOTH");
                   },
                   [](const std::string&, const DeviceMap&)
                       -> absl::StatusOr<std::vector<NamedTensor>> {
                     return std::vector<NamedTensor>{{"w", torch::ones({2})}};
                   },
                   nullptr}));
// Claims some of the same files, to show that overlaps are reported.
REGISTER_WEIGHTS_FORMAT(
    "test_overlap",
    (WeightsFormat{"test overlap",
                   [](const std::string& path) { return StartsWith(path, "BOTH"); },
                   [](const std::string&, const DeviceMap&)
                       -> absl::StatusOr<std::vector<NamedTensor>> { return std::vector<NamedTensor>{}; },
                   nullptr}));

std::string WriteFile(const std::string& name, const std::string& contents) {
  const std::string path = testing::TempDir() + "/" + name;
  std::ofstream(path) << contents;
  return path;
}

TEST(WeightsFileTest, ARegisteredFormatIsRecognisedByContent) {
  const std::string path = WriteFile("weights.bin", "ONES...");
  EXPECT_EQ(DetectWeightsFormat(path).value(), "test_ones");
  absl::StatusOr<std::vector<NamedTensor>> weights = ReadWeights(path, DeviceMap(torch::kCPU));
  ASSERT_TRUE(weights.ok()) << weights.status();
  ASSERT_EQ(weights->size(), 1u);
  EXPECT_TRUE((*weights)[0].tensor.equal(torch::ones({2})));
}

TEST(WeightsFileTest, AnUnknownFileListsTheFormats) {
  const std::string path = WriteFile("notes.txt", "nothing");
  absl::StatusOr<std::string> format = DetectWeightsFormat(path);
  ASSERT_FALSE(format.ok());
  EXPECT_EQ(format.status().message(),
            path + " is not a file of any known weights format (test ones, test overlap)");
  EXPECT_EQ(DetectWeightsFormat(path + ".missing").status().message(),
            path + ".missing does not exist");
}

TEST(WeightsFileTest, AFileTwoFormatsClaimIsAnError) {
  const std::string path = WriteFile("both.bin", "BOTH");
  EXPECT_EQ(DetectWeightsFormat(path).status().message(),
            path + " is claimed by several weights formats: test_ones, test_overlap");
}

}  // namespace
}  // namespace framework
