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

}  // namespace
}  // namespace framework
