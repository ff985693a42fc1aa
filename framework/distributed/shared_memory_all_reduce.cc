#include "framework/distributed/shared_memory_all_reduce.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <new>
#include <random>
#include <thread>
#include <vector>

#include <ATen/ops/add.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/from_blob.h>
#include <torch/csrc/distributed/c10d/Store.hpp>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/types/span.h"
#include "glog/logging.h"

namespace framework {
namespace {

constexpr size_t kPage = 4096;
// Waiting: spin this many times (a few microseconds: the other rank is
// usually a moment away), then yield the core until kYieldFor has passed,
// then sleep in short naps, checking whether the others are still alive.
constexpr int kSpins = 2000;
constexpr auto kYieldFor = std::chrono::milliseconds(50);
constexpr auto kNap = std::chrono::microseconds(200);

// The phases of AllReduceSum's and Broadcast's rounds, and the ranges handed
// over to StartSumInSlots (over the run).
enum Counter { kArrived = 0, kReduced = 1, kReleased = 2, kHandedOver = 3, kCounters = 4 };

// One per rank, on its own cache line: written by that rank only.
struct alignas(64) RankState {
  std::atomic<uint64_t> counters[kCounters];  // per Counter: the last round, or ranges handed over
  std::atomic<uint32_t> gone;                 // the rank left (its destructor ran)
  std::atomic<int32_t> pid;
  std::atomic<uint64_t> pid_namespace;  // inode of /proc/self/ns/pid: whether pid is ours to check
  std::atomic<double> weight;  // for the sums in slots: this group's, set before handing over
};

// Written by every rank: how many units of the ranges handed over have been
// summed, over the run.
struct alignas(64) UnitCounters {
  std::atomic<uint64_t> summed;
};
// After the slots, a flag per unit of a group of sums in slots: a rank takes
// the unit by writing the group's number into it. Enough for a group of
// ranges that together fill a slot, up to kMostRangesAGroup of them (each
// adds at most one unit); a group of more is finished in several.
constexpr size_t kMostRangesAGroup = 4096;
size_t ClaimFlags(size_t slot_bytes) {
  return slot_bytes / SharedMemoryAllReduce::kClaimBytes + kMostRangesAGroup;
}

struct alignas(64) Header {
  uint64_t token;  // rank 0's random number: the segment is the one it made
  uint64_t world_size;
  uint64_t slot_bytes;
};

size_t RoundUp(size_t bytes, size_t to) { return (bytes + to - 1) / to * to; }
size_t SlotsOffset(int64_t world_size) {
  return RoundUp(sizeof(Header) + sizeof(RankState) * static_cast<size_t>(world_size) +
                     sizeof(UnitCounters),
                 kPage);
}
size_t SegmentBytes(int64_t world_size, size_t slot_bytes) {
  return SlotsOffset(world_size) + static_cast<size_t>(world_size) * slot_bytes +
         ClaimFlags(slot_bytes) * sizeof(std::atomic<uint64_t>);
}
RankState* States(void* mapping) {
  return reinterpret_cast<RankState*>(static_cast<std::byte*>(mapping) + sizeof(Header));
}
UnitCounters* Units(void* mapping, int64_t world_size) {
  return reinterpret_cast<UnitCounters*>(static_cast<std::byte*>(mapping) + sizeof(Header) +
                                         sizeof(RankState) * static_cast<size_t>(world_size));
}
std::atomic<uint64_t>* Claims(void* mapping, int64_t world_size, size_t slot_bytes) {
  return reinterpret_cast<std::atomic<uint64_t>*>(static_cast<std::byte*>(mapping) +
                                                  SlotsOffset(world_size) +
                                                  static_cast<size_t>(world_size) * slot_bytes);
}

// Calls take(unit) for the `units` units from `first` in the order rank
// `rank` takes them: its own 1/world_size part from the front, then the
// other ranks' parts, each from the back. While every rank sums, each sums
// its own part, the same memory step after step; a rank that has the time
// takes from the end of another's part, away from where its owner works.
template <typename Take>
void InTakingOrder(uint64_t first, uint64_t units, int64_t rank, int64_t world_size,
                   const Take& take) {
  auto part = [&](int64_t k) { return first + units * static_cast<uint64_t>(k) / world_size; };
  for (uint64_t unit = part(rank); unit < part(rank + 1); ++unit) take(unit);
  for (int64_t step = 1; step < world_size; ++step) {
    const int64_t other = (rank + step) % world_size;
    for (uint64_t unit = part(other + 1); unit > part(other); --unit) take(unit - 1);
  }
}

uint64_t PidNamespace() {
  struct stat info = {};
  return stat("/proc/self/ns/pid", &info) == 0 ? static_cast<uint64_t>(info.st_ino) : 0;
}

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

std::string ErrnoText(int error) { return std::strerror(error); }

constexpr int64_t kChunk = 2048;  // values SumInRankOrder sums at a time

// sums[i] = value(i) for the first term, sums[i] + value(i) for the others,
// over `kLength` values, or `n` where kLength is 0. GCC vectorizes at -O2
// only loops whose length it knows (whole chunks); the last chunk of a
// range, shorter, goes through the loop of any length.
template <int64_t kLength, typename T, typename Value>
void AddTermLoop(T* sums, int64_t n, bool first, const Value& value) {
  const int64_t length = kLength > 0 ? kLength : n;
  if (first) {
    for (int64_t i = 0; i < length; ++i) sums[i] = value(i);
  } else {
    for (int64_t i = 0; i < length; ++i) sums[i] = sums[i] + value(i);
  }
}

template <typename T, typename Value>
void AddTerm(T* sums, int64_t n, bool first, const Value& value) {
  if (n == kChunk) {
    AddTermLoop<kChunk>(sums, n, first, value);
  } else {
    AddTermLoop<0>(sums, n, first, value);
  }
}

// Sums the ranks' terms in rank order, each rank's values (times its weight,
// rounded to T, as `mul` gives: a float weight for float values) from its
// block, and writes the sums to every block. The blocks are worked through
// in chunks summed on the stack, so that the writes may go to the very
// blocks that were read. Built with -ffp-contract=off (BUILD): a fused
// multiply-add would round once where `mul` then `add` round twice.
template <typename T>
void SumInRankOrder(absl::Span<std::byte* const> blocks, absl::Span<const double> weights,
                    bool weighted, int64_t count) {
  T sums[kChunk];
  const int64_t world_size = static_cast<int64_t>(blocks.size());
  for (int64_t at = 0; at < count; at += kChunk) {
    const int64_t n = std::min(kChunk, count - at);
    for (int64_t k = 0; k < world_size; ++k) {
      const T* values = reinterpret_cast<const T*>(blocks[k]) + at;
      const T weight = static_cast<T>(weights[k]);
      if (!weighted) {
        AddTerm(sums, n, k == 0, [values](int64_t i) { return values[i]; });
      } else if (weights[k] == 0) {
        // `mul` by 0 would give -0 or NaN for some values; a rank without
        // samples gives zeros.
        AddTerm(sums, n, k == 0, [](int64_t) { return T(0); });
      } else {
        AddTerm(sums, n, k == 0, [values, weight](int64_t i) { return weight * values[i]; });
      }
    }
    for (std::byte* block : blocks) {
      std::memcpy(reinterpret_cast<T*>(block) + at, sums, static_cast<size_t>(n) * sizeof(T));
    }
  }
}

// Rank 0: makes and sizes the segment. Returns the mapping, or why not.
absl::StatusOr<void*> CreateSegment(const std::string& name, size_t bytes, uint64_t token,
                                    int64_t world_size, size_t slot_bytes) {
  const int fd = shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
  if (fd < 0) return absl::UnavailableError(absl::StrCat("shm_open: ", ErrnoText(errno)));
  std::string problem;
  if (ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
    problem = absl::StrCat("ftruncate: ", ErrnoText(errno));
  } else if (int error = posix_fallocate(fd, 0, static_cast<off_t>(bytes)); error != 0) {
    // Without the pages reserved now, a full /dev/shm (64 MiB in a default
    // Docker container) would kill the run with SIGBUS mid-step.
    problem = absl::StrCat("reserving ", bytes >> 20, " MiB in /dev/shm: ", ErrnoText(error));
  }
  void* mapping = MAP_FAILED;
  if (problem.empty()) {
    mapping = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (mapping == MAP_FAILED) problem = absl::StrCat("mmap: ", ErrnoText(errno));
  }
  close(fd);
  if (!problem.empty()) {
    shm_unlink(name.c_str());
    return absl::UnavailableError(problem);
  }
  auto* header = new (mapping) Header;
  header->token = token;
  header->world_size = static_cast<uint64_t>(world_size);
  header->slot_bytes = slot_bytes;
  RankState* states = States(mapping);
  for (int64_t k = 0; k < world_size; ++k) new (&states[k]) RankState{};
  new (Units(mapping, world_size)) UnitCounters{};
  std::atomic<uint64_t>* claims = Claims(mapping, world_size, slot_bytes);
  for (size_t u = 0; u < ClaimFlags(slot_bytes); ++u) new (&claims[u]) std::atomic<uint64_t>(0);
  return mapping;
}

// The other ranks: maps the segment rank 0 made, if this rank can see it.
absl::StatusOr<void*> OpenSegment(const std::string& name, size_t bytes, uint64_t token,
                                  int64_t world_size, size_t slot_bytes) {
  const int fd = shm_open(name.c_str(), O_RDWR, 0);
  if (fd < 0) {
    return absl::UnavailableError(absl::StrCat(
        "shm_open(", name, "): ", ErrnoText(errno), " (rank 0 is on another machine, or in "
        "another IPC namespace)"));
  }
  struct stat info = {};
  void* mapping = MAP_FAILED;
  std::string problem;
  if (fstat(fd, &info) != 0 || static_cast<size_t>(info.st_size) != bytes) {
    problem = absl::StrCat(name, " is not the size expected");
  } else {
    mapping = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (mapping == MAP_FAILED) problem = absl::StrCat("mmap: ", ErrnoText(errno));
  }
  close(fd);
  if (!problem.empty()) return absl::UnavailableError(problem);
  const auto* header = static_cast<const Header*>(mapping);
  if (header->token != token || header->world_size != static_cast<uint64_t>(world_size) ||
      header->slot_bytes != slot_bytes) {
    munmap(mapping, bytes);
    return absl::UnavailableError(absl::StrCat(name, " is not rank 0's segment"));
  }
  return mapping;
}

std::string StoreText(c10d::Store& store, const std::string& key) {
  const std::vector<uint8_t> bytes = store.get(key);
  return std::string(bytes.begin(), bytes.end());
}

void StoreSet(c10d::Store& store, const std::string& key, const std::string& value) {
  store.set(key, std::vector<uint8_t>(value.begin(), value.end()));
}

}  // namespace

SharedMemoryAllReduce::SharedMemoryAllReduce(int64_t rank, int64_t world_size, void* mapping,
                                             size_t mapping_bytes,
                                             std::chrono::milliseconds timeout)
    : rank_(rank),
      world_size_(world_size),
      mapping_(mapping),
      mapping_bytes_(mapping_bytes),
      timeout_(timeout) {}

SharedMemoryAllReduce::~SharedMemoryAllReduce() {
  States(mapping_)[rank_].gone.store(1, std::memory_order_release);
  munmap(mapping_, mapping_bytes_);
}

absl::StatusOr<std::unique_ptr<SharedMemoryAllReduce>> SharedMemoryAllReduce::Join(
    c10d::Store& store, int64_t rank, int64_t world_size, size_t slot_bytes,
    std::chrono::milliseconds timeout, const std::string& key) {
  CHECK(world_size >= 1 && rank >= 0 && rank < world_size) << rank << " of " << world_size;
  slot_bytes = RoundUp(std::max<size_t>(slot_bytes, kPage), kPage);
  const size_t bytes = SegmentBytes(world_size, slot_bytes);
  std::string name;
  uint64_t token = 0;
  absl::StatusOr<void*> mapping;
  try {
    if (rank == 0) {
      std::random_device entropy;
      token = (uint64_t{entropy()} << 32) | entropy();
      name = absl::StrFormat("/torchtrain-allreduce-%d-%016x", getpid(), token);
      mapping = CreateSegment(name, bytes, token, world_size, slot_bytes);
      StoreSet(store, absl::StrCat(key, "/segment"),
               mapping.ok() ? absl::StrFormat("%s %016x", name, token) : std::string());
      if (!mapping.ok()) {
        mapping = absl::UnavailableError(
            absl::StrCat("rank 0 could not make the segment: ", mapping.status().message()));
      }
    } else {
      const std::string segment = StoreText(store, absl::StrCat(key, "/segment"));
      const std::vector<std::string> parts = absl::StrSplit(segment, ' ');
      if (parts.size() != 2) {
        mapping = absl::UnavailableError("rank 0 made no segment");
      } else {
        name = parts[0];
        token = std::stoull(parts[1], nullptr, 16);
        mapping = OpenSegment(name, bytes, token, world_size, slot_bytes);
      }
    }
    if (mapping.ok()) {
      RankState& mine = States(*mapping)[rank];
      mine.pid.store(static_cast<int32_t>(getpid()));
      mine.pid_namespace.store(PidNamespace());
    }
    StoreSet(store, absl::StrCat(key, "/joined/", rank),
             mapping.ok() ? "ok" : std::string(mapping.status().message()));
    std::vector<std::string> problems;
    for (int64_t k = 0; k < world_size; ++k) {
      const std::string joined = StoreText(store, absl::StrCat(key, "/joined/", k));
      if (joined != "ok") problems.push_back(absl::StrCat("rank ", k, ": ", joined));
    }
    // Every rank has mapped it or given up: the name is no longer needed.
    if (rank == 0 && mapping.ok()) shm_unlink(name.c_str());
    if (!problems.empty()) {
      if (mapping.ok()) munmap(*mapping, bytes);
      return absl::UnavailableError(absl::StrJoin(problems, "; "));
    }
  } catch (const std::exception& e) {
    if (mapping.ok()) munmap(*mapping, bytes);
    if (rank == 0 && !name.empty()) shm_unlink(name.c_str());
    return absl::UnavailableError(absl::StrCat("the ranks could not meet: ", e.what()));
  }
  return std::unique_ptr<SharedMemoryAllReduce>(
      new SharedMemoryAllReduce(rank, world_size, *mapping, bytes, timeout));
}

bool SharedMemoryAllReduce::Accepts(const at::Tensor& tensor) {
  return tensor.defined() && tensor.device().is_cpu() && tensor.layout() == at::kStrided &&
         tensor.is_contiguous() && !tensor.is_complex();
}

size_t SharedMemoryAllReduce::slot_bytes() const {
  return static_cast<const Header*>(mapping_)->slot_bytes;
}

std::byte* SharedMemoryAllReduce::Slot(int64_t rank) const {
  const auto* header = static_cast<const Header*>(mapping_);
  return static_cast<std::byte*>(mapping_) + SlotsOffset(world_size_) +
         static_cast<size_t>(rank) * header->slot_bytes;
}

absl::Status SharedMemoryAllReduce::CheckAlive(int64_t k, bool check_process) const {
  RankState* states = States(mapping_);
  const RankState& other = states[k];
  if (other.gone.load(std::memory_order_acquire) != 0) {
    return absl::UnavailableError(absl::StrCat("rank ", k, " left the run"));
  }
  if (!check_process) return absl::OkStatus();
  // A pid means something only in the namespace it came from.
  const pid_t pid = other.pid.load(std::memory_order_relaxed);
  if (other.pid_namespace.load(std::memory_order_relaxed) ==
          states[rank_].pid_namespace.load(std::memory_order_relaxed) &&
      pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH) {
    return absl::UnavailableError(
        absl::StrCat("rank ", k, " is gone (its process ", pid, " exited)"));
  }
  return absl::OkStatus();
}

absl::Status SharedMemoryAllReduce::CheckOthersAlive() const {
  for (int64_t k = 0; k < world_size_; ++k) {
    if (k == rank_) continue;
    if (absl::Status status = CheckAlive(k, /*check_process=*/true); !status.ok()) return status;
  }
  return absl::OkStatus();
}

template <typename Reached>
absl::Status SharedMemoryAllReduce::WaitUntil(int64_t k, const char* what,
                                              const Reached& reached) {
  std::chrono::steady_clock::time_point start;
  for (int64_t tries = 0; !reached(); ++tries) {
    if (tries < kSpins) {
      CpuRelax();
      continue;
    }
    if (tries == kSpins) start = std::chrono::steady_clock::now();
    const auto waited = std::chrono::steady_clock::now() - start;
    const bool yielding = waited < kYieldFor;
    for (int64_t other = 0; other < world_size_; ++other) {
      if (other == rank_ || (k >= 0 && other != k)) continue;
      if (absl::Status alive = CheckAlive(other, /*check_process=*/!yielding); !alive.ok()) {
        // It may have left right after getting there (its last collective
        // done, its object destroyed) while this rank was off the core.
        if (reached()) return absl::OkStatus();
        return alive;
      }
    }
    if (yielding) {
      sched_yield();
      continue;
    }
    if (waited > timeout_) {
      return absl::DeadlineExceededError(
          absl::StrCat(k >= 0 ? absl::StrCat("rank ", k) : std::string("the ranks"),
                       " did not reach ", what, " within ", timeout_.count() / 1000, " s"));
    }
    std::this_thread::sleep_for(kNap);
  }
  return absl::OkStatus();
}

absl::Status SharedMemoryAllReduce::WaitForOthers(int which, uint64_t round) {
  RankState* states = States(mapping_);
  for (int64_t k = 0; k < world_size_; ++k) {
    if (k == rank_) continue;
    const std::atomic<uint64_t>& counter = states[k].counters[which];
    absl::Status status = WaitUntil(k, "it", [&counter, round] {
      return counter.load(std::memory_order_acquire) >= round;
    });
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::Status SharedMemoryAllReduce::AllReduceSum(at::Tensor& tensor) {
  CHECK(Accepts(tensor)) << "not a dense contiguous CPU tensor";
  auto* data = static_cast<std::byte*>(tensor.data_ptr());
  const size_t element = tensor.element_size();
  return AllReduceSum(
      tensor.numel(), tensor.scalar_type(),
      [&](int64_t begin, int64_t count, void* destination) {
        std::memcpy(destination, data + begin * element, count * element);
      },
      [&](int64_t begin, int64_t count, const void* sums) {
        std::memcpy(data + begin * element, sums, count * element);
      });
}

absl::Status SharedMemoryAllReduce::AllReduceSum(int64_t elements, at::ScalarType type,
                                                 const Fill& fill, const Drain& drain) {
  CHECK(ranges_.empty()) << "an all-reduce before FinishSumsInSlots()";
  if (world_size_ == 1) {
    // Nothing to add: the values are their own sums.
    const size_t element = c10::elementSize(type);
    std::vector<std::byte> values(static_cast<size_t>(elements) * element);
    if (elements > 0) {
      fill(0, elements, values.data());
      drain(0, elements, values.data());
    }
    return absl::OkStatus();
  }
  RankState& mine = States(mapping_)[rank_];
  const size_t element = c10::elementSize(type);
  const auto* header = static_cast<const Header*>(mapping_);
  const int64_t per_round = static_cast<int64_t>(header->slot_bytes / element);
  const at::TensorOptions options = at::TensorOptions().dtype(type);
  for (int64_t offset = 0; offset < elements; offset += per_round) {
    const int64_t count = std::min(per_round, elements - offset);
    const uint64_t round = ++round_;
    // Rank r sums values [part(r), part(r + 1)) of this round's.
    auto part = [&](int64_t r) { return count * r / world_size_; };
    // The others have read this rank's slot for the last round.
    if (absl::Status status = WaitForOthers(kReleased, round - 1); !status.ok()) return status;
    fill(offset, count, Slot(rank_));
    mine.counters[kArrived].store(round, std::memory_order_release);
    if (absl::Status status = WaitForOthers(kArrived, round); !status.ok()) return status;
    const int64_t begin = part(rank_);
    const int64_t size = part(rank_ + 1) - begin;
    if (size > 0) {
      auto term = [&](int64_t k) {
        return at::from_blob(Slot(k) + begin * element, {size}, options);
      };
      // Into this rank's own slot, which the others read this part from.
      // Ranks 0 and 1 can sum there directly (their slot is one of the
      // first two terms); the others sum aside first, so as not to
      // overwrite their own term before it is added.
      at::Tensor own = term(rank_);
      at::Tensor sum = own;
      if (rank_ >= 2) {
        if (!scratch_.defined() || scratch_.scalar_type() != type || scratch_.numel() < size) {
          scratch_ = at::empty({size}, options);
        }
        sum = scratch_.narrow(0, 0, size);
      }
      at::add_out(sum, term(0), term(1));
      for (int64_t k = 2; k < world_size_; ++k) at::add_out(sum, sum, term(k));
      if (rank_ >= 2) std::memcpy(own.data_ptr(), sum.data_ptr(), size * element);
    }
    mine.counters[kReduced].store(round, std::memory_order_release);
    if (absl::Status status = WaitForOthers(kReduced, round); !status.ok()) return status;
    for (int64_t k = 0; k < world_size_; ++k) {
      if (part(k + 1) > part(k)) {
        drain(offset + part(k), part(k + 1) - part(k), Slot(k) + part(k) * element);
      }
    }
    mine.counters[kReleased].store(round, std::memory_order_release);
  }
  return absl::OkStatus();
}


absl::Status SharedMemoryAllReduce::Broadcast(int64_t elements, at::ScalarType type,
                                              int64_t root, const Fill& fill,
                                              const Drain& drain) {
  CHECK(root >= 0 && root < world_size_) << "root " << root << " of " << world_size_;
  CHECK(ranges_.empty()) << "a broadcast before FinishSumsInSlots()";
  if (world_size_ == 1) return absl::OkStatus();
  RankState& mine = States(mapping_)[rank_];
  const size_t element = c10::elementSize(type);
  const int64_t per_round = static_cast<int64_t>(slot_bytes() / element);
  for (int64_t offset = 0; offset < elements; offset += per_round) {
    const int64_t count = std::min(per_round, elements - offset);
    const uint64_t round = ++round_;
    // The phases of AllReduceSum's rounds, so that the two may follow each
    // other: the root's slot is free once every rank released the last round.
    if (absl::Status status = WaitForOthers(kReleased, round - 1); !status.ok()) return status;
    if (rank_ == root) fill(offset, count, Slot(root));
    mine.counters[kArrived].store(round, std::memory_order_release);
    if (absl::Status status = WaitForOthers(kArrived, round); !status.ok()) return status;
    if (rank_ != root) drain(offset, count, Slot(root));
    mine.counters[kReduced].store(round, std::memory_order_release);
    mine.counters[kReleased].store(round, std::memory_order_release);
  }
  return absl::OkStatus();
}

bool SharedMemoryAllReduce::AllHandedOver(size_t r) const {
  const RankState* states = States(mapping_);
  for (int64_t k = 0; k < world_size_; ++k) {
    if (states[k].counters[kHandedOver].load(std::memory_order_acquire) <= ranges_before_ + r) {
      return false;
    }
  }
  return true;
}

bool SharedMemoryAllReduce::TakeAndSum(size_t r, uint64_t unit) {
  // Group numbers grow from 1 (the flags start at 0): a flag below this
  // group's number is untaken. (One above it, a later group's, cannot be
  // seen here: no rank takes a unit of a range before every rank handed it
  // over, which each does only once it finished this group.)
  const uint64_t group = ranges_before_ + 1;
  std::atomic<uint64_t>& claim =
      Claims(mapping_, world_size_, slot_bytes())[unit - ranges_.front().first_unit];
  uint64_t seen = claim.load(std::memory_order_relaxed);
  do {
    if (seen >= group) return false;
  } while (!claim.compare_exchange_weak(seen, group, std::memory_order_acq_rel));
  const SlotRange& range = ranges_[r];
  const size_t element = c10::elementSize(range.type);
  const int64_t per_unit = static_cast<int64_t>(kClaimBytes / element);
  const int64_t begin = static_cast<int64_t>(unit - range.first_unit) * per_unit;
  const int64_t end = std::min(range.elements, begin + per_unit);
  // Every rank's weight for this group was set before it handed the range
  // over, and stays until the group is summed. (Weights and blocks on the
  // stack: a step takes a hundred units or more.)
  const RankState* states = States(mapping_);
  absl::InlinedVector<double, 8> weights(static_cast<size_t>(world_size_));
  for (int64_t k = 0; k < world_size_; ++k) {
    weights[k] = states[k].weight.load(std::memory_order_relaxed);
  }
  auto sum = [&](int64_t from, int64_t to, bool with_weights) {
    if (from >= to) return;
    absl::InlinedVector<std::byte*, 8> blocks;
    for (int64_t k = 0; k < world_size_; ++k) {
      blocks.push_back(Slot(k) + range.byte_offset + static_cast<size_t>(from) * element);
    }
    if (range.type == at::kFloat) {
      SumInRankOrder<float>(blocks, weights, with_weights, to - from);
    } else {
      SumInRankOrder<double>(blocks, weights, with_weights, to - from);
    }
  };
  sum(begin, std::min(end, range.weighted), /*with_weights=*/true);
  sum(std::max(begin, range.weighted), end, /*with_weights=*/false);
  Units(mapping_, world_size_)->summed.fetch_add(1, std::memory_order_acq_rel);
  units_summed_here_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

absl::Status SharedMemoryAllReduce::StartSumInSlots(size_t byte_offset, int64_t elements,
                                                    at::ScalarType type, double weight,
                                                    int64_t weighted) {
  CHECK(type == at::kFloat || type == at::kDouble) << at::toString(type);
  const size_t element = c10::elementSize(type);
  CHECK_LE(byte_offset + static_cast<size_t>(elements) * element, slot_bytes());
  CHECK(weighted >= 0 && weighted <= elements) << weighted << " of " << elements;
  CHECK(ranges_.empty() || weight == weight_)
      << "one weight per group of sums in slots: " << weight << " after " << weight_;
  const uint64_t units =
      (static_cast<uint64_t>(elements) * element + kClaimBytes - 1) / kClaimBytes;
  if (!ranges_.empty() &&
      units_end_ + units - ranges_.front().first_unit > ClaimFlags(slot_bytes())) {
    // No flags left for this range's units (every rank finds that at the
    // same range): the group so far is summed first.
    if (absl::Status status = FinishSumsInSlots(); !status.ok()) return status;
  }
  RankState& mine = States(mapping_)[rank_];
  if (ranges_.empty()) {
    weight_ = weight;
    mine.weight.store(weight, std::memory_order_relaxed);
  }
  ranges_.push_back({byte_offset, elements, type, weighted, units_end_, units});
  units_end_ += units;
  mine.counters[kHandedOver].store(ranges_before_ + ranges_.size(), std::memory_order_release);
  // Sums what is left of the ranges before this one that every rank handed
  // over. The rank that hands a range over last goes back to its own work:
  // the others, which handed it over earlier, are ahead and sum it.
  while (ranges_taken_ + 1 < ranges_.size() && AllHandedOver(ranges_taken_)) {
    const SlotRange& range = ranges_[ranges_taken_];
    InTakingOrder(range.first_unit, range.units, rank_, world_size_,
                  [&](uint64_t unit) { TakeAndSum(ranges_taken_, unit); });
    ++ranges_taken_;
  }
  return absl::OkStatus();
}

absl::Status SharedMemoryAllReduce::FinishSumsInSlots() {
  for (; ranges_taken_ < ranges_.size(); ++ranges_taken_) {
    if (absl::Status status = WaitForOthers(kHandedOver, ranges_before_ + ranges_taken_ + 1);
        !status.ok()) {
      return status;
    }
    const SlotRange& range = ranges_[ranges_taken_];
    InTakingOrder(range.first_unit, range.units, rank_, world_size_,
                  [&](uint64_t unit) { TakeAndSum(ranges_taken_, unit); });
  }
  const UnitCounters& counters = *Units(mapping_, world_size_);
  // Every unit is taken; wait for the ranks summing the last ones.
  const std::atomic<uint64_t>& summed = counters.summed;
  const uint64_t end = units_end_;
  absl::Status status = WaitUntil(-1, "the end of the sums", [&summed, end] {
    return summed.load(std::memory_order_acquire) >= end;
  });
  if (!status.ok()) return status;
  ranges_before_ += ranges_.size();
  ranges_.clear();
  ranges_taken_ = 0;
  return absl::OkStatus();
}

absl::Status SharedMemoryAllReduce::SumSlotsInPlace(size_t byte_offset, int64_t elements,
                                                    at::ScalarType type, double weight,
                                                    int64_t weighted) {
  if (absl::Status status = StartSumInSlots(byte_offset, elements, type, weight, weighted);
      !status.ok()) {
    return status;
  }
  return FinishSumsInSlots();
}

}  // namespace framework
