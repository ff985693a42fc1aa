#include "framework/core/overlapped_file_writer.h"

#include <limits.h>
#include <sys/uio.h>

#include <algorithm>
#include <vector>

namespace framework {

absl::StatusOr<std::unique_ptr<OverlappedFileWriter>> OverlappedFileWriter::Create(
    const std::string& path, const Options& options) {
  absl::StatusOr<std::unique_ptr<WritableFile>> file = Env::Default()->NewWritableFile(path);
  if (!file.ok()) return file.status();
  return std::unique_ptr<OverlappedFileWriter>(
      new OverlappedFileWriter(*std::move(file), options));
}

OverlappedFileWriter::OverlappedFileWriter(std::unique_ptr<WritableFile> file, const Options& options)
    : file_(std::move(file)), options_(options) {
  writer_ = std::thread([this] { WriteQueued(); });
}

OverlappedFileWriter::~OverlappedFileWriter() {
  if (!writer_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    closing_ = true;
    if (status_.ok()) status_ = absl::CancelledError("writer destroyed before Finish()");
  }
  changed_.notify_all();
  writer_.join();
}

void OverlappedFileWriter::Append(const void* data, size_t size,
                                  std::shared_ptr<const void> owner) {
  if (size == 0) return;
  std::unique_lock<std::mutex> lock(mutex_);
  if (owner != nullptr) {
    auto room = [&] {
      return owned_bytes_ == 0 || owned_bytes_ + size <= options_.max_owned_bytes ||
             !status_.ok();
    };
    if (!room()) {
      appender_waiting_ = true;
      changed_.notify_all();
      changed_.wait(lock, room);
      appender_waiting_ = false;
    }
    owned_bytes_ += size;
  }
  queue_.push_back({static_cast<const char*>(data), size, std::move(owner)});
  queued_bytes_ += size;
  // The writer is woken for a full call's worth (or by Finish), not for each
  // of 10,000 small regions.
  const bool wake = queued_bytes_ >= options_.call_bytes;
  lock.unlock();
  if (wake) changed_.notify_all();
}

uint64_t OverlappedFileWriter::bytes_written() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return written_;
}

void OverlappedFileWriter::WriteQueued() {
  uint64_t written = 0;
  uint64_t writeback_from = 0;
  std::vector<struct iovec> call;
  std::vector<std::shared_ptr<const void>> done_owners;
  size_t done_owned = 0;
  while (true) {
    call.clear();
    size_t call_size = 0;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      owned_bytes_ -= done_owned;
      done_owned = 0;
      changed_.notify_all();
      changed_.wait(lock, [&] {
        return queued_bytes_ >= options_.call_bytes || closing_ ||
               (appender_waiting_ && !queue_.empty());
      });
      if (!status_.ok()) {
        // After an error nothing more is written; owners are let go.
        for (const Region& region : queue_) {
          if (region.owner != nullptr) owned_bytes_ -= region.size;
        }
        queue_.clear();
        queued_bytes_ = 0;
        changed_.notify_all();
        if (closing_) return;
        continue;
      }
      if (queue_.empty()) return;  // closing, all written
      // Gathers regions from the front, up to call_bytes, splitting a
      // region that does not fit.
      while (!queue_.empty() && call.size() < IOV_MAX && call_size < options_.call_bytes) {
        Region& region = queue_.front();
        const size_t take = std::min(region.size, options_.call_bytes - call_size);
        call.push_back({const_cast<char*>(region.data), take});
        call_size += take;
        queued_bytes_ -= take;
        if (take == region.size) {
          if (region.owner != nullptr) {
            done_owned += region.size;
            done_owners.push_back(std::move(region.owner));
          }
          queue_.pop_front();
        } else {
          // The rest stays queued, and counts as owned until written.
          region.data += take;
          region.size -= take;
          if (region.owner != nullptr) {
            owned_bytes_ -= take;
          }
        }
      }
    }
    absl::Status status = file_->AppendGathered(call.data(), static_cast<int>(call.size()));
    done_owners.clear();
    if (!status.ok()) {
      std::lock_guard<std::mutex> lock(mutex_);
      status_ = status;
      continue;
    }
    written += call_size;
    if (options_.sync && written - writeback_from >= options_.writeback_bytes) {
      file_->StartWriteback(writeback_from, written - writeback_from);
      writeback_from = written;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    written_ = written;
  }
}

absl::Status OverlappedFileWriter::Finish() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    closing_ = true;
  }
  changed_.notify_all();
  writer_.join();
  absl::Status status;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    status = status_;
  }
  if (!status.ok()) return status;
  if (options_.sync) {
    if (absl::Status s = file_->Sync(); !s.ok()) return s;
  }
  return file_->Close();
}

}  // namespace framework
