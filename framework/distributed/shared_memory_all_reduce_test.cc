#include "framework/distributed/shared_memory_all_reduce.h"

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <ATen/ATen.h>
#include <torch/csrc/distributed/c10d/FileStore.hpp>

#include "gtest/gtest.h"

namespace framework {
namespace {

std::string FreshStorePath() {
  static int run = 0;
  return std::string(std::getenv("TEST_TMPDIR")) + "/shm-store-" + std::to_string(run++);
}

// The segments rank 0 made in this process, as Join told the other ranks
// through `store` ("<name> <token>"). Checked by name rather than by this
// process's pid: a test in another sandbox can have the same pid, and a
// segment of its own for a moment.
std::mutex made_mutex;
std::vector<std::string> made;
void NoteSegmentMade(c10d::Store& store) {
  const std::vector<uint8_t> value = store.get("shared_memory/segment");
  const std::string segment(value.begin(), value.end());
  std::lock_guard<std::mutex> lock(made_mutex);
  made.push_back(segment.substr(0, segment.find(' ')));
}

// Those of them still in /dev/shm.
std::vector<std::string> LeftInDevShm() {
  std::lock_guard<std::mutex> lock(made_mutex);
  EXPECT_FALSE(made.empty()) << "no segment was made";
  std::vector<std::string> left;
  for (const std::string& name : made) {
    if (!name.empty() && access(("/dev/shm" + name).c_str(), F_OK) == 0) left.push_back(name);
  }
  made.clear();
  return left;
}

// Runs `body(rank, joined)` for each rank on its own thread.
void RunRanks(int64_t world_size, size_t slot_bytes,
              const std::function<void(int64_t, absl::StatusOr<std::unique_ptr<
                                                     SharedMemoryAllReduce>>&)>& body) {
  const std::string path = FreshStorePath();
  std::vector<std::thread> threads;
  for (int64_t rank = 0; rank < world_size; ++rank) {
    threads.emplace_back([&, rank] {
      c10d::FileStore store(path, static_cast<int>(world_size));
      store.setTimeout(std::chrono::seconds(20));
      absl::StatusOr<std::unique_ptr<SharedMemoryAllReduce>> joined = SharedMemoryAllReduce::Join(
          store, rank, world_size, slot_bytes, std::chrono::seconds(20));
      if (rank == 0) NoteSegmentMade(store);
      body(rank, joined);
    });
  }
  for (std::thread& thread : threads) thread.join();
}

// Each rank's tensor summed in rank order, compared bit for bit: sizes that
// do not divide among the ranks, that leave ranks without a part, that take
// several rounds of a small slot; float and double; 2 and 3 ranks.
TEST(SharedMemoryAllReduceTest, SumsInRankOrderBitForBit) {
  const uint32_t seed = std::random_device()();
  std::printf("seed %u\n", seed);
  for (int64_t world_size : {2, 3}) {
    for (at::ScalarType type : {at::kFloat, at::kDouble}) {
      for (int64_t elements : {int64_t{0}, int64_t{1}, int64_t{7}, int64_t{5000}}) {
        at::manual_seed(seed);
        std::vector<at::Tensor> inputs;
        for (int64_t k = 0; k < world_size; ++k) {
          inputs.push_back(at::randn({elements}, at::TensorOptions().dtype(type)) * (k + 1));
        }
        at::Tensor expected = inputs[0].clone();
        if (elements > 0) expected = inputs[0] + inputs[1];
        for (int64_t k = 2; k < world_size; ++k) expected = expected + inputs[k];
        // 4 KiB slots: 5000 floats take 5 rounds, doubles 10.
        RunRanks(world_size, 4096, [&](int64_t rank, auto& joined) {
          ASSERT_TRUE(joined.ok()) << joined.status();
          for (int repeat = 0; repeat < 3; ++repeat) {
            at::Tensor mine = inputs[rank].clone();
            ASSERT_TRUE((*joined)->AllReduceSum(mine).ok());
            EXPECT_TRUE(mine.equal(expected))
                << world_size << " ranks, " << elements << " " << at::toString(type)
                << ", rank " << rank << ", repeat " << repeat << ", seed " << seed;
          }
        });
      }
    }
  }
  EXPECT_TRUE(LeftInDevShm().empty());
}

// Values that live in the slots, summed in place: each rank's weighted
// values rounded before they are added in rank order, as `mul` then `add`
// give them (a weight of 0 gives zeros), the values after `weighted` added
// as they are; every slot holds the sums after, bit for bit. Ranges longer
// than the sum's chunk on the stack, at an offset; 2 and 3 ranks; float and
// double; AllReduceSum rounds in between.
TEST(SharedMemoryAllReduceTest, SumsSlotsInPlaceAsMulThenAddWould) {
  const uint32_t seed = std::random_device()();
  std::printf("seed %u\n", seed);
  const size_t offset = 256;
  const int64_t elements = 5003;
  for (int64_t world_size : {2, 3}) {
    for (at::ScalarType type : {at::kFloat, at::kDouble}) {
      for (int64_t weighted : {elements, int64_t{4999}, int64_t{0}}) {
        at::manual_seed(seed);
        const at::TensorOptions options = at::TensorOptions().dtype(type);
        std::vector<at::Tensor> values;
        for (int64_t k = 0; k < world_size; ++k) {
          at::Tensor v = at::randn({elements}, options) * (k + 1);
          // Values whose products round, and that mul by 0 would not zero.
          v[0] = -0.0;
          v[1] = std::numeric_limits<double>::infinity();
          v[2] = 1e-39;
          values.push_back(v);
        }
        // Uneven shares, and a rank without samples.
        const std::vector<double> weights = world_size == 2 ? std::vector<double>{3.0 / 7, 4.0 / 7}
                                                            : std::vector<double>{0.3, 0.0, 0.7};
        auto term = [&](int64_t k) {
          at::Tensor scaled = weights[k] == 0 ? at::zeros_like(values[k])
                                              : at::mul(values[k], weights[k]);
          return at::cat({scaled.narrow(0, 0, weighted),
                          values[k].narrow(0, weighted, elements - weighted)});
        };
        at::Tensor expected = at::add(term(0), term(1));
        for (int64_t k = 2; k < world_size; ++k) expected = at::add(expected, term(k));
        const size_t bytes = offset + elements * c10::elementSize(type);
        RunRanks(world_size, bytes, [&](int64_t rank, auto& joined) {
          ASSERT_TRUE(joined.ok()) << joined.status();
          SharedMemoryAllReduce& segment = **joined;
          ASSERT_GE(segment.slot_bytes(), bytes);
          at::Tensor mine = at::from_blob(segment.own_slot() + offset, {elements}, options);
          for (int repeat = 0; repeat < 2; ++repeat) {
            mine.copy_(values[rank]);
            ASSERT_TRUE(
                segment.SumSlotsInPlace(offset, elements, type, weights[rank], weighted).ok());
            EXPECT_TRUE(mine.equal(expected))
                << world_size << " ranks, " << at::toString(type) << ", " << weighted
                << " weighted, rank " << rank << ", repeat " << repeat << ", seed " << seed
                << ", first difference at "
                << (mine != expected).nonzero().flatten().slice(0, 0, 1);
            at::Tensor other = at::full({3}, static_cast<double>(rank), options);
            ASSERT_TRUE(segment.AllReduceSum(other).ok());
            EXPECT_EQ(other[0].item<double>(), world_size * (world_size - 1) / 2);
          }
        });
      }
    }
  }
  EXPECT_TRUE(LeftInDevShm().empty());
}

// Several ranges handed over before they are finished, each spanning
// several units of the sums or less than one, with the weighted values
// ending inside a unit: every slot holds each range's sums, bit for bit,
// whichever ranks summed them, group after group, with AllReduceSum rounds
// between the groups; and the units summed add up to the units handed over.
TEST(SharedMemoryAllReduceTest, RangesHandedOverAreSummedBitForBit) {
  const uint32_t seed = std::random_device()();
  std::printf("seed %u\n", seed);
  for (int64_t world_size : {1, 2, 3}) {
    for (at::ScalarType type : {at::kFloat, at::kDouble}) {
      const at::TensorOptions options = at::TensorOptions().dtype(type);
      const size_t element = c10::elementSize(type);
      const int64_t per_unit = SharedMemoryAllReduce::kClaimBytes / element;
      // (offset in values, values, weighted), ranges on cache lines of their
      // own, after the first 64 values, where AllReduceSum's values go.
      struct Range {
        int64_t at, elements, weighted;
      };
      const std::vector<Range> ranges = {{64, 2 * per_unit + 5, 2 * per_unit + 5},
                                         {3 * per_unit + 64, 7, 7},
                                         {3 * per_unit + 128, per_unit + 100, per_unit / 2}};
      const int64_t total = ranges.back().at + ranges.back().elements;
      const std::vector<double> weights = {0.25, 0.0, 0.75};
      std::vector<at::Tensor> values;  // per rank, per group of 3 (3 groups)
      at::manual_seed(seed);
      for (int64_t k = 0; k < world_size; ++k) values.push_back(at::randn({3, total}, options));
      // Each range's expected sums, term by term in rank order.
      std::vector<at::Tensor> expected;
      for (int64_t group = 0; group < 3; ++group) {
        at::Tensor sums = at::zeros({total}, options);
        for (const Range& range : ranges) {
          auto term = [&](int64_t k) {
            at::Tensor v = values[k][group].narrow(0, range.at, range.elements);
            const double weight = world_size == 1 ? 0.5 : weights[k];
            at::Tensor scaled = weight == 0 ? at::zeros_like(v) : at::mul(v, weight);
            return at::cat({scaled.narrow(0, 0, range.weighted),
                             v.narrow(0, range.weighted, range.elements - range.weighted)});
          };
          at::Tensor sum = term(0);
          if (world_size > 1) sum = at::add(term(0), term(1));
          for (int64_t k = 2; k < world_size; ++k) sum = at::add(sum, term(k));
          sums.narrow(0, range.at, range.elements).copy_(sum);
        }
        expected.push_back(sums);
      }
      std::atomic<int64_t> units_summed{0};
      RunRanks(world_size, total * element, [&](int64_t rank, auto& joined) {
        ASSERT_TRUE(joined.ok()) << joined.status();
        SharedMemoryAllReduce& segment = **joined;
        const double weight = world_size == 1 ? 0.5 : weights[rank];
        at::Tensor mine = at::from_blob(segment.own_slot(), {total}, options);
        for (int64_t group = 0; group < 3; ++group) {
          mine.narrow(0, 64, total - 64).copy_(values[rank][group].narrow(0, 64, total - 64));
          for (const Range& range : ranges) {
            ASSERT_TRUE(segment
                            .StartSumInSlots(range.at * element, range.elements, type, weight,
                                             range.weighted)
                            .ok());
          }
          ASSERT_TRUE(segment.FinishSumsInSlots().ok());
          for (const Range& range : ranges) {
            at::Tensor got = mine.narrow(0, range.at, range.elements);
            at::Tensor want = expected[group].narrow(0, range.at, range.elements);
            EXPECT_TRUE(got.equal(want))
                << world_size << " ranks, " << at::toString(type) << ", range at " << range.at
                << ", rank " << rank << ", group " << group << ", seed " << seed
                << ", first difference at " << (got != want).nonzero().flatten().slice(0, 0, 1);
          }
          at::Tensor other = at::full({3}, static_cast<double>(rank), options);
          ASSERT_TRUE(segment.AllReduceSum(other).ok());
          EXPECT_EQ(other[0].item<double>(), world_size * (world_size - 1) / 2);
        }
        units_summed += segment.units_summed_here();
      });
      // 3 + 1 + 2 units a group.
      EXPECT_EQ(units_summed.load(), 3 * 6) << world_size << " ranks, " << at::toString(type);
    }
  }
  EXPECT_TRUE(LeftInDevShm().empty());
}

// More ranges in one group than the segment has flags for (each range takes
// a flag, and there are 4096 besides a slot's worth of units): the group is
// summed in several, every range's sums right.
TEST(SharedMemoryAllReduceTest, AGroupOfThousandsOfRangesIsSummedInSeveral) {
  const int64_t ranges = 6000;
  const int64_t stride = 16;  // floats: each range on a cache line of its own
  RunRanks(2, ranges * stride * sizeof(float), [&](int64_t rank, auto& joined) {
    ASSERT_TRUE(joined.ok()) << joined.status();
    SharedMemoryAllReduce& segment = **joined;
    at::Tensor mine = at::from_blob(segment.own_slot(), {ranges, stride}, at::kFloat);
    for (int repeat = 0; repeat < 2; ++repeat) {
      // Range i is element 0 of row i: i + 1 on rank 0, 2 * (i + 1) on rank 1.
      mine.select(1, 0).copy_(at::arange(1, ranges + 1, at::kFloat) * (rank + 1));
      for (int64_t i = 0; i < ranges; ++i) {
        ASSERT_TRUE(
            segment.StartSumInSlots(i * stride * sizeof(float), 1, at::kFloat, 1.0, 1).ok());
      }
      ASSERT_TRUE(segment.FinishSumsInSlots().ok());
      EXPECT_TRUE(mine.select(1, 0).equal(at::arange(1, ranges + 1, at::kFloat) * 3))
          << "rank " << rank << ", repeat " << repeat;
    }
  });
  EXPECT_TRUE(LeftInDevShm().empty());
}

// A rank that hands a range over and goes on with its work (as backward
// goes on with the earlier layers) leaves the range to the rank already
// waiting in FinishSumsInSlots: that one sums all of it, and the late rank
// only what is left when it finishes too.
TEST(SharedMemoryAllReduceTest, TheRankThatWaitsSumsWhileTheOtherWorks) {
  const int64_t first_units = 4;
  const int64_t first = first_units * SharedMemoryAllReduce::kClaimBytes / sizeof(float);
  const int64_t second = 1000;
  std::atomic<SharedMemoryAllReduce*> waiting_rank{nullptr};
  std::vector<int64_t> summed(2, -1);
  RunRanks(2, (first + second) * sizeof(float), [&](int64_t rank, auto& joined) {
    ASSERT_TRUE(joined.ok()) << joined.status();
    SharedMemoryAllReduce& segment = **joined;
    at::Tensor mine = at::from_blob(segment.own_slot(), {first + second}, at::kFloat);
    mine.fill_(static_cast<float>(rank + 1));
    if (rank == 0) waiting_rank = &segment;
    ASSERT_TRUE(segment.StartSumInSlots(0, first, at::kFloat, 1.0, first).ok());
    if (rank == 1) {
      // "Working": until rank 0, waiting, has summed all of the first range
      // (bounded: if it does not, the test fails here).
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      auto summed_by_rank_0 = [&]() -> int64_t {
        SharedMemoryAllReduce* other = waiting_rank.load();
        return other == nullptr ? 0 : other->units_summed_here();
      };
      while (summed_by_rank_0() < first_units) {
        ASSERT_LT(std::chrono::steady_clock::now(), deadline)
            << "rank 0 summed " << summed_by_rank_0() << " of the " << first_units
            << " units it waits on";
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    }
    ASSERT_TRUE(
        segment.StartSumInSlots(first * sizeof(float), second, at::kFloat, 1.0, second).ok());
    ASSERT_TRUE(segment.FinishSumsInSlots().ok());
    EXPECT_TRUE(mine.equal(at::full({first + second}, 3.0f))) << "rank " << rank;
    summed[rank] = segment.units_summed_here();
  });
  std::printf("units summed: rank 0 %lld, rank 1 %lld\n", static_cast<long long>(summed[0]),
              static_cast<long long>(summed[1]));
  EXPECT_GE(summed[0], first_units);
  EXPECT_LE(summed[1], 1);  // at most the second range's one unit
  EXPECT_EQ(summed[0] + summed[1], first_units + 1);
  EXPECT_TRUE(LeftInDevShm().empty());
}

// A rank whose object is destroyed (it left) fails the others' next
// all-reduce at once, naming it.
TEST(SharedMemoryAllReduceTest, ARankThatLeftIsNamed) {
  RunRanks(2, 4096, [](int64_t rank, auto& joined) {
    ASSERT_TRUE(joined.ok()) << joined.status();
    at::Tensor value = at::ones({4});
    ASSERT_TRUE((*joined)->AllReduceSum(value).ok());
    if (rank == 1) {
      joined->reset();
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    absl::Status status = (*joined)->AllReduceSum(value);
    EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
    EXPECT_EQ(status.message(), "rank 1 left the run");
  });
}

// A rank's process that dies (no destructor runs, as with kill -9) is
// found gone once the wait has gone on a while, not after the timeout.
TEST(SharedMemoryAllReduceTest, ARankWhoseProcessDiedIsNamed) {
  const std::string path = FreshStorePath();
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    c10d::FileStore store(path, 2);
    auto joined = SharedMemoryAllReduce::Join(store, 1, 2, 4096, std::chrono::seconds(20));
    _exit(joined.ok() ? 0 : 1);  // dies without leaving
  }
  c10d::FileStore store(path, 2);
  auto joined = SharedMemoryAllReduce::Join(store, 0, 2, 4096, std::chrono::seconds(20));
  ASSERT_TRUE(joined.ok()) << joined.status();
  NoteSegmentMade(store);
  int child_status = 0;
  ASSERT_EQ(waitpid(child, &child_status, 0), child);
  ASSERT_TRUE(WIFEXITED(child_status) && WEXITSTATUS(child_status) == 0) << "rank 1 did not join";
  const auto start = std::chrono::steady_clock::now();
  at::Tensor value = at::ones({4});
  absl::Status status = (*joined)->AllReduceSum(value);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(status.message(),
            "rank 1 is gone (its process " + std::to_string(child) + " exited)");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  // As waits elsewhere (for a rank's report through the store) ask it.
  EXPECT_EQ((*joined)->CheckOthersAlive().message(), status.message());
  EXPECT_TRUE(LeftInDevShm().empty());
}

// Ranks that cannot share rank 0's segment (here: one expects other slots)
// all find out when they join, and say which rank could not.
TEST(SharedMemoryAllReduceTest, RanksThatCannotShareAllFallBack) {
  const std::string path = FreshStorePath();
  std::vector<absl::Status> results(2);
  std::vector<std::thread> threads;
  for (int64_t rank = 0; rank < 2; ++rank) {
    threads.emplace_back([&, rank] {
      c10d::FileStore store(path, 2);
      results[rank] = SharedMemoryAllReduce::Join(store, rank, 2, rank == 0 ? 4096 : 8192,
                                                  std::chrono::seconds(20))
                          .status();
      if (rank == 0) NoteSegmentMade(store);
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (const absl::Status& status : results) {
    EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
    EXPECT_NE(status.message().find("rank 1: "), std::string::npos) << status.message();
    EXPECT_NE(status.message().find("is not the size expected"), std::string::npos)
        << status.message();
  }
  EXPECT_TRUE(LeftInDevShm().empty());
}

}  // namespace
}  // namespace framework
