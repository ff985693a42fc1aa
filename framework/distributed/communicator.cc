#include "framework/distributed/communicator.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <exception>
#include <thread>

#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/comm.hpp>
#ifdef TORCHTRAIN_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "glog/logging.h"

namespace framework {
namespace {

// Every key this framework puts in a shared store starts with this, so that
// it never meets a launcher's own keys.
constexpr char kKeyPrefix[] = "torchtrain/";
// How long Pending::Wait() polls before it blocks.
constexpr auto kPollBeforeBlocking = std::chrono::milliseconds(50);
// Broadcasts pack tensors into messages of at most this size.
constexpr size_t kBroadcastBucketBytes = size_t{25} << 20;

std::string ExceptionText(const std::exception& e) {
  if (const auto* error = dynamic_cast<const c10::Error*>(&e)) {
    return error->what_without_backtrace();
  }
  return e.what();
}

// The local address the kernel would use to reach `host`: the interface
// Gloo should listen on when GLOO_SOCKET_IFNAME does not say.
absl::StatusOr<std::string> AddressReaching(const std::string& host, int port) {
  addrinfo hints = {};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* found = nullptr;
  if (int error = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found);
      error != 0) {
    return absl::UnavailableError(absl::StrCat("cannot resolve MASTER_ADDR '", host,
                                               "': ", gai_strerror(error)));
  }
  std::string address;
  for (addrinfo* candidate = found; candidate != nullptr && address.empty();
       candidate = candidate->ai_next) {
    const int fd = socket(candidate->ai_family, SOCK_DGRAM, 0);
    if (fd < 0) continue;
    sockaddr_storage local = {};
    socklen_t length = sizeof(local);
    // A UDP connect sends nothing; it only picks the route.
    if (connect(fd, candidate->ai_addr, candidate->ai_addrlen) == 0 &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length) == 0) {
      char text[INET6_ADDRSTRLEN] = {};
      const void* raw = local.ss_family == AF_INET
                            ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(&local)->sin_addr)
                            : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(&local)->sin6_addr);
      if (inet_ntop(local.ss_family, raw, text, sizeof(text)) != nullptr) address = text;
    }
    close(fd);
  }
  freeaddrinfo(found);
  if (address.empty()) {
    return absl::UnavailableError(
        absl::StrCat("no local address reaches MASTER_ADDR '", host, "' (set GLOO_SOCKET_IFNAME "
                     "to the interface to use)"));
  }
  return address;
}

absl::StatusOr<c10::intrusive_ptr<c10d::ProcessGroup>> CreateGroup(
    const c10::intrusive_ptr<c10d::Store>& store, int64_t rank, int64_t world_size,
    const CommunicatorOptions& options, const std::vector<std::string>& interfaces,
    const std::string& hostname) {
  if (options.device.is_cuda()) {
#ifdef TORCHTRAIN_WITH_NCCL
    auto nccl_options = c10d::ProcessGroupNCCL::Options::create();
    nccl_options->timeout = options.timeout;
    return c10::intrusive_ptr<c10d::ProcessGroup>(c10::make_intrusive<c10d::ProcessGroupNCCL>(
        store, static_cast<int>(rank), static_cast<int>(world_size), nccl_options));
#else
    return absl::FailedPreconditionError(
        "a CUDA device with more than one rank needs the NCCL process group, and this build's "
        "LibTorch has none (Debian's libtorch is CPU-only): build against a CUDA LibTorch (see "
        "docs/data-parallel.md, TORCHTRAIN_LIBTORCH), or train on the CPU over Gloo");
#endif
  }
  if (!options.device.is_cpu()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "data-parallel training runs on cpu (Gloo) or cuda (NCCL), not on ", options.device.str()));
  }
  auto gloo_options = c10d::ProcessGroupGloo::Options::create();
  gloo_options->timeout = options.timeout;
  // One worker thread: collectives run one at a time anyway (each waits for
  // the previous in bucket order), and a second thread only competes with
  // the training thread for the cores.
  gloo_options->threads = 1;
  for (const std::string& interface : interfaces) {
    gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(interface));
  }
  if (interfaces.empty()) {
    gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(hostname));
  }
  return c10::intrusive_ptr<c10d::ProcessGroup>(c10::make_intrusive<c10d::ProcessGroupGloo>(
      store, static_cast<int>(rank), static_cast<int>(world_size), gloo_options));
}

}  // namespace

Communicator::Pending::Pending() = default;
Communicator::Pending::~Pending() = default;
Communicator::Pending::Pending(Pending&&) noexcept = default;
Communicator::Pending& Communicator::Pending::operator=(Pending&&) noexcept = default;

Communicator::Communicator(int64_t rank, int64_t world_size, std::string store_description,
                           bool rank_zero_hosts_store, c10::intrusive_ptr<c10d::Store> store,
                           c10::intrusive_ptr<c10d::ProcessGroup> group,
                           std::chrono::milliseconds timeout)
    : rank_(rank),
      world_size_(world_size),
      store_description_(std::move(store_description)),
      rank_zero_hosts_store_(rank_zero_hosts_store),
      store_(std::move(store)),
      group_(std::move(group)),
      timeout_(timeout) {}

Communicator::~Communicator() = default;

absl::StatusOr<std::unique_ptr<Communicator>> Communicator::Connect(
    const LaunchEnvironment& launch, const CommunicatorOptions& options) {
  CHECK(launch.distributed()) << "Connect() is for runs of more than one rank";
  const bool host_store = !launch.agent_store && launch.rank == 0;
  const std::string store_description = absl::StrCat(
      "the store at ", launch.master_addr, ":", launch.master_port,
      launch.agent_store ? " (torchrun's agent)" : " (hosted by rank 0)");
  std::string hostname;
  if (launch.socket_interfaces.empty()) {
    absl::StatusOr<std::string> address = AddressReaching(launch.master_addr, launch.master_port);
    if (!address.ok()) return address.status();
    hostname = *address;
  }
  c10::intrusive_ptr<c10d::Store> store;
  try {
    c10d::TCPStoreOptions store_options;
    store_options.port = static_cast<uint16_t>(launch.master_port);
    store_options.isServer = host_store;
    store_options.numWorkers = static_cast<size_t>(launch.world_size);
    // In 1.13 a server that waits for its workers gives up silently; the
    // group's creation below waits instead, and says who is missing.
    store_options.waitWorkers = false;
    store_options.timeout = options.timeout;
    store = c10::make_intrusive<c10d::TCPStore>(launch.master_addr, store_options);
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat(
        "rank ", launch.rank, " cannot ", host_store ? "host " : "reach ", store_description,
        " within --dist_timeout_s=", options.timeout.count() / 1000, ": ", ExceptionText(e),
        host_store ? " (is MASTER_PORT in use?)" : " (is rank 0 running, and MASTER_ADDR/"
                                                   "MASTER_PORT the same on every rank?)"));
  }
  const std::string prefix = launch.store_prefix.empty()
                                 ? std::string(kKeyPrefix)
                                 : absl::StrCat(launch.store_prefix, "/", kKeyPrefix);
  store = c10::make_intrusive<c10d::PrefixStore>(prefix, store);
  absl::StatusOr<c10::intrusive_ptr<c10d::ProcessGroup>> group;
  try {
    group = CreateGroup(store, launch.rank, launch.world_size, options, launch.socket_interfaces,
                        hostname);
  } catch (const std::exception& e) {
    return absl::DeadlineExceededError(absl::StrCat(
        "rank ", launch.rank, " of ", launch.world_size, " could not form the process group "
        "through ", store_description, " within --dist_timeout_s=",
        options.timeout.count() / 1000, " (did every rank start, with the same WORLD_SIZE?): ",
        ExceptionText(e)));
  }
  if (!group.ok()) return group.status();
  std::unique_ptr<Communicator> communicator(
      new Communicator(launch.rank, launch.world_size, store_description,
                       /*rank_zero_hosts_store=*/!launch.agent_store, store, *group,
                       options.timeout));
  communicator->JoinSharedMemoryForAllReduce(options);
  return communicator;
}

absl::StatusOr<std::unique_ptr<Communicator>> Communicator::ConnectThroughFile(
    const std::string& path, int64_t rank, int64_t world_size,
    const CommunicatorOptions& options) {
  CHECK(world_size >= 1 && rank >= 0 && rank < world_size) << rank << " of " << world_size;
  const std::string store_description = absl::StrCat("the file store ", path);
  try {
    c10::intrusive_ptr<c10d::Store> store =
        c10::make_intrusive<c10d::FileStore>(path, static_cast<int>(world_size));
    store->setTimeout(options.timeout);
    store = c10::make_intrusive<c10d::PrefixStore>(kKeyPrefix, store);
    absl::StatusOr<c10::intrusive_ptr<c10d::ProcessGroup>> group =
        CreateGroup(store, rank, world_size, options, {}, "127.0.0.1");
    if (!group.ok()) return group.status();
    std::unique_ptr<Communicator> communicator(
        new Communicator(rank, world_size, store_description, /*rank_zero_hosts_store=*/false,
                         store, *group, options.timeout));
    communicator->JoinSharedMemoryForAllReduce(options);
    return communicator;
  } catch (const std::exception& e) {
    return absl::DeadlineExceededError(
        absl::StrCat("rank ", rank, " of ", world_size, " could not form the process group "
                     "through ", store_description, ": ", ExceptionText(e)));
  }
}

void Communicator::JoinSharedMemoryForAllReduce(const CommunicatorOptions& options) {
  if (!options.device.is_cpu()) return;
  if (!options.shared_memory) {
    if (rank_ == 0) LOG(INFO) << "Gradients are summed over Gloo (shared memory turned off)";
    return;
  }
  absl::StatusOr<std::unique_ptr<SharedMemoryAllReduce>> joined = SharedMemoryAllReduce::Join(
      *store_, rank_, world_size_, options.shared_memory_slot_bytes, timeout_);
  if (joined.ok()) {
    shared_memory_ = std::move(*joined);
    if (rank_ == 0) {
      LOG(INFO) << "All " << world_size_ << " ranks share this machine: gradients are summed "
                << "through shared memory";
    }
  } else if (rank_ == 0) {
    LOG(INFO) << "Gradients are summed over Gloo, not through shared memory: "
              << joined.status().message();
  }
}

absl::Status Communicator::Failed(const std::string& operation, const std::string& error) {
  if (!broken_.ok()) return broken_;
  // Each survivor answers; whoever does not within a few seconds is gone
  // (or hung, which for the run is the same).
  const auto answer_within = std::min<std::chrono::milliseconds>(timeout_, std::chrono::seconds(10));
  std::vector<int64_t> silent;
  std::string store_problem;
  try {
    store_->setTimeout(answer_within);
    store_->set(absl::StrCat("roll_call/", rank_), std::vector<uint8_t>{1});
    const auto deadline = std::chrono::steady_clock::now() + answer_within;
    while (true) {
      silent.clear();
      for (int64_t other = 0; other < world_size_; ++other) {
        if (!store_->check({absl::StrCat("roll_call/", other)})) silent.push_back(other);
      }
      if (silent.empty() || std::chrono::steady_clock::now() >= deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  } catch (const std::exception& e) {
    store_problem = ExceptionText(e);
  }
  std::string who;
  if (!store_problem.empty()) {
    who = rank_zero_hosts_store_
              ? absl::StrCat("rank 0 is gone: ", store_description_, " cannot be reached (",
                             store_problem, ")")
              : absl::StrCat(store_description_, " cannot be reached (", store_problem, ")");
  } else if (!silent.empty()) {
    who = absl::StrCat(silent.size() == 1 ? "rank " : "ranks ", absl::StrJoin(silent, ", "),
                       silent.size() == 1 ? " is" : " are", " gone (no answer within ",
                       answer_within.count() / 1000, " s of the failure)");
  } else {
    who = "every rank still answers";
  }
  broken_ = absl::UnavailableError(absl::StrCat("data-parallel run of ", world_size_,
                                                " ranks broken at rank ", rank_, ": ", who,
                                                "; ", operation, " failed: ", error));
  return broken_;
}

absl::Status Communicator::Pending::Wait() {
  if (communicator_ == nullptr) return absl::OkStatus();
  Communicator* communicator = communicator_;
  communicator_ = nullptr;
  if (!communicator->broken_.ok()) return communicator->broken_;
  if (work_ == nullptr) return absl::OkStatus();  // done when it started (shared memory)
  try {
    // Polls first, yielding the core to any thread that can run, and only
    // then blocks: a blocked waiter's core may go idle, and waking it again
    // once the collective is done cost a whole scheduler time slice here
    // (measured on 2 vCPUs: a LeNet all-reduce after 4 ms of computing took
    // 3.97 ms blocked, 0.44 ms polled; LeNet on 2 ranks trained 1.45x
    // faster). A collective longer than the polling time costs one slice
    // more, a small part of it.
    const auto poll_until = std::chrono::steady_clock::now() + kPollBeforeBlocking;
    while (!work_->isCompleted() && std::chrono::steady_clock::now() < poll_until) {
      sched_yield();
    }
    work_->wait();
    work_.reset();
    return absl::OkStatus();
  } catch (const std::exception& e) {
    work_.reset();
    return communicator->Failed(operation_, ExceptionText(e));
  }
}

Communicator::Pending Communicator::Start(
    std::string operation, const std::function<c10::intrusive_ptr<c10d::Work>()>& launch) {
  Pending pending;
  pending.communicator_ = this;
  pending.operation_ = std::move(operation);
  if (!broken_.ok()) return pending;  // Wait() returns the failure
  try {
    pending.work_ = launch();
  } catch (const std::exception& e) {
    (void)Failed(pending.operation_, ExceptionText(e));
  }
  return pending;
}

Communicator::Pending Communicator::StartAllReduceSum(std::vector<at::Tensor>& tensors,
                                                      const std::string& what) {
  if (shared_memory_ != nullptr && tensors.size() == 1 &&
      SharedMemoryAllReduce::Accepts(tensors[0])) {
    Pending pending;
    pending.communicator_ = this;
    pending.operation_ = absl::StrCat("the all-reduce of ", what);
    if (!broken_.ok()) return pending;  // Wait() returns the failure
    if (absl::Status status = shared_memory_->AllReduceSum(tensors[0]); !status.ok()) {
      (void)Failed(pending.operation_, std::string(status.message()));
    }
    return pending;
  }
  return Start(absl::StrCat("the all-reduce of ", what),
               [&] { return group_->allreduce(tensors); });
}

absl::Status Communicator::AllReduceSumInPieces(int64_t elements, at::ScalarType type,
                                                const SharedMemoryAllReduce::Fill& fill,
                                                const SharedMemoryAllReduce::Drain& drain,
                                                const std::string& what) {
  CHECK(shared_memory_ != nullptr) << "AllReduceSumInPieces() needs shared memory";
  if (!broken_.ok()) return broken_;
  absl::Status status = shared_memory_->AllReduceSum(elements, type, fill, drain);
  if (status.ok()) return status;
  return Failed(absl::StrCat("the all-reduce of ", what), std::string(status.message()));
}

absl::StatusOr<std::unique_ptr<SharedMemoryAllReduce>> Communicator::JoinSharedMemory(
    size_t slot_bytes) {
  CHECK(shared_memory_ != nullptr) << "JoinSharedMemory() needs shared memory";
  if (!broken_.ok()) return broken_;
  return SharedMemoryAllReduce::Join(*store_, rank_, world_size_, slot_bytes, timeout_,
                                     absl::StrCat("shared_memory/", ++segments_joined_));
}

absl::Status Communicator::StartSumInSlots(SharedMemoryAllReduce& segment, size_t byte_offset,
                                           int64_t elements, at::ScalarType type, double weight,
                                           int64_t weighted, const std::string& what) {
  if (!broken_.ok()) return broken_;
  absl::Status status = segment.StartSumInSlots(byte_offset, elements, type, weight, weighted);
  if (status.ok()) return status;
  return Failed(absl::StrCat("the all-reduce of ", what), std::string(status.message()));
}

absl::Status Communicator::FinishSumsInSlots(SharedMemoryAllReduce& segment,
                                             const std::string& what) {
  if (!broken_.ok()) return broken_;
  absl::Status status = segment.FinishSumsInSlots();
  if (status.ok()) return status;
  return Failed(absl::StrCat("the all-reduce of ", what), std::string(status.message()));
}

absl::Status Communicator::AllReduceSum(std::vector<at::Tensor>& tensors,
                                        const std::string& what) {
  return StartAllReduceSum(tensors, what).Wait();
}

absl::Status Communicator::BroadcastInSharedMemory(const std::vector<at::Tensor>& tensors,
                                                    int64_t root) {
  // The tensors' bytes one after the other, as one vector of bytes.
  int64_t total = 0;
  for (const at::Tensor& tensor : tensors) total += tensor.nbytes();
  // Calls `each(bytes, count, place)` for the `count` bytes of each tensor
  // that lie in [begin, begin + length), at `place` in that piece.
  auto for_each_in = [&](int64_t begin, int64_t length, const auto& each) {
    int64_t offset = 0;
    for (const at::Tensor& tensor : tensors) {
      const int64_t size = tensor.nbytes();
      const int64_t from = std::max(begin, offset);
      const int64_t to = std::min(begin + length, offset + size);
      if (from < to) {
        each(static_cast<std::byte*>(tensor.data_ptr()) + (from - offset), to - from,
             from - begin);
      }
      offset += size;
    }
  };
  return shared_memory_->Broadcast(
      total, at::kByte, root,
      [&](int64_t begin, int64_t length, void* destination) {
        for_each_in(begin, length, [&](std::byte* bytes, int64_t count, int64_t place) {
          std::memcpy(static_cast<std::byte*>(destination) + place, bytes, count);
        });
      },
      [&](int64_t begin, int64_t length, const void* source) {
        for_each_in(begin, length, [&](std::byte* bytes, int64_t count, int64_t place) {
          std::memcpy(bytes, static_cast<const std::byte*>(source) + place, count);
        });
      });
}

absl::Status Communicator::Broadcast(const std::vector<at::Tensor>& tensors, int64_t root,
                                     const std::string& what) {
  if (!broken_.ok()) return broken_;
  if (tensors.empty()) return absl::OkStatus();
  if (shared_memory_ != nullptr &&
      std::all_of(tensors.begin(), tensors.end(), SharedMemoryAllReduce::Accepts)) {
    absl::Status status = BroadcastInSharedMemory(tensors, root);
    if (status.ok()) return status;
    return Failed(absl::StrCat("the broadcast of ", what, " from rank ", root),
                  std::string(status.message()));
  }
  try {
    c10d::broadcast_coalesced(group_, tensors, kBroadcastBucketBytes, static_cast<int>(root));
    return absl::OkStatus();
  } catch (const std::exception& e) {
    return Failed(absl::StrCat("the broadcast of ", what, " from rank ", root), ExceptionText(e));
  }
}

absl::StatusOr<std::vector<at::Tensor>> Communicator::AllGather(const at::Tensor& tensor,
                                                                const std::string& what) {
  if (!broken_.ok()) return broken_;
  std::vector<std::vector<at::Tensor>> outputs(1);
  for (int64_t i = 0; i < world_size_; ++i) outputs[0].push_back(at::empty_like(tensor));
  std::vector<at::Tensor> inputs = {tensor.contiguous()};
  absl::Status status = Start(absl::StrCat("the all-gather of ", what), [&] {
                          return group_->allgather(outputs, inputs);
                        }).Wait();
  if (!status.ok()) return status;
  return outputs[0];
}

absl::Status Communicator::Barrier(const std::string& what) {
  return Start(absl::StrCat("the barrier ", what), [&] { return group_->barrier(); }).Wait();
}

absl::StatusOr<std::string> Communicator::ShareFromRankZero(const std::string& key,
                                                            const std::string& value) {
  if (!broken_.ok()) return broken_;
  const std::string full_key = absl::StrCat("shared/", key);
  try {
    if (rank_ == 0) {
      store_->set(full_key, std::vector<uint8_t>(value.begin(), value.end()));
      return value;
    }
    const std::vector<uint8_t> bytes = store_->get(full_key);
    return std::string(bytes.begin(), bytes.end());
  } catch (const std::exception& e) {
    return Failed(absl::StrCat("sharing '", key, "' from rank 0 through ", store_description_),
                  ExceptionText(e));
  }
}

absl::Status Communicator::PublishToStore(const std::string& key, const std::string& value) {
  try {
    store_->set(absl::StrCat("published/", key), std::vector<uint8_t>(value.begin(), value.end()));
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("rank ", rank_, " cannot publish '", key,
                                               "' through ", store_description_, ": ",
                                               ExceptionText(e)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Communicator::ReadFromStore(const std::string& key) {
  try {
    const std::string full_key = absl::StrCat("published/", key);
    if (shared_memory_ != nullptr) {
      // Ranks on this machine are watched while the value is awaited: one
      // that died will never publish it, and waiting out the timeout for it
      // (minutes) would only delay the error.
      const auto deadline = std::chrono::steady_clock::now() + timeout_;
      while (!store_->check({full_key}) && std::chrono::steady_clock::now() < deadline) {
        if (absl::Status alive = shared_memory_->CheckOthersAlive(); !alive.ok()) {
          return absl::UnavailableError(absl::StrCat("nothing was published as '", key,
                                                     "' through ", store_description_, ": ",
                                                     alive.message()));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
    const std::vector<uint8_t> bytes = store_->get(full_key);
    return std::string(bytes.begin(), bytes.end());
  } catch (const std::exception& e) {
    return absl::DeadlineExceededError(absl::StrCat(
        "nothing was published as '", key, "' through ", store_description_, " within ",
        timeout_.count() / 1000, " s (", ExceptionText(e), ")"));
  }
}

}  // namespace framework
