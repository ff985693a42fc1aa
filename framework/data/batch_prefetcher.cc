#include "framework/data/batch_prefetcher.h"

#include <algorithm>
#include <exception>
#include <thread>

#include <c10/util/Exception.h>

#include "absl/status/status.h"
#include "glog/logging.h"

namespace framework {

int WorkersFor(const Dataset& data, int requested) {
  if (requested >= 0) return requested;
  const bool decodes = data.source != nullptr || (data.transforms != nullptr && !data.transforms->empty());
  if (!decodes) return 0;
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return std::max(1, cores / 4);
}

BatchPrefetcher::BatchPrefetcher(const Dataset& data, int64_t epoch,
                                 std::vector<torch::Tensor> batches, PrefetchOptions options)
    : data_(data), epoch_(epoch), batches_(std::move(batches)), options_(options) {
  CHECK_GE(options_.workers, 0);
  CHECK_GE(options_.batches_per_worker, 1);
  const int workers = std::min<int64_t>(options_.workers, static_cast<int64_t>(batches_.size()));
  for (int w = 0; w < workers; ++w) workers_.emplace_back([this] { Work(); });
}

BatchPrefetcher::~BatchPrefetcher() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  for (std::thread& worker : workers_) worker.join();
}

BatchPrefetcher::Gathered BatchPrefetcher::GatherOne(size_t index) const {
  Gathered gathered;
  try {
    gathered.batch = data_.GatherSkipping(batches_[index], epoch_);
    gathered.bytes = static_cast<int64_t>(gathered.batch.inputs.nbytes() +
                                          gathered.batch.targets.nbytes());
  } catch (const c10::Error& e) {
    gathered.error = e.what_without_backtrace();
  } catch (const std::exception& e) {
    gathered.error = e.what();
  }
  return gathered;
}

void BatchPrefetcher::Work() {
  const size_t depth =
      static_cast<size_t>(options_.workers) * static_cast<size_t>(options_.batches_per_worker);
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    changed_.wait(lock, [&] {
      return stopping_ || claimed_ >= batches_.size() ||
             (claimed_ < consumed_ + depth &&
              (bytes_waiting_ < options_.max_bytes || ready_.empty()));
    });
    if (stopping_ || claimed_ >= batches_.size()) return;
    const size_t index = claimed_++;
    lock.unlock();
    Gathered gathered = GatherOne(index);
    lock.lock();
    bytes_waiting_ += gathered.bytes;
    peak_bytes_waiting_ = std::max(peak_bytes_waiting_, bytes_waiting_);
    ready_.emplace(index, std::move(gathered));
    changed_.notify_all();
  }
}

absl::StatusOr<GatheredBatch> BatchPrefetcher::Next() {
  CHECK_LT(consumed_, batches_.size()) << "no batch left";
  Gathered gathered;
  if (workers_.empty()) {
    gathered = GatherOne(consumed_++);
  } else {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return ready_.count(consumed_) > 0; });
    auto it = ready_.find(consumed_);
    gathered = std::move(it->second);
    ready_.erase(it);
    bytes_waiting_ -= gathered.bytes;
    ++consumed_;
    lock.unlock();
    changed_.notify_all();
  }
  if (!gathered.error.empty()) return absl::DataLossError(gathered.error);
  return std::move(gathered.batch);
}

int64_t BatchPrefetcher::peak_bytes_waiting() {
  std::lock_guard<std::mutex> lock(mutex_);
  return peak_bytes_waiting_;
}

}  // namespace framework
