// The ranks of a data-parallel run talking to each other: LibTorch's c10d
// process group (Gloo over TCP on the CPU; NCCL for CUDA where LibTorch is
// built with it) and its rendezvous store, behind Status-returning calls.
//
// Every collective must be called by every rank in the same order. A
// collective that fails (a rank died, or did not answer within the timeout)
// fails this and every later call with an error that names the ranks that
// are gone: the survivors hold a roll call through the store, and a rank
// that does not answer it is named; when the store itself is gone (rank 0
// hosts it unless a launcher agent does) rank 0 is named.
#ifndef FRAMEWORK_DISTRIBUTED_COMMUNICATOR_H_
#define FRAMEWORK_DISTRIBUTED_COMMUNICATOR_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/util/intrusive_ptr.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "framework/distributed/launch_environment.h"
#include "framework/distributed/shared_memory_all_reduce.h"

namespace c10d {
class ProcessGroup;
class Store;
class Work;
}  // namespace c10d

namespace framework {

struct CommunicatorOptions {
  // How long a rank waits for the others: to join, and in any collective.
  std::chrono::milliseconds timeout = std::chrono::seconds(300);
  // CUDA devices use NCCL (when LibTorch has it); others Gloo.
  c10::Device device = c10::kCPU;
  // Ranks that all share one machine sum CPU tensors through shared memory
  // on the calling thread (SharedMemoryAllReduce) instead of over Gloo;
  // tensors larger than a slot go in several rounds.
  bool shared_memory = true;
  size_t shared_memory_slot_bytes = size_t{4} << 20;
};

class Communicator {
 public:
  // Joins the run that `launch` describes (launch.distributed() must hold):
  // through the launcher's TCP store, or one rank 0 hosts.
  static absl::StatusOr<std::unique_ptr<Communicator>> Connect(const LaunchEnvironment& launch,
                                                               const CommunicatorOptions& options);
  // Ranks on one machine (threads in tests, or processes) meeting through a
  // file, over Gloo on the loopback interface.
  static absl::StatusOr<std::unique_ptr<Communicator>> ConnectThroughFile(
      const std::string& path, int64_t rank, int64_t world_size,
      const CommunicatorOptions& options);
  ~Communicator();

  int64_t rank() const { return rank_; }
  int64_t world_size() const { return world_size_; }
  // Whether all-reduces of CPU tensors go through shared memory (every rank
  // on this machine, and CommunicatorOptions::shared_memory) or over Gloo.
  bool all_reduce_in_shared_memory() const { return shared_memory_ != nullptr; }

  // A collective that runs while the caller computes.
  class Pending {
   public:
    Pending();
    ~Pending();
    Pending(Pending&&) noexcept;
    Pending& operator=(Pending&&) noexcept;
    // Blocks until it is done everywhere; its tensors then hold the result.
    absl::Status Wait();
    bool started() const { return communicator_ != nullptr; }

   private:
    friend class Communicator;
    Communicator* communicator_ = nullptr;
    std::string operation_;
    c10::intrusive_ptr<c10d::Work> work_;
  };

  // Sums `tensors` element-wise over the ranks, in place (Gloo has no mean:
  // divide afterwards). All must be dense and on this rank's device; give
  // one (Gloo sums several into each other too, as copies on several
  // devices; only one goes through shared memory). Through
  // shared memory (all_reduce_in_shared_memory()) it is done, on this
  // thread, when this returns; over Gloo it runs while the caller goes on.
  Pending StartAllReduceSum(std::vector<at::Tensor>& tensors, const std::string& what);
  absl::Status AllReduceSum(std::vector<at::Tensor>& tensors, const std::string& what);
  // Through shared memory only (all_reduce_in_shared_memory()), on this
  // thread: sums a vector that the caller writes into the segment and reads
  // from it in pieces (SharedMemoryAllReduce), with no buffer in between.
  absl::Status AllReduceSumInPieces(int64_t elements, at::ScalarType type,
                                    const SharedMemoryAllReduce::Fill& fill,
                                    const SharedMemoryAllReduce::Drain& drain,
                                    const std::string& what);
  // Through shared memory only, and by every rank at once: a segment of its
  // own whose slots (`slot_bytes` each) hold values for as long as it is
  // kept, to be summed there (StartSumInSlots). Fails, on every rank alike,
  // when the ranks cannot share one (a /dev/shm too small).
  absl::StatusOr<std::unique_ptr<SharedMemoryAllReduce>> JoinSharedMemory(size_t slot_bytes);
  // SharedMemoryAllReduce's StartSumInSlots and FinishSumsInSlots on
  // `segment`, failing as the other collectives do.
  absl::Status StartSumInSlots(SharedMemoryAllReduce& segment, size_t byte_offset,
                               int64_t elements, at::ScalarType type, double weight,
                               int64_t weighted, const std::string& what);
  absl::Status FinishSumsInSlots(SharedMemoryAllReduce& segment, const std::string& what);
  // Copies rank `root`'s values of `tensors` into every rank's, in place,
  // packed into few messages (through shared memory, where all-reduces go
  // there and the tensors are dense, contiguous and on the CPU).
  absl::Status Broadcast(const std::vector<at::Tensor>& tensors, int64_t root,
                         const std::string& what);
  // Every rank's `tensor` (same shape and type everywhere), by rank.
  absl::StatusOr<std::vector<at::Tensor>> AllGather(const at::Tensor& tensor,
                                                    const std::string& what);
  absl::Status Barrier(const std::string& what);
  // Rank 0's `value` on every rank (others pass anything), through the
  // store: for strings such as which checkpoint to resume from.
  absl::StatusOr<std::string> ShareFromRankZero(const std::string& key, const std::string& value);
  // A value for any rank to read (ReadFromStore) under `key`, through the
  // store. Unlike collectives these are safe from any thread, in any order:
  // a background checkpoint writer reports to rank 0 with them.
  absl::Status PublishToStore(const std::string& key, const std::string& value);
  // What was published under `key`, waiting up to the timeout for it.
  absl::StatusOr<std::string> ReadFromStore(const std::string& key);
  std::chrono::milliseconds timeout() const { return timeout_; }

 private:
  Communicator(int64_t rank, int64_t world_size, std::string store_description,
               bool rank_zero_hosts_store, c10::intrusive_ptr<c10d::Store> store,
               c10::intrusive_ptr<c10d::ProcessGroup> group, std::chrono::milliseconds timeout);
  // A collective `launch` starts, to be waited for; `operation` names it.
  Pending Start(std::string operation,
                const std::function<c10::intrusive_ptr<c10d::Work>()>& launch);
  // Where every rank shares this machine, and `options` allow it: switches
  // all-reduces of CPU tensors to shared memory (every rank must call it).
  void JoinSharedMemoryForAllReduce(const CommunicatorOptions& options);
  // Broadcast() through shared_memory_.
  absl::Status BroadcastInSharedMemory(const std::vector<at::Tensor>& tensors, int64_t root);
  // The error for a collective that threw: names the ranks that are gone.
  absl::Status Failed(const std::string& operation, const std::string& error);

  int64_t rank_;
  int64_t world_size_;
  std::string store_description_;  // "the store at host:port (hosted by rank 0)"
  bool rank_zero_hosts_store_;     // so that losing the store means losing rank 0
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::ProcessGroup> group_;
  std::chrono::milliseconds timeout_;
  absl::Status broken_;  // the first failure; every later call returns it
  std::unique_ptr<SharedMemoryAllReduce> shared_memory_;  // null: all-reduce over Gloo
  int64_t segments_joined_ = 0;  // by JoinSharedMemory(slot_bytes): their names
};

}  // namespace framework

#endif  // FRAMEWORK_DISTRIBUTED_COMMUNICATOR_H_
