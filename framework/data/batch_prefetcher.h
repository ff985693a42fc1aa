// Batches gathered ahead of the code that consumes them, by worker threads
// (--data_workers), handed out in the order they were asked for.
//
// Every batch is Dataset::GatherSkipping(indices, epoch), a pure function of its
// indices and the epoch (decoding, transforms seeded per sample), so which
// worker made a batch, when, and how many workers there are never changes
// its values: 0, 1 or 8 workers give the same bytes. Workers only decode
// ahead: at most `workers x batches_per_worker` batches, and no new one once
// `max_bytes` are waiting, so memory is bounded by the prefetch depth and
// never by the data set's size. With 0 workers Next() gathers on the
// calling thread.
//
//   BatchPrefetcher batches(train, epoch, {indices_of_batch_5, indices_of_batch_6, ...}, options);
//   absl::StatusOr<GatheredBatch> batch = batches.Next();
#ifndef FRAMEWORK_DATA_BATCH_PREFETCHER_H_
#define FRAMEWORK_DATA_BATCH_PREFETCHER_H_

#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <torch/types.h>

#include "absl/status/statusor.h"
#include "framework/data/dataset.h"

namespace framework {

struct PrefetchOptions {
  int workers = 0;             // 0: gather on the consumer's thread
  int batches_per_worker = 2;  // prefetch depth per worker (>= 1)
  int64_t max_bytes = int64_t{1} << 30;  // no new batch once this much waits
};

// Workers for `options` (which may be "auto", -1) with this data: none for
// data in memory without transforms (nothing to decode), otherwise a quarter
// of the machine's cores, at least one, so they and LibTorch's threads
// share it without oversubscribing (docs/data.md).
int WorkersFor(const Dataset& data, int requested);

class BatchPrefetcher {
 public:
  // `data` must outlive the prefetcher.
  BatchPrefetcher(const Dataset& data, int64_t epoch, std::vector<torch::Tensor> batches,
                  PrefetchOptions options);
  ~BatchPrefetcher();  // stops the workers (a batch being gathered is finished first)
  BatchPrefetcher(const BatchPrefetcher&) = delete;
  BatchPrefetcher& operator=(const BatchPrefetcher&) = delete;

  // The next batch's inputs and targets, in the order given; a sample that
  // cannot be read is an error naming its file. CHECK-fails past the end.
  absl::StatusOr<GatheredBatch> Next();

  // Batches given out so far.
  size_t consumed() const { return consumed_; }
  // The most bytes of gathered batches that waited at once (tests, logs).
  int64_t peak_bytes_waiting();

 private:
  struct Gathered {
    GatheredBatch batch;
    std::string error;  // non-empty when gathering threw
    int64_t bytes = 0;
  };
  Gathered GatherOne(size_t index) const;
  void Work();

  const Dataset& data_;
  const int64_t epoch_;
  const std::vector<torch::Tensor> batches_;
  const PrefetchOptions options_;

  std::mutex mutex_;
  std::condition_variable changed_;
  size_t claimed_ = 0;   // next batch a worker takes
  size_t consumed_ = 0;  // next batch Next() gives
  int64_t bytes_waiting_ = 0;
  int64_t peak_bytes_waiting_ = 0;
  bool stopping_ = false;
  std::map<size_t, Gathered> ready_;
  std::vector<std::thread> workers_;
};

}  // namespace framework

#endif  // FRAMEWORK_DATA_BATCH_PREFETCHER_H_
