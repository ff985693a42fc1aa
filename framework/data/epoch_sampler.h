// The order in which one epoch visits the training samples.
//
// The order is a function of (seed, epoch) alone: it does not depend on what
// happened in earlier epochs, so a run resumed at any epoch, or any batch
// inside one, sees the same batches as a run that never stopped. Each batch
// can be split across `world_size` ranks; rank r takes every world_size-th
// sample of the batch, so the union over ranks is the single-process batch.
#ifndef FRAMEWORK_DATA_EPOCH_SAMPLER_H_
#define FRAMEWORK_DATA_EPOCH_SAMPLER_H_

#include <cstdint>

#include <ATen/core/Tensor.h>

namespace framework {

class EpochSampler {
 public:
  EpochSampler(int64_t num_samples, int64_t batch_size, uint64_t seed,
               int64_t epoch, int64_t rank = 0, int64_t world_size = 1);

  // Batches per epoch; the last one may be short (no sample is dropped).
  int64_t num_batches() const { return num_batches_; }

  // Samples in batch `batch` over all ranks.
  int64_t GlobalBatchSize(int64_t batch) const;

  // int64 indices of this rank's share of batch `batch`.
  at::Tensor BatchIndices(int64_t batch) const;

  const at::Tensor& permutation() const { return permutation_; }

 private:
  int64_t num_samples_;
  int64_t batch_size_;
  int64_t rank_;
  int64_t world_size_;
  int64_t num_batches_;
  at::Tensor permutation_;
};

}  // namespace framework

#endif  // FRAMEWORK_DATA_EPOCH_SAMPLER_H_
