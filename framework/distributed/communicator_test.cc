#include "framework/distributed/communicator.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <thread>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/generated/variable_factories.h>

#include "framework/distributed/gradient_averager.h"
#include "gtest/gtest.h"

namespace framework {
namespace {

// Runs `body(rank)` for each rank on its own thread, the ranks meeting
// through a fresh file store.
void RunRanks(int64_t world_size, const std::function<void(Communicator&)>& body,
              std::chrono::milliseconds timeout = std::chrono::seconds(30),
              bool shared_memory = true) {
  static int run = 0;
  const std::string path =
      std::string(std::getenv("TEST_TMPDIR")) + "/store-" + std::to_string(run++);
  std::vector<std::thread> threads;
  for (int64_t rank = 0; rank < world_size; ++rank) {
    threads.emplace_back([&, rank] {
      CommunicatorOptions options;
      options.timeout = timeout;
      options.shared_memory = shared_memory;
      options.shared_memory_slot_bytes = 64 << 10;  // several rounds for the larger tensors
      absl::StatusOr<std::unique_ptr<Communicator>> communicator =
          Communicator::ConnectThroughFile(path, rank, world_size, options);
      ASSERT_TRUE(communicator.ok()) << communicator.status();
      body(**communicator);
    });
  }
  for (std::thread& thread : threads) thread.join();
}

TEST(CommunicatorTest, CollectivesAcrossThreeRanks) {
  RunRanks(3, [](Communicator& group) {
    const double rank = static_cast<double>(group.rank());
    std::vector<at::Tensor> sum = {at::full({5}, rank + 1, at::kDouble)};
    ASSERT_TRUE(group.AllReduceSum(sum, "a test tensor").ok());
    EXPECT_TRUE(sum[0].equal(at::full({5}, 6.0, at::kDouble)));

    std::vector<at::Tensor> shared = {at::full({3}, rank, at::kFloat), at::full({2}, -rank)};
    ASSERT_TRUE(group.Broadcast(shared, 1, "test tensors").ok());
    EXPECT_TRUE(shared[0].equal(at::full({3}, 1.0f)));
    EXPECT_TRUE(shared[1].equal(at::full({2}, -1.0f)));

    absl::StatusOr<std::vector<at::Tensor>> gathered =
        group.AllGather(at::full({2}, rank, at::kByte), "test bytes");
    ASSERT_TRUE(gathered.ok()) << gathered.status();
    ASSERT_EQ(gathered->size(), 3u);
    for (int r = 0; r < 3; ++r) EXPECT_EQ((*gathered)[r][1].item<uint8_t>(), r);

    absl::StatusOr<std::string> chosen =
        group.ShareFromRankZero("checkpoint", group.rank() == 0 ? "step-12" : "ignored");
    ASSERT_TRUE(chosen.ok()) << chosen.status();
    EXPECT_EQ(*chosen, "step-12");
    EXPECT_TRUE(group.Barrier("at the end").ok());
  });
}

// Through shared memory a broadcast goes through the root's slot, in pieces
// (the tests' slots are 64 KiB), the tensors' bytes one after the other
// whatever their types; a tensor that is not contiguous goes over Gloo. Each
// rank's copy is the root's, from every root, between all-reduces.
TEST(CommunicatorTest, BroadcastsThroughSharedMemoryInPieces) {
  const uint32_t seed = std::random_device()();
  std::printf("seed %u\n", seed);
  at::manual_seed(seed);
  std::vector<std::vector<at::Tensor>> values;  // by rank
  for (int rank = 0; rank < 3; ++rank) {
    values.push_back({at::randn({100003}), at::randint(1 << 30, {7}, at::kLong),
                      at::randn({5}) > 0, at::randn({3, 300}).to(at::kHalf)});
  }
  RunRanks(3, [&](Communicator& group) {
    ASSERT_TRUE(group.all_reduce_in_shared_memory());
    for (int64_t root : {1, 0, 2}) {
      std::vector<at::Tensor> mine;
      for (const at::Tensor& value : values[group.rank()]) mine.push_back(value.clone());
      ASSERT_TRUE(group.Broadcast(mine, root, "test tensors").ok());
      for (size_t i = 0; i < mine.size(); ++i) {
        EXPECT_TRUE(mine[i].equal(values[root][i]))
            << "tensor " << i << " from rank " << root << " at rank " << group.rank();
      }
      std::vector<at::Tensor> strided = {values[group.rank()][3].t().contiguous().t()};
      ASSERT_FALSE(strided[0].is_contiguous());
      ASSERT_TRUE(group.Broadcast(strided, root, "a strided tensor").ok());
      EXPECT_TRUE(strided[0].equal(values[root][3]));
      std::vector<at::Tensor> sum = {at::full({70000}, group.rank() + 1.0)};
      ASSERT_TRUE(group.AllReduceSum(sum, "a test tensor").ok());
      EXPECT_TRUE(sum[0].equal(at::full({70000}, 6.0)));
    }
  });
}

// Ranks in one process share its memory, so they sum through it unless told
// not to; with 2 ranks both ways give the same bits (a + b), whatever the
// tensors' sizes and types.
TEST(CommunicatorTest, SharedMemoryAndGlooGiveTheSameBits) {
  const uint32_t seed = std::random_device()();
  std::printf("seed %u\n", seed);
  std::vector<std::vector<at::Tensor>> results(4);  // [shared memory?][rank]
  // Made here: the ranks' threads share one generator.
  at::manual_seed(seed);
  std::vector<std::vector<at::Tensor>> inputs;
  for (int rank = 0; rank < 2; ++rank) {
    inputs.push_back({at::randn({100003}), at::randn({5}, at::kDouble),
                      at::randn({3, 7}).to(at::kHalf)});
  }
  for (bool shared_memory : {true, false}) {
    RunRanks(
        2,
        [&](Communicator& group) {
          EXPECT_EQ(group.all_reduce_in_shared_memory(), shared_memory);
          std::vector<at::Tensor> tensors;
          for (const at::Tensor& input : inputs[group.rank()]) tensors.push_back(input.clone());
          for (at::Tensor& tensor : tensors) {
            std::vector<at::Tensor> one = {tensor};
            absl::Status summed = group.AllReduceSum(one, "a test tensor");
            ASSERT_TRUE(summed.ok()) << summed;
          }
          at::Tensor flat = at::cat({tensors[0], tensors[1].to(at::kFloat),
                                     tensors[2].to(at::kFloat).reshape({-1})});
          results[(shared_memory ? 0 : 2) + group.rank()] = {flat};
        },
        std::chrono::seconds(30), shared_memory);
  }
  EXPECT_TRUE(results[0][0].equal(results[1][0])) << "ranks differ, seed " << seed;
  EXPECT_TRUE(results[0][0].equal(results[2][0])) << "shared memory and Gloo differ, seed " << seed;
  EXPECT_TRUE(results[2][0].equal(results[3][0])) << "ranks differ over Gloo, seed " << seed;
}

// The gradient one process computes over the whole batch, and the one every
// rank gets from its share through a GradientAverager, for batches that do
// and do not split evenly, one leaving a rank without samples.
TEST(GradientAveragerTest, EveryRankGetsTheWholeBatchGradient) {
  at::manual_seed(5);
  const at::Tensor weight = at::randn({7, 4}, at::kFloat);
  const at::Tensor bias = at::randn({7}, at::kFloat);
  const at::Tensor second = at::randn({1, 7}, at::kFloat);
  const at::Tensor inputs = at::randn({11, 4}, at::kFloat);
  struct Parameters {
    at::Tensor weight, bias, second;
    std::vector<at::Tensor> All() const { return {weight, bias, second}; }
  };
  auto make = [&] {
    return Parameters{weight.clone().set_requires_grad(true), bias.clone().set_requires_grad(true),
                      second.clone().set_requires_grad(true)};
  };
  auto loss_of = [](const Parameters& p, const at::Tensor& x) {
    return at::matmul(at::tanh(at::addmm(p.bias, x, p.weight.t())), p.second.t()).pow(2).mean();
  };
  for (int64_t samples : {int64_t{8}, int64_t{5}, int64_t{2}}) {
    const at::Tensor batch = inputs.narrow(0, 0, samples);
    Parameters whole = make();
    loss_of(whole, batch).backward();
    for (int64_t world_size : {2, 3}) {
      // Small buckets: the three parameters go into more than one.
      RunRanks(world_size, [&](Communicator& group) {
        Parameters mine = make();
        GradientAverager averager(group, mine.All(), /*bucket_bytes=*/32);
        EXPECT_GT(averager.bucket_count(), 1);
        const at::Tensor share = batch.slice(0, group.rank(), samples, world_size);
        averager.StartStep(static_cast<double>(share.size(0)) / samples);
        if (share.size(0) > 0) {
          loss_of(mine, share).backward();
          // Started by the hooks as backward went, not by FinishStep().
          EXPECT_EQ(averager.buckets_started(), averager.bucket_count());
        }
        const absl::Status finished = averager.FinishStep();
        ASSERT_TRUE(finished.ok()) << finished << ", " << samples << " samples over "
                                   << world_size << " ranks, rank " << group.rank();
        for (size_t i = 0; i < 3; ++i) {
          EXPECT_TRUE(at::allclose(mine.All()[i].grad(), whole.All()[i].grad(), 1e-5, 1e-6))
              << "parameter " << i << ", " << samples << " samples over " << world_size
              << " ranks, rank " << group.rank();
        }
      });
    }
  }
}

// Through shared memory float and double grads live in a segment and are
// summed there; other types' weighted gradients go through the all-reduce's
// segment; the step's sums ride in the first bucket. Either way, with 2
// ranks the grads and sums are Gloo's to the bit: for a share that leaves a
// rank more samples than the other and for one that leaves a rank none (its
// parameters get no gradient), over steps whose grads are zeroed in place
// or set to none (replaced by backward's own tensors) in between, and after
// the averager is gone.
TEST(GradientAveragerTest, SharedMemoryAndGlooGiveTheSameGradients) {
  at::manual_seed(11);
  const at::Tensor weight = at::randn({7, 4});
  const at::Tensor bias = at::randn({7});
  const at::Tensor inputs = at::randn({3, 5, 4});
  // Half: a type that does not live in the segment and that Gloo sums.
  for (at::ScalarType type : {at::kFloat, at::kDouble, at::kHalf}) {
    for (int64_t samples : {int64_t{5}, int64_t{1}}) {
      std::vector<std::vector<at::Tensor>> grads(4);  // [shared memory?][rank]: per step
      std::vector<std::vector<double>> sums(4);
      for (bool shared_memory : {true, false}) {
        RunRanks(
            2,
            [&](Communicator& group) {
              ASSERT_EQ(group.all_reduce_in_shared_memory(), shared_memory);
              at::Tensor w = weight.to(type).clone().set_requires_grad(true);
              at::Tensor b = bias.to(type).clone().set_requires_grad(true);
              const size_t slot = (shared_memory ? 0 : 2) + group.rank();
              {
                GradientAverager averager(group, {w, b}, /*bucket_bytes=*/64, /*step_sums=*/3);
                EXPECT_EQ(averager.gradients_in_shared_memory(),
                          shared_memory && type != at::kHalf);
                for (int64_t step = 0; step < 3; ++step) {
                  if (step == 1) {
                    w.mutable_grad() = at::Tensor();
                    b.mutable_grad() = at::Tensor();
                  } else if (w.grad().defined()) {
                    w.mutable_grad().zero_();
                    b.mutable_grad().zero_();
                  }
                  const at::Tensor share =
                      inputs[step].narrow(0, 0, samples).slice(0, group.rank(), samples, 2);
                  averager.StartStep(static_cast<double>(share.size(0)) / samples,
                                     {0.1 * (group.rank() + 1), 3.0 + step, 1e-3});
                  if (share.size(0) > 0) {
                    // Element-wise: LibTorch 1.13 has no half matrix product on the CPU.
                    (at::mul(w, share.to(type).sum(0)).sum(1) + b).pow(2).sum().backward();
                  }
                  std::vector<double> totals;
                  absl::Status finished = averager.FinishStep(&totals);
                  ASSERT_TRUE(finished.ok()) << finished << ", " << at::toString(type) << ", step "
                                             << step << ", rank " << group.rank();
                  if (step < 2) {
                    grads[slot].push_back(w.grad().clone());
                    grads[slot].push_back(b.grad().clone());
                  }
                  sums[slot].insert(sums[slot].end(), totals.begin(), totals.end());
                }
              }
              // The grads outlive the averager (and its segment).
              grads[slot].push_back(w.grad() * 1);
              grads[slot].push_back(b.grad() * 1);
            },
            std::chrono::seconds(30), shared_memory);
      }
      for (size_t slot = 1; slot < 4; ++slot) {
        ASSERT_EQ(grads[slot].size(), 6u);
        for (size_t i = 0; i < 6; ++i) {
          EXPECT_TRUE(grads[slot][i].equal(grads[0][i]))
              << "grad " << i << ", " << at::toString(type) << ", " << samples
              << " samples, result " << slot;
        }
        EXPECT_EQ(sums[slot], sums[0])
            << at::toString(type) << ", " << samples << " samples, result " << slot;
      }
    }
  }
}

// A rank that leaves (here: closes its connections; in a real run, dies)
// makes the next collective fail on the others, naming it, in bounded time.
TEST(CommunicatorTest, AGoneRankIsNamed) {
  const auto start = std::chrono::steady_clock::now();
  RunRanks(
      3,
      [](Communicator& group) {
        std::vector<at::Tensor> value = {at::ones({4})};
        ASSERT_TRUE(group.AllReduceSum(value, "a warm-up").ok());
        if (group.rank() == 2) return;  // leaves: the destructor closes its pairs
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        absl::Status status = group.AllReduceSum(value, "a test tensor");
        ASSERT_FALSE(status.ok());
        EXPECT_NE(status.message().find("rank 2 is gone"), std::string::npos) << status.message();
        EXPECT_NE(status.message().find("the all-reduce of a test tensor"), std::string::npos)
            << status.message();
        // And every later call says the same at once.
        absl::Status again = group.Barrier("after the failure");
        EXPECT_EQ(again, status);
      },
      std::chrono::seconds(20));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(40));
}

}  // namespace
}  // namespace framework
