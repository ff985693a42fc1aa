#include "framework/data/epoch_sampler.h"

#include <torch/types.h>

#include "gtest/gtest.h"

namespace framework {
namespace {

torch::Tensor AllBatches(const EpochSampler& sampler) {
  std::vector<torch::Tensor> batches;
  for (int64_t b = 0; b < sampler.num_batches(); ++b) batches.push_back(sampler.BatchIndices(b));
  return torch::cat(batches);
}

TEST(EpochSamplerTest, VisitsEverySampleOnceWithAShortLastBatch) {
  EpochSampler sampler(10, 4, /*seed=*/1, /*epoch=*/0);
  EXPECT_EQ(sampler.num_batches(), 3);
  EXPECT_EQ(sampler.BatchIndices(2).numel(), 2);
  EXPECT_TRUE(std::get<0>(AllBatches(sampler).sort()).equal(torch::arange(10)));
}

TEST(EpochSamplerTest, OrderIsAFunctionOfSeedAndEpochOnly) {
  EpochSampler a(1000, 64, 5, 3);
  EpochSampler b(1000, 64, 5, 3);
  EXPECT_TRUE(a.permutation().equal(b.permutation()));
  // Other random draws in between do not matter.
  torch::rand({100});
  EXPECT_TRUE(EpochSampler(1000, 64, 5, 3).permutation().equal(a.permutation()));
  EXPECT_FALSE(EpochSampler(1000, 64, 5, 4).permutation().equal(a.permutation()));
  EXPECT_FALSE(EpochSampler(1000, 64, 6, 3).permutation().equal(a.permutation()));
}

TEST(EpochSamplerTest, RanksShareEachBatchWithoutOverlap) {
  EpochSampler whole(103, 10, 2, 1);
  for (int64_t b = 0; b < whole.num_batches(); ++b) {
    std::vector<torch::Tensor> shares;
    for (int64_t rank = 0; rank < 3; ++rank) {
      shares.push_back(EpochSampler(103, 10, 2, 1, rank, 3).BatchIndices(b));
    }
    EXPECT_TRUE(std::get<0>(torch::cat(shares).sort()).equal(
        std::get<0>(whole.BatchIndices(b).sort())))
        << "batch " << b;
  }
}

// Resuming at another world size: batches before the split point ran with
// `before` ranks and the rest with `after`; every sample of the epoch must be
// seen exactly once, for world sizes 1 to 4 and every split point (the
// loop's position counts global batches). 50 samples in batches of 12 leave
// a last batch of 2, which 3 or 4 ranks share unevenly, some with nothing.
TEST(EpochSamplerTest, ResumingAtAnyWorldSizeSeesEachSampleOnce) {
  constexpr int64_t kSamples = 50, kBatch = 12;
  const EpochSampler whole(kSamples, kBatch, 9, 2);
  for (int64_t before = 1; before <= 4; ++before) {
    for (int64_t after = 1; after <= 4; ++after) {
      for (int64_t split = 0; split <= whole.num_batches(); ++split) {
        std::vector<int64_t> seen(kSamples, 0);
        for (int64_t batch = 0; batch < whole.num_batches(); ++batch) {
          const int64_t world = batch < split ? before : after;
          int64_t global = 0;
          for (int64_t rank = 0; rank < world; ++rank) {
            EpochSampler sampler(kSamples, kBatch, 9, 2, rank, world);
            EXPECT_EQ(sampler.GlobalBatchSize(batch), whole.GlobalBatchSize(batch));
            const torch::Tensor indices = sampler.BatchIndices(batch);
            global += indices.numel();
            for (int64_t i = 0; i < indices.numel(); ++i) ++seen[indices[i].item<int64_t>()];
          }
          EXPECT_EQ(global, whole.GlobalBatchSize(batch));
        }
        for (int64_t sample = 0; sample < kSamples; ++sample) {
          ASSERT_EQ(seen[sample], 1) << "sample " << sample << " with " << before << " rank(s) "
                                     << "before batch " << split << " and " << after << " after";
        }
      }
    }
  }
}

}  // namespace
}  // namespace framework
