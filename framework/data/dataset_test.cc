#include "framework/data/builtin_datasets.h"
#include "framework/data/dataset.h"

#include <zlib.h>

#include <cstdio>
#include <fstream>
#include <string>

#include <torch/types.h>

#include "gtest/gtest.h"

namespace framework {
namespace {

std::string BigEndian32(uint32_t value) {
  std::string bytes(4, '\0');
  for (int i = 0; i < 4; ++i) bytes[i] = static_cast<char>((value >> (24 - 8 * i)) & 0xff);
  return bytes;
}

std::string ImagesFile(int count, int rows, int cols) {
  std::string bytes = BigEndian32(0x803) + BigEndian32(count) + BigEndian32(rows) +
                      BigEndian32(cols);
  for (int i = 0; i < count * rows * cols; ++i) bytes.push_back(static_cast<char>(i % 256));
  return bytes;
}

std::string LabelsFile(const std::string& labels) {
  return BigEndian32(0x801) + BigEndian32(labels.size()) + labels;
}

void WriteRaw(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

void WriteGzip(const std::string& path, const std::string& bytes) {
  gzFile file = gzopen(path.c_str(), "wb");
  ASSERT_NE(file, nullptr);
  ASSERT_EQ(gzwrite(file, bytes.data(), bytes.size()), static_cast<int>(bytes.size()));
  gzclose(file);
}

class IdxTest : public testing::Test {
 protected:
  std::string Path(const std::string& name) { return testing::TempDir() + "/" + name; }
};

TEST_F(IdxTest, ReadsGzippedAndPlainFiles) {
  WriteGzip(Path("images.gz"), ImagesFile(3, 2, 2));
  WriteRaw(Path("labels"), LabelsFile(std::string("\x01\x00\x02", 3)));
  auto dataset = ReadIdxDataset(Path("images.gz"), Path("labels"), 3);
  ASSERT_TRUE(dataset.ok()) << dataset.status();
  EXPECT_EQ(dataset->size(), 3);
  EXPECT_EQ(dataset->inputs.sizes(), torch::IntArrayRef({3, 1, 2, 2}));
  EXPECT_EQ(dataset->targets.dtype(), torch::kInt64);
  EXPECT_EQ(dataset->targets[2].item<int64_t>(), 2);
  // Pixel 5 of the file is byte 5: (5 / 255 - 0.5) / 0.5.
  EXPECT_FLOAT_EQ(dataset->inputs[1][0][0][1].item<float>(), (5 / 255.0f - 0.5f) / 0.5f);
  EXPECT_EQ(dataset->Head(2).size(), 2);
  EXPECT_EQ(dataset->Head(0).size(), 3);
}

TEST_F(IdxTest, MissingFileNamesThePath) {
  auto dataset = ReadIdxDataset(Path("nope.gz"), Path("labels"), 10);
  ASSERT_FALSE(dataset.ok());
  EXPECT_NE(dataset.status().message().find(Path("nope.gz")), std::string::npos);
  EXPECT_NE(dataset.status().message().find("No such file"), std::string::npos);
}

TEST_F(IdxTest, TruncatedDataIsAnError) {
  std::string images = ImagesFile(3, 2, 2);
  WriteRaw(Path("short_images"), images.substr(0, images.size() - 1));
  WriteRaw(Path("labels3"), LabelsFile(std::string(3, '\0')));
  auto dataset = ReadIdxDataset(Path("short_images"), Path("labels3"), 10);
  ASSERT_FALSE(dataset.ok());
  EXPECT_NE(dataset.status().message().find("truncated idx file"), std::string::npos)
      << dataset.status();
  EXPECT_NE(dataset.status().message().find(Path("short_images")), std::string::npos);

  WriteRaw(Path("header_only"), images.substr(0, 7));
  EXPECT_FALSE(ReadIdxDataset(Path("header_only"), Path("labels3"), 10).ok());
}

TEST_F(IdxTest, TruncatedGzipStreamIsAnError) {
  WriteGzip(Path("full.gz"), ImagesFile(50, 28, 28));
  std::ifstream in(Path("full.gz"), std::ios::binary);
  std::string compressed((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  WriteRaw(Path("cut.gz"), compressed.substr(0, compressed.size() / 2));
  WriteRaw(Path("labels50"), LabelsFile(std::string(50, '\0')));
  auto dataset = ReadIdxDataset(Path("cut.gz"), Path("labels50"), 10);
  ASSERT_FALSE(dataset.ok());
  EXPECT_NE(dataset.status().message().find(Path("cut.gz")), std::string::npos)
      << dataset.status();
}

TEST_F(IdxTest, HeaderSizesAreCheckedAndBoundWhatIsDecompressed) {
  WriteRaw(Path("labels0"), LabelsFile(""));
  // 65535^3 bytes: more than the reader's 2 GiB cap (and the product of
  // three 32-bit dimensions can exceed 64 bits in general).
  WriteGzip(Path("huge.gz"), BigEndian32(0x803) + BigEndian32(65535) + BigEndian32(65535) +
                                 BigEndian32(65535));
  auto huge = ReadIdxDataset(Path("huge.gz"), Path("labels0"), 10);
  ASSERT_FALSE(huge.ok());
  EXPECT_NE(huge.status().message().find("declares dimensions 65535 x 65535 x 65535, more than"),
            std::string::npos) << huge.status();
  // A header that promises 1 GiB in a tiny file is a truncation error, found
  // without allocating the gigabyte first.
  WriteGzip(Path("liar.gz"), BigEndian32(0x803) + BigEndian32(1024) + BigEndian32(1024) +
                                 BigEndian32(1024) + "abc");
  auto liar = ReadIdxDataset(Path("liar.gz"), Path("labels0"), 10);
  ASSERT_FALSE(liar.ok());
  EXPECT_NE(liar.status().message().find("truncated idx file: header promises 1073741840 bytes, "
                                         "file has 19"),
            std::string::npos) << liar.status();
}

TEST_F(IdxTest, WrongMagicCountMismatchAndBadLabelsAreErrors) {
  WriteRaw(Path("images"), ImagesFile(2, 2, 2));
  WriteRaw(Path("labels2"), LabelsFile(std::string("\x01\x09", 2)));
  WriteRaw(Path("labels1"), LabelsFile(std::string("\x01", 1)));
  auto swapped = ReadIdxDataset(Path("labels2"), Path("images"), 10);
  ASSERT_FALSE(swapped.ok());
  EXPECT_NE(swapped.status().message().find("magic"), std::string::npos);
  auto mismatch = ReadIdxDataset(Path("images"), Path("labels1"), 10);
  ASSERT_FALSE(mismatch.ok());
  EXPECT_NE(mismatch.status().message().find("2 images but"), std::string::npos);
  auto out_of_range = ReadIdxDataset(Path("images"), Path("labels2"), 5);
  ASSERT_FALSE(out_of_range.ok());
  EXPECT_NE(out_of_range.status().message().find("label 9 is out of range"), std::string::npos);
}

TEST_F(IdxTest, FashionMnistErrorNamesTheDebianPackage) {
  auto data = LoadFashionMnist(kFashionMnistDefaultDir + std::string("-missing"));
  ASSERT_FALSE(data.ok());
  EXPECT_NE(data.status().message().find("train-images-idx3-ubyte.gz"), std::string::npos);
  EXPECT_NE(data.status().message().find("dataset-fashion-mnist"), std::string::npos)
      << data.status();
}

TEST(FashionMnistTest, LoadsTheDebianPackage) {
  auto data = LoadDataset("fashion_mnist", {});
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->train.size(), 60000);
  EXPECT_EQ(data->valid.size(), 10000);
  EXPECT_EQ(data->train.inputs.sizes(), torch::IntArrayRef({60000, 1, 28, 28}));
  EXPECT_EQ(data->train.classes, 10);
  EXPECT_EQ(data->train.targets.bincount().min().item<int64_t>(), 6000);
  EXPECT_LE(data->train.inputs.max().item<float>(), 1.0f);
  EXPECT_GE(data->train.inputs.min().item<float>(), -1.0f);
}

TEST(SyntheticTest, SameSeedSameData) {
  SyntheticOptions options;
  options.seed = 7;
  DataSplits a = MakeSyntheticDataset(options);
  DataSplits b = MakeSyntheticDataset(options);
  EXPECT_TRUE(a.train.inputs.equal(b.train.inputs));
  EXPECT_TRUE(a.valid.targets.equal(b.valid.targets));
  options.seed = 8;
  EXPECT_FALSE(MakeSyntheticDataset(options).train.inputs.equal(a.train.inputs));
  EXPECT_EQ(a.train.size(), 512);
  EXPECT_LT(a.train.targets.max().item<int64_t>(), 10);
}

REGISTER_DATASET("test_two_samples", [](const DataOptions& options) -> absl::StatusOr<DataSplits> {
  DataSplits splits;
  splits.train.inputs = torch::zeros({2, 1, 4, 4});
  splits.train.targets = torch::tensor({0, 1}, torch::kInt64);
  splits.train.classes = 2;
  splits.valid = splits.train;
  if (!options.data_dir.empty()) return absl::NotFoundError("no data in " + options.data_dir);
  return splits;
});

TEST(DatasetRegistryTest, RegisteredDatasetsLoadByName) {
  auto data = LoadDataset("test_two_samples", {});
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->train.size(), 2);
  DataOptions options;
  options.data_dir = "/nowhere";
  EXPECT_EQ(LoadDataset("test_two_samples", options).status().message(), "no data in /nowhere");
  EXPECT_NE(DatasetRegistry().Source("test_two_samples").find("dataset_test.cc"), std::string::npos);
}

TEST(DatasetRegistryTest, UnknownDatasetListsNames) {
  auto data = LoadDataset("mnist", {});
  ASSERT_FALSE(data.ok());
  EXPECT_NE(data.status().message().find("fashion_mnist, synthetic, test_two_samples"), std::string::npos);
}

}  // namespace
}  // namespace framework
