// All-reduce (and broadcast) for ranks on one machine through a shared
// memory segment, run on the caller's thread.
//
// Gloo over loopback TCP passes every byte through the kernel twice and
// every message through two threads (the process group's worker and the
// transport's event loop): measured on 2 cores, LeNet's 0.2 MB of gradients
// took 0.22-0.46 ms a step that way, a quarter of a step's computing, and
// every hand-over between threads waits for a core the training threads are
// using. Here each rank copies its tensor into its slot of the segment, sums
// its 1/world_size part across every slot, and copies the other parts' sums
// from their owners (or the caller writes and reads the slots itself, see
// below); ranks wait for each other on counters in the segment
// (spinning briefly, then yielding the core, then sleeping), so a collective
// costs a few memory copies and no system call.
//
// Each part is summed in rank order (((slot 0 + slot 1) + slot 2) ...) by
// the rank that owns it, so every rank gets the same bits; with two ranks
// that is the same sum Gloo computes (a + b), so results do not change with
// the transport.
//
// Values can also live in the segment (StartSumInSlots): a rank keeps its
// gradients in its own slot for the whole run, backward accumulates into
// them there, and they are summed straight from every slot into every slot,
// so a step copies nothing in or out (the traffic that remained of the
// copies above: on 2 cores an MLP's 7.5 MB of gradients cost 1.4 ms a step
// to copy in and 0.5 ms to copy back, against 0.3 ms to sum). Those sums are
// not split among the ranks in fixed parts: a rank that has handed over a
// range goes on (with backward) without waiting for the others, and the
// range is summed, in units of kClaimBytes, by whichever rank has time, the
// one waiting for the others first. Ranks that meet every step go at the
// slower one's pace (on a shared machine one of two processes is often
// 10-30% slower than the other); this way the faster one does the summing
// while it would otherwise wait, and the slower one sums little. Each rank
// takes its own 1/world_size part of a range first, front to back, and
// another's from the back: taken from one counter in turn instead, units
// alternated between the ranks and 100 MB took 8-9 ms to sum instead of
// 5-6 (measured).
//
// The segment is named only until every rank has mapped it, then unlinked:
// nothing is left in /dev/shm when a rank dies. Ranks that cannot share it
// (other machines, other IPC namespaces, a /dev/shm too small) find out when
// they join and stay on Gloo.
#ifndef FRAMEWORK_DISTRIBUTED_SHARED_MEMORY_ALL_REDUCE_H_
#define FRAMEWORK_DISTRIBUTED_SHARED_MEMORY_ALL_REDUCE_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace c10d {
class Store;
}  // namespace c10d

namespace framework {

class SharedMemoryAllReduce {
 public:
  // Every rank calls this with the same `slot_bytes` (tensors larger than a
  // slot go in several rounds); they meet through `store`. Fails (on every
  // rank alike) when any rank cannot map the segment rank 0 made.
  // `key` tells the segments of one run apart in the store.
  static absl::StatusOr<std::unique_ptr<SharedMemoryAllReduce>> Join(
      c10d::Store& store, int64_t rank, int64_t world_size, size_t slot_bytes,
      std::chrono::milliseconds timeout, const std::string& key = "shared_memory");
  // Tells ranks still waiting for this one that it is gone.
  ~SharedMemoryAllReduce();
  SharedMemoryAllReduce(const SharedMemoryAllReduce&) = delete;
  SharedMemoryAllReduce& operator=(const SharedMemoryAllReduce&) = delete;

  // Whether AllReduceSum takes `tensor`: dense, contiguous, on the CPU.
  static bool Accepts(const at::Tensor& tensor);
  // Sums `tensor` element-wise over the ranks, in place. Every rank calls
  // it in the same order with tensors of the same size and type. Fails when
  // a rank does not arrive within the timeout or is gone; the segment is
  // then not to be used again.
  absl::Status AllReduceSum(at::Tensor& tensor);

  // The same for a vector of `elements` values of `type` that is nowhere in
  // one piece: the caller writes its values straight into the segment and
  // takes the sums straight from it, so that gradients need no bucket of
  // their own. `fill(begin, count, destination)` writes values
  // [begin, begin + count) into `destination`; `drain(begin, count,
  // sums)` takes their sums. Pieces come in order, at most a slot each.
  using Fill = std::function<void(int64_t begin, int64_t count, void* destination)>;
  using Drain = std::function<void(int64_t begin, int64_t count, const void* sums)>;
  absl::Status AllReduceSum(int64_t elements, at::ScalarType type, const Fill& fill,
                            const Drain& drain);
  // Rank `root`'s values to every rank, in pieces of at most a slot: the
  // root's `fill` writes them into its slot, the others' `drain` takes them
  // from there (the root's drain is not called). Every rank calls it in the
  // same order with the same `elements`, `type` and `root`.
  absl::Status Broadcast(int64_t elements, at::ScalarType type, int64_t root, const Fill& fill,
                         const Drain& drain);
  // This rank's slot (at least the `slot_bytes` asked for, page-aligned),
  // for values that live there: its owner writes them, the sums in slots
  // replace them with the sums. AllReduceSum goes through the same slots,
  // so values that live there do not survive one.
  std::byte* own_slot() const { return Slot(rank_); }
  size_t slot_bytes() const;
  // For values that live in the slots: every rank holds `elements` values
  // of `type` (float or double) at `byte_offset` in its own slot, and hands
  // them over; once FinishSumsInSlots returns, every rank's slot holds
  // there the sum over the ranks of each rank's values, the first
  // `weighted` of them multiplied by that rank's `weight` first. The
  // products are rounded to `type` before they are added, in rank order, as
  // `mul` (with a weight of 0: zeros) then `add` would: the bits of the
  // weighted copies summed above, and with 2 ranks Gloo's, whichever rank
  // sums them. Returns without waiting for the others, after summing what
  // is ready of the ranges handed over before this one (never this one: the
  // last rank to hand a range over leaves it to the ranks already waiting;
  // after thousands of ranges in one group it waits for the group so far).
  // Every rank hands over the same ranges in the same order, with one weight
  // for all of them until FinishSumsInSlots; none touches a range it handed
  // over, and no AllReduceSum or Broadcast comes, until then.
  absl::Status StartSumInSlots(size_t byte_offset, int64_t elements, at::ScalarType type,
                               double weight, int64_t weighted);
  // Sums what is left of the ranges handed over (waiting for the ranks that
  // have not handed them over yet) and returns when all of them are summed
  // on every slot. Fails as AllReduceSum does.
  absl::Status FinishSumsInSlots();
  // StartSumInSlots, then FinishSumsInSlots.
  absl::Status SumSlotsInPlace(size_t byte_offset, int64_t elements, at::ScalarType type,
                               double weight, int64_t weighted);
  // The unit in which ranges handed over are summed (a whole number of
  // cache lines, so that ranks summing neighbouring units write no line in
  // common), and how many of them this rank has summed so far.
  static constexpr size_t kClaimBytes = 64 << 10;
  int64_t units_summed_here() const { return units_summed_here_.load(std::memory_order_relaxed); }
  // Fails naming a rank that left or whose process exited, if any: for
  // waits outside the segment (a rank's report through the store) that
  // would otherwise wait out the timeout for a dead rank.
  absl::Status CheckOthersAlive() const;

 private:
  struct Segment;
  SharedMemoryAllReduce(int64_t rank, int64_t world_size, void* mapping, size_t mapping_bytes,
                        std::chrono::milliseconds timeout);
  // Waits until every other rank's counter `which` reached `round`.
  absl::Status WaitForOthers(int which, uint64_t round);
  // Waits until `reached()`: spinning, then yielding the core, then napping.
  // Fails when rank `k` (every other rank where k < 0) is gone, or after the
  // timeout, naming `what` was waited for.
  template <typename Reached>
  absl::Status WaitUntil(int64_t k, const char* what, const Reached& reached);
  // A range handed over to StartSumInSlots, and the units that it is summed
  // in, numbered over the whole run (the same on every rank).
  struct SlotRange {
    size_t byte_offset;
    int64_t elements;
    at::ScalarType type;
    int64_t weighted;
    uint64_t first_unit;
    uint64_t units;
  };
  // Whether every rank has handed over range `r` of this group.
  bool AllHandedOver(size_t r) const;
  // Takes unit `unit` of range `r`, if no rank took it yet (returns false
  // otherwise), and sums it.
  bool TakeAndSum(size_t r, uint64_t unit);
  // Fails when rank `k` left; when it is dead too if `check_process`.
  absl::Status CheckAlive(int64_t k, bool check_process) const;
  std::byte* Slot(int64_t rank) const;

  int64_t rank_;
  int64_t world_size_;
  void* mapping_;
  size_t mapping_bytes_;
  std::chrono::milliseconds timeout_;
  uint64_t round_ = 0;  // rounds done; each tensor of a slot or less is one
  at::Tensor scratch_;  // a part's sum, for ranks whose own slot is not a first term
  // Ranges handed over since the last FinishSumsInSlots, in order.
  std::vector<SlotRange> ranges_;
  uint64_t ranges_before_ = 0;  // ranges of the groups before, on every rank alike
  uint64_t units_end_ = 0;      // one past the last unit of the ranges handed over
  size_t ranges_taken_ = 0;     // ranges_ before this one have no unit left to take
  double weight_ = 0;           // this rank's, for this group
  std::atomic<int64_t> units_summed_here_{0};
};

}  // namespace framework

#endif  // FRAMEWORK_DISTRIBUTED_SHARED_MEMORY_ALL_REDUCE_H_
