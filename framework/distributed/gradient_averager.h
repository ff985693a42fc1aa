// Data-parallel gradients: after each backward pass every rank holds the
// gradient of the global batch's mean loss, as if one process had computed
// it over the whole batch.
//
// Parameters are grouped into flat buckets of about `bucket_bytes` (in
// reverse registration order, the order backward usually produces them, as
// PyTorch's DistributedDataParallel does). A hook on each parameter's
// gradient accumulator marks it ready; once every parameter of a bucket is
// ready, the bucket is flattened and its all-reduce starts while backward
// goes on with the earlier layers. Over Gloo that runs on Gloo's threads.
// Through shared memory (Communicator::all_reduce_in_shared_memory()) float
// and double gradients live in a segment of their own for the whole run, as
// DistributedDataParallel's gradient_as_bucket_view keeps them in its
// buckets: each parameter's grad is a view of this rank's slot, backward
// accumulates into it there, and the sums are written straight back into
// every rank's grads, so the gradients are never copied (on cores that also
// compute, the copies were most of the all-reduce's cost). A full bucket is
// handed over and backward goes on; it is summed by whichever rank has time,
// the rank that finished its backward first while it waits for the others
// (SharedMemoryAllReduce::StartSumInSlots). A grad that something replaced
// is copied back into its place first. Where no such segment fits (a small
// /dev/shm), or for other types, the weighted gradients are written into
// the all-reduce's segment and the sums read back into the grads, bucket by
// bucket on the spot. Buckets start in a fixed
// order on every rank, whatever order their hooks fire in; parameters that
// got no gradient contribute zeros.
//
// Each rank's gradient is weighted by its share of the global batch before
// the sum, so a last batch that splits unevenly (or leaves a rank without
// samples) still gives exactly the global mean.
//
// A step may also sum a few numbers over the ranks (its loss and metric sums,
// a stop vote): they ride in the first bucket's message, so a step costs one
// collective per bucket and no more. They travel in the bucket's type, so
// with float32 parameters they are rounded to float32 (exact for counts up to
// 2^24); with a narrower type they go in a float64 message of their own.
#ifndef FRAMEWORK_DISTRIBUTED_GRADIENT_AVERAGER_H_
#define FRAMEWORK_DISTRIBUTED_GRADIENT_AVERAGER_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include <ATen/core/Tensor.h>

#include "absl/status/status.h"
#include "framework/distributed/communicator.h"

namespace torch::autograd {
struct Node;
}  // namespace torch::autograd

namespace framework {

class GradientAverager {
 public:
  // `communicator` must outlive this object; `parameters` are the model's
  // trainable parameters (identical shapes on every rank). Every rank
  // constructs it at the same point (it may join a segment).
  GradientAverager(Communicator& communicator, std::vector<at::Tensor> parameters,
                   int64_t bucket_bytes, int64_t step_sums = 0);
  // Grads that live in the segment are copied out of it first.
  ~GradientAverager();
  GradientAverager(const GradientAverager&) = delete;
  GradientAverager& operator=(const GradientAverager&) = delete;

  // Arms the hooks for the next backward pass. `share` is this rank's part
  // of the global batch (its samples / all samples; 0 when it has none);
  // `sums` (`step_sums` of them) are this rank's numbers to add up.
  void StartStep(double share, std::vector<double> sums = {});
  // After backward (or instead of it, for a rank with no samples): starts
  // the buckets not yet started, waits for all, and leaves the averaged
  // gradient in every parameter's grad and the sums over all ranks in
  // `sums` (if not null).
  absl::Status FinishStep(std::vector<double>* sums = nullptr);

  int64_t bucket_count() const { return static_cast<int64_t>(buckets_.size()); }
  // Whether the grads live in shared memory (see above).
  bool gradients_in_shared_memory() const { return resident_ != nullptr; }
  // Buckets whose all-reduce has started this step.
  int64_t buckets_started() {
    std::lock_guard<std::mutex> lock(mutex_);
    return next_bucket_;
  }

 private:
  struct Bucket {
    std::vector<int64_t> parameters;  // indices into parameters_
    int64_t elements = 0;             // the parameters', and the step's sums in bucket 0
    // Over Gloo: the bucket's own buffer. Through shared memory there is
    // none: weighted gradients go straight into the segment and the sums
    // straight back into the grads.
    at::Tensor flat;
    size_t offset = 0;  // where its values start in a slot, when the grads live there
    int64_t ready = 0;
    Communicator::Pending pending;
    absl::Status summed;  // through shared memory: how its all-reduce went
  };
  void OnGradientReady(int64_t parameter);
  // Starts buckets in order while the next one is complete (under mutex_).
  void StartReadyBuckets(bool all);
  // Sums bucket `b` through shared memory, from the grads into the grads.
  absl::Status SumInSharedMemory(int64_t b);
  // The same where the grads live in the segment: hands the bucket over to
  // be summed there, by whichever rank has time; FinishStep waits for it.
  absl::Status StartSumInPlace(int64_t b);
  // How many of the step's sums ride at the end of bucket 0 in this rank's
  // slot (none where the grads do not live there), and those values.
  int64_t SumsInSlot() const;
  at::Tensor StepSumsInSlot() const;
  // Lays the buckets out in a segment of their own and puts the grads
  // there, if the ranks can share one.
  void KeepGradientsInSharedMemory();
  // Copies parameter i's grad (zeros where it has none) into its place in
  // this rank's slot and makes the grad a view of that place.
  void MoveGradientToItsPlace(int64_t i);

  Communicator& communicator_;
  std::vector<at::Tensor> parameters_;
  std::vector<int64_t> bucket_of_;  // parameter index -> bucket index
  std::vector<Bucket> buckets_;
  std::vector<bool> seen_;  // this step, per parameter
  int64_t step_sums_;
  bool sums_in_first_bucket_ = false;
  std::vector<double> sums_;
  std::vector<double> shared_memory_sums_;  // the sums over the ranks, through shared memory
  bool through_shared_memory_ = false;
  std::unique_ptr<SharedMemoryAllReduce> resident_;  // where the grads live, if they do
  std::vector<size_t> gradient_offset_;              // there, per parameter (bytes)
  at::Tensor separate_sums_;  // float64, when they cannot ride in a bucket
  Communicator::Pending separate_sums_pending_;
  // The accumulators must stay alive for their hooks to stay attached.
  std::vector<std::shared_ptr<torch::autograd::Node>> accumulators_;
  std::vector<uintptr_t> hook_keys_;
  std::mutex mutex_;
  bool armed_ = false;
  double share_ = 1;
  int64_t next_bucket_ = 0;  // the next bucket to start
};

}  // namespace framework

#endif  // FRAMEWORK_DISTRIBUTED_GRADIENT_AVERAGER_H_
