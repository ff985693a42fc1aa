// The tar_shards data set through the framework's interfaces: the samples a
// data-parallel run reads from shards, rank by rank, when an epoch is
// interrupted at any batch and resumed at any world size from 1 to 4 (each
// seen exactly once, counted by the sample its pixels name), and the index
// cache (reused while a shard is unchanged, rebuilt when it changes).
#include <filesystem>
#include <map>
#include <string>

#include <torch/types.h>

#include "framework/data/dataset.h"
#include "framework/data/epoch_sampler.h"
#include "framework/formats/png_image.h"
#include "framework/formats/tar_archive.h"
#include "gtest/gtest.h"

namespace plugins {
namespace {

constexpr int64_t kSamples = 130;

// Shards of 1x2x2 gray images whose pixels spell the sample's number.
std::string WriteShards(const std::string& dir, int64_t samples, int64_t per_shard) {
  std::filesystem::create_directories(dir);
  for (const std::string split : {"train", "valid"}) {
    std::unique_ptr<framework::TarWriter> shard;
    for (int64_t i = 0; i < samples; ++i) {
      if (i % per_shard == 0) {
        if (shard != nullptr) {
          EXPECT_TRUE(shard->Close().ok());
        }
        char number[16];
        std::snprintf(number, sizeof(number), "%06lld", static_cast<long long>(i / per_shard));
        shard = *framework::TarWriter::Create(dir + "/" + split + "-" + number + ".tar");
      }
      torch::Tensor pixels = torch::tensor({static_cast<uint8_t>(i % 256),
                                            static_cast<uint8_t>(i / 256), uint8_t{7}, uint8_t{9}})
                                 .reshape({1, 2, 2});
      char key[32];
      std::snprintf(key, sizeof(key), "%08lld", static_cast<long long>(i));
      EXPECT_TRUE(shard->Add(std::string(key) + ".png", *framework::EncodePng(pixels)).ok());
      EXPECT_TRUE(shard->Add(std::string(key) + ".cls", std::to_string(i % 3)).ok());
    }
    EXPECT_TRUE(shard->Close().ok());
  }
  return dir;
}

framework::DataSplits Load(const std::string& dir, const std::string& cache) {
  framework::DataOptions options;
  options.data_dir = dir;
  options.cache_dir = cache;
  options.options = *framework::ResolveDatasetOptions(
      "tar_shards", {{"mode", "gray"}, {"mean", 0.0}, {"std", 1.0}},
      [](const std::string& key) { return key; });
  absl::StatusOr<framework::DataSplits> splits = framework::LoadDataset("tar_shards", options);
  EXPECT_TRUE(splits.ok()) << splits.status();
  return *splits;
}

// The sample numbers the pixels of a batch spell.
std::vector<int64_t> Numbers(const torch::Tensor& inputs) {
  std::vector<int64_t> numbers;
  const torch::Tensor pixels = inputs.mul(255).round().to(torch::kInt64);
  for (int64_t b = 0; b < pixels.size(0); ++b) {
    numbers.push_back(pixels[b][0][0][0].item<int64_t>() + 256 * pixels[b][0][0][1].item<int64_t>());
  }
  return numbers;
}

TEST(TarShardsTest, ResumedAtAnyWorldSizeEachSampleOfTheEpochIsReadOnce) {
  const std::string dir = WriteShards(testing::TempDir() + "/shards", kSamples, 40);
  const framework::DataSplits splits = Load(dir, testing::TempDir() + "/cache");
  ASSERT_EQ(splits.train.size(), kSamples);
  constexpr int64_t kBatch = 12;  // divides by 1, 2, 3 and 4
  const int64_t batches = (kSamples + kBatch - 1) / kBatch;
  for (int64_t before = 1; before <= 4; ++before) {
    for (int64_t after = 1; after <= 4; ++after) {
      for (int64_t split = 0; split <= batches; ++split) {
        std::map<int64_t, int> seen;
        for (int64_t batch = 0; batch < batches; ++batch) {
          const int64_t world = batch < split ? before : after;
          for (int64_t rank = 0; rank < world; ++rank) {
            framework::EpochSampler sampler(kSamples, kBatch, 5, 1, rank, world);
            const torch::Tensor indices = sampler.BatchIndices(batch);
            // Each rank reads only its share.
            const auto [inputs, targets] = splits.train.Gather(indices, 1);
            ASSERT_EQ(inputs.size(0), indices.numel());
            const std::vector<int64_t> numbers = Numbers(inputs);
            for (int64_t b = 0; b < indices.numel(); ++b) {
              ASSERT_EQ(numbers[b], indices[b].item<int64_t>()) << "the shards' order is the keys'";
              ASSERT_EQ(targets[b].item<int64_t>(), numbers[b] % 3);
              ++seen[numbers[b]];
            }
          }
        }
        ASSERT_EQ(static_cast<int64_t>(seen.size()), kSamples)
            << before << " ranks, then " << after << " from batch " << split;
        for (const auto& [number, count] : seen) {
          ASSERT_EQ(count, 1) << "sample " << number << ": " << before << " ranks, then " << after
                              << " from batch " << split;
        }
      }
    }
  }
}

TEST(TarShardsTest, TheIndexIsCachedOutsideTheDataAndRebuiltWhenAShardChanges) {
  const std::string dir = WriteShards(testing::TempDir() + "/cached", 60, 25);
  const std::string cache = testing::TempDir() + "/index_cache";
  Load(dir, cache);
  size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(cache)) files += entry.is_regular_file();
  EXPECT_EQ(files, 6u) << "one index per shard (3 train, 3 valid)";
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    EXPECT_EQ(entry.path().extension(), ".tar") << "nothing written into the data directory";
  }
  // A shard rewritten with other samples: its index is stale and rebuilt.
  WriteShards(testing::TempDir() + "/other", 70, 25);
  std::filesystem::copy_file(testing::TempDir() + "/other/train-000002.tar", dir + "/train-000002.tar",
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::last_write_time(dir + "/train-000002.tar",
                                   std::filesystem::file_time_type::clock::now());
  const framework::DataSplits again = Load(dir, cache);
  EXPECT_EQ(again.train.size(), 50 + 20);
  const auto [inputs, targets] = again.train.Gather(torch::tensor({69}, torch::kInt64), 0);
  EXPECT_EQ(Numbers(inputs)[0], 69);
}

}  // namespace
}  // namespace plugins
