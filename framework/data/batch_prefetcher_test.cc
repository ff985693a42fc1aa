#include "framework/data/batch_prefetcher.h"

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <torch/types.h>

#include "framework/data/dataset.h"
#include "framework/data/sample_transform.h"

namespace framework {
namespace {

// Noise from the sample's generator: any draw from a worker's or the global
// generator instead would make the workers' batches differ.
class AddNoise : public SampleTransform {
 public:
  torch::Tensor Apply(const torch::Tensor& sample, at::Generator& random) const override {
    return sample + torch::randn(sample.sizes(), random);
  }
  absl::StatusOr<std::vector<int64_t>> OutputShape(const std::vector<int64_t>& shape) const override {
    return shape;
  }
};
REGISTER_SAMPLE_TRANSFORM("test_noise", [](const OptionValues&) {
  return absl::StatusOr<std::unique_ptr<SampleTransform>>(std::make_unique<AddNoise>());
});

// Sample `index` is its index everywhere; index `bad` cannot be read.
class CountingSource : public SampleSource {
 public:
  CountingSource(int64_t size, int64_t bad) : size_(size), bad_(bad) {}
  int64_t size() const override { return size_; }
  std::pair<torch::Tensor, torch::Tensor> Gather(const torch::Tensor& indices,
                                                 int64_t epoch) const override {
    torch::Tensor inputs = torch::empty({indices.numel(), 1, 4, 4});
    for (int64_t b = 0; b < indices.numel(); ++b) {
      const int64_t index = indices[b].item<int64_t>();
      if (index == bad_) throw std::runtime_error("sample-" + std::to_string(index) + ".png: corrupt");
      inputs[b].fill_(static_cast<double>(index + 1000 * epoch));
    }
    return {inputs, indices.clone()};
  }
  std::shared_ptr<const SampleSource> Head(int64_t count) const override {
    return std::make_shared<CountingSource>(count, bad_);
  }

 private:
  int64_t size_;
  int64_t bad_;
};

Dataset Noisy(int64_t size, int64_t bad = -1) {
  Dataset data;
  data.source = std::make_shared<CountingSource>(size, bad);
  data.model_facts = {{"input_channels", 1}, {"input_height", 4}, {"input_width", 4}, {"classes", 2}};
  absl::StatusOr<std::shared_ptr<const SampleTransforms>> noise =
      SampleTransforms::ParseText(R"([{"test_noise": {}}])", "transforms");
  EXPECT_TRUE(noise.ok()) << noise.status();
  absl::StatusOr<Dataset> noisy = data.WithTransforms(*noise, 7, "transforms");
  EXPECT_TRUE(noisy.ok()) << noisy.status();
  return *noisy;
}

std::vector<torch::Tensor> Batches(int64_t size, int64_t batch) {
  std::vector<torch::Tensor> batches;
  const torch::Tensor order = torch::randperm(size, torch::TensorOptions().dtype(torch::kInt64));
  for (int64_t start = 0; start < size; start += batch) {
    batches.push_back(order.narrow(0, start, std::min(batch, size - start)));
  }
  return batches;
}

TEST(BatchPrefetcherTest, AnyNumberOfWorkersGivesTheSameBatchesInOrder) {
  torch::manual_seed(3);
  const Dataset data = Noisy(200);
  const std::vector<torch::Tensor> batches = Batches(200, 16);
  std::vector<torch::Tensor> expected;
  for (int workers : {0, 1, 4}) {
    PrefetchOptions options;
    options.workers = workers;
    BatchPrefetcher prefetcher(data, /*epoch=*/2, batches, options);
    for (size_t b = 0; b < batches.size(); ++b) {
      absl::StatusOr<GatheredBatch> batch = prefetcher.Next();
      ASSERT_TRUE(batch.ok()) << batch.status();
      EXPECT_TRUE(torch::equal(batch->targets, batches[b])) << "batch " << b << " out of order";
      if (workers == 0) {
        expected.push_back(batch->inputs);
      } else {
        EXPECT_TRUE(torch::equal(batch->inputs, expected[b]))
            << workers << " workers changed batch " << b;
      }
    }
  }
  // The noise is really there, and differs by epoch.
  EXPECT_FALSE(torch::equal(expected[0], expected[0].round()));
  BatchPrefetcher other_epoch(data, 3, batches, PrefetchOptions{});
  EXPECT_FALSE(torch::allclose(other_epoch.Next()->inputs - 1000, expected[0]));
}

TEST(BatchPrefetcherTest, AnUnreadableSampleIsAnErrorAtItsBatchNamingTheFile) {
  const Dataset data = Noisy(64, /*bad=*/37);
  std::vector<torch::Tensor> batches;
  for (int64_t start = 0; start < 64; start += 8) {
    batches.push_back(torch::arange(start, start + 8, torch::TensorOptions().dtype(torch::kInt64)));
  }
  for (int workers : {0, 2}) {
    PrefetchOptions options;
    options.workers = workers;
    BatchPrefetcher prefetcher(data, 0, batches, options);
    for (int b = 0; b < 4; ++b) ASSERT_TRUE(prefetcher.Next().ok()) << "batch " << b;
    absl::StatusOr<GatheredBatch> bad = prefetcher.Next();
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(std::string(bad.status().message()).find("sample-37.png: corrupt"),
              std::string::npos)
        << bad.status();
    // Destroyed with batches left: the workers stop.
  }
}

TEST(BatchPrefetcherTest, SkippingBadSamplesLeavesOutOnlyThem) {
  Dataset data = Noisy(64, /*bad=*/37);
  data.skip_bad_samples = true;
  std::vector<torch::Tensor> batches;
  for (int64_t start = 0; start < 64; start += 8) {
    batches.push_back(torch::arange(start, start + 8, torch::TensorOptions().dtype(torch::kInt64)));
  }
  const Dataset good = Noisy(64);
  for (int workers : {0, 3}) {
    PrefetchOptions options;
    options.workers = workers;
    BatchPrefetcher prefetcher(data, 0, batches, options);
    for (int b = 0; b < 8; ++b) {
      absl::StatusOr<GatheredBatch> batch = prefetcher.Next();
      ASSERT_TRUE(batch.ok()) << batch.status();
      torch::Tensor expected = batches[b];
      if (b == 4) expected = torch::cat({expected.narrow(0, 0, 5), expected.narrow(0, 6, 2)});
      EXPECT_EQ(batch->skipped, b == 4 ? 1 : 0);
      ASSERT_TRUE(torch::equal(batch->targets, expected)) << "batch " << b;
      // The other samples are what they would be in a batch without it.
      EXPECT_TRUE(torch::equal(batch->inputs, good.Gather(expected, 0).first)) << "batch " << b;
    }
  }
}

TEST(BatchPrefetcherTest, WaitingBatchesStayWithinTheByteBound) {
  const Dataset data = Noisy(400);
  const std::vector<torch::Tensor> batches = Batches(400, 10);
  // One batch: 10 x 16 floats + 10 int64 = 720 bytes.
  PrefetchOptions options;
  options.workers = 4;
  options.batches_per_worker = 8;
  options.max_bytes = 2000;
  BatchPrefetcher prefetcher(data, 0, batches, options);
  for (size_t b = 0; b < batches.size(); ++b) {
    if (b % 10 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ASSERT_TRUE(prefetcher.Next().ok());
  }
  // Below the bound, plus the batches the four workers had begun.
  EXPECT_GT(prefetcher.peak_bytes_waiting(), 0);
  EXPECT_LE(prefetcher.peak_bytes_waiting(), 2000 + 4 * 720);
}

TEST(BatchPrefetcherTest, AutoWorkersDecodeOnlyWhatNeedsDecoding) {
  Dataset in_memory;
  in_memory.inputs = torch::zeros({4, 1, 2, 2});
  in_memory.targets = torch::zeros({4}, torch::kInt64);
  EXPECT_EQ(WorkersFor(in_memory, -1), 0);
  EXPECT_GE(WorkersFor(Noisy(4), -1), 1);
  EXPECT_EQ(WorkersFor(Noisy(4), 3), 3);
}

}  // namespace
}  // namespace framework
