#include "framework/data/epoch_sampler.h"

#include <algorithm>

#include <torch/types.h>

#include "framework/core/random_state.h"
#include "glog/logging.h"

namespace framework {

EpochSampler::EpochSampler(int64_t num_samples, int64_t batch_size,
                           uint64_t seed, int64_t epoch, int64_t rank,
                           int64_t world_size)
    : num_samples_(num_samples),
      batch_size_(batch_size),
      rank_(rank),
      world_size_(world_size) {
  CHECK_GT(batch_size, 0);
  CHECK_GE(num_samples, 0);
  CHECK(world_size > 0 && rank >= 0 && rank < world_size)
      << "rank " << rank << " of " << world_size;
  num_batches_ = (num_samples + batch_size - 1) / batch_size;
  at::Generator generator = MakeGenerator(EpochSeed(seed, epoch));
  permutation_ = torch::randperm(num_samples, generator,
                                 torch::TensorOptions().dtype(torch::kInt64));
}

int64_t EpochSampler::GlobalBatchSize(int64_t batch) const {
  CHECK(batch >= 0 && batch < num_batches_) << "batch " << batch;
  return std::min(batch_size_, num_samples_ - batch * batch_size_);
}

at::Tensor EpochSampler::BatchIndices(int64_t batch) const {
  CHECK(batch >= 0 && batch < num_batches_) << "batch " << batch;
  const int64_t start = batch * batch_size_;
  const int64_t length = std::min(batch_size_, num_samples_ - start);
  at::Tensor indices = permutation_.narrow(0, start, length);
  if (world_size_ == 1) return indices;
  return indices.slice(0, rank_, length, world_size_);
}

}  // namespace framework
