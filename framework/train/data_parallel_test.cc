// The training loop across ranks (threads meeting through a file store):
// what the world size must not change.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <thread>

#include "framework/core/random_state.h"
#include "framework/distributed/communicator.h"
#include "framework/optim/optimizer.h"
#include "framework/testing/test_task.h"
#include "framework/train/callback.h"
#include "framework/train/training_loop.h"
#include "gtest/gtest.h"

namespace framework {
namespace {

using testing_task::TinyModel;
using testing_task::TinyTrainer;

struct RunResult {
  std::vector<at::Tensor> parameters;
  std::vector<EpochRecord> history;
  LoopPosition position;
  int64_t state_bytes = 0;  // of optimizer state
  bool sharded = false;
};

// Trains TinyModel (no dropout) with a global batch of `batch_size` over
// `world_size` ranks for `epochs`, and returns each rank's result. Every rank
// builds its model from a different seed: only rank 0's may count.
struct OptimizerChoice {
  std::string name = "sgd";
  nlohmann::json options = {{"lr", 0.1}, {"momentum", 0.9}};
  bool sharded = false;  // ZeRO-1
};

std::vector<RunResult> Train(int64_t world_size, int64_t batch_size, int64_t epochs,
                             const std::function<void(int64_t rank, TrainingLoop&)>& prepare = {},
                             int64_t accumulate_batches = 1,
                             const OptimizerChoice& optimizer_choice = OptimizerChoice()) {
  static int run = 0;
  const std::string store =
      std::string(std::getenv("TEST_TMPDIR")) + "/dp-store-" + std::to_string(run++);
  const DataSplits data = testing_task::TinyData();
  std::vector<std::shared_ptr<TinyModel>> models;
  for (int64_t rank = 0; rank < world_size; ++rank) {
    SeedGlobalGenerator(100 + rank);
    models.push_back(std::make_shared<TinyModel>(/*dropout=*/0.0));
  }
  std::vector<RunResult> results(world_size);
  std::vector<std::thread> threads;
  for (int64_t rank = 0; rank < world_size; ++rank) {
    threads.emplace_back([&, rank] {
      CommunicatorOptions communicator_options;
      communicator_options.timeout = std::chrono::seconds(60);
      std::unique_ptr<Communicator> communicator;
      if (world_size > 1) {
        absl::StatusOr<std::unique_ptr<Communicator>> connected =
            Communicator::ConnectThroughFile(store, rank, world_size, communicator_options);
        ASSERT_TRUE(connected.ok()) << connected.status();
        communicator = *std::move(connected);
      }
      TinyTrainer trainer;
      std::unique_ptr<torch::optim::Optimizer> optimizer = *BuildOptimizer(
          optimizer_choice.name, optimizer_choice.options, models[rank]->parameters());
      const testing_task::TinyRun::Schedule schedule = testing_task::TinyRun::WarmupCosine();
      ScheduleSettings settings;
      settings.epochs = epochs;
      settings.warmup_epochs = schedule.warmup_epochs;
      std::unique_ptr<LrScheduler> scheduler =
          *BuildScheduler(schedule.name, schedule.options, *optimizer, settings);
      LoopOptions options;
      options.epochs = epochs;
      options.batch_size = batch_size;
      options.eval_batch_size = 30;
      options.seed = 3;
      options.log_interval = 0;
      options.monitor = "valid_loss";
      options.communicator = communicator.get();
      options.bucket_bytes = 1024;  // several buckets
      options.accumulate_batches = accumulate_batches;
      options.shard_optimizer_state = optimizer_choice.sharded;
      TrainingLoop loop(options, *models[rank], trainer, *optimizer, scheduler.get(),
                        data.train, data.valid);
      if (prepare) prepare(rank, loop);
      absl::Status status = loop.Run();
      ASSERT_TRUE(status.ok()) << status;
      for (const at::Tensor& parameter : models[rank]->parameters()) {
        results[rank].parameters.push_back(parameter.detach().clone());
      }
      results[rank].history = loop.history();
      results[rank].state_bytes = *OptimizerStateBytes(*optimizer);
      results[rank].sharded = loop.optimizer_sharding() != nullptr;
      results[rank].position = loop.position();
    });
  }
  for (std::thread& thread : threads) thread.join();
  return results;
}

double MaxDifference(const std::vector<at::Tensor>& a, const std::vector<at::Tensor>& b) {
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    worst = std::max(worst, (a[i] - b[i]).abs().max().item<double>());
  }
  return worst;
}

void ExpectSameRun(const RunResult& single, const RunResult& parallel, int64_t world_size) {
  EXPECT_LT(MaxDifference(single.parameters, parallel.parameters), 1e-5) << world_size << " ranks";
  ASSERT_EQ(single.history.size(), parallel.history.size());
  for (size_t e = 0; e < single.history.size(); ++e) {
    for (const auto& [name, value] : single.history[e].values) {
      if (name == "seconds") continue;
      const double tolerance = name.find("acc") != std::string::npos ? 0.005 : 1e-4;
      EXPECT_NEAR(value, parallel.history[e].values.at(name), tolerance)
          << name << " of epoch " << e + 1 << ", " << world_size << " ranks";
    }
  }
  EXPECT_EQ(single.position.global_step, parallel.position.global_step);
}

// 200 samples in global batches of 64: 4 steps an epoch, the last of 8
// samples; 5 epochs are 20 steps.
TEST(DataParallelTest, TwoRanksOfHalfTheBatchTrainAsOneRankOfAll) {
  const std::vector<RunResult> single = Train(1, 64, 5);
  const std::vector<RunResult> parallel = Train(2, 64, 5);
  ASSERT_EQ(single[0].position.global_step, 20);
  ExpectSameRun(single[0], parallel[0], 2);
  // The ranks hold the same weights, to the bit.
  EXPECT_EQ(MaxDifference(parallel[0].parameters, parallel[1].parameters), 0.0);
}

// 200 samples in batches of 63: the last batch of 11 splits 4, 4, 3, so the
// ranks' gradients must be weighted by their shares.
TEST(DataParallelTest, UnevenLastBatchOverThreeRanks) {
  const std::vector<RunResult> single = Train(1, 63, 2);
  const std::vector<RunResult> parallel = Train(3, 63, 2);
  ExpectSameRun(single[0], parallel[0], 3);
  EXPECT_EQ(MaxDifference(parallel[0].parameters, parallel[2].parameters), 0.0);
}

// Gradient accumulation: one rank's batch of 64 as 4 micro-batches of 16,
// and 2 ranks x 2 micro-batches of 16, train as one pass over 64 (the last
// batch of 8 splits into micro-batches of 2).
TEST(DataParallelTest, AccumulatedMicroBatchesTrainAsTheWholeBatch) {
  const std::vector<RunResult> whole = Train(1, 64, 5);
  const std::vector<RunResult> accumulated = Train(1, 64, 5, {}, /*accumulate_batches=*/4);
  const std::vector<RunResult> both = Train(2, 64, 5, {}, /*accumulate_batches=*/2);
  ASSERT_EQ(accumulated[0].position.global_step, 20);
  ASSERT_EQ(both[0].position.global_step, 20);
  ExpectSameRun(whole[0], accumulated[0], 1);
  ExpectSameRun(whole[0], both[0], 2);
  std::printf("max |w - w'| after 20 steps: 1 x 4 x 16 %g, 2 x 2 x 16 %g\n",
              MaxDifference(whole[0].parameters, accumulated[0].parameters),
              MaxDifference(whole[0].parameters, both[0].parameters));
  // Not equal to the bit (the sums are rounded in another order), so the
  // micro-batches were really taken apart.
  EXPECT_GT(MaxDifference(whole[0].parameters, accumulated[0].parameters), 0.0);
  EXPECT_EQ(MaxDifference(both[0].parameters, both[1].parameters), 0.0);
}

// Early stopping under data parallelism: every rank sees the same validation
// values and ends after the same epoch.
TEST(DataParallelTest, EarlyStoppingEndsEveryRankAfterTheSameEpoch) {
  std::vector<std::unique_ptr<Callback>> callbacks(2);
  const std::vector<RunResult> results = Train(2, 64, 20, [&](int64_t rank, TrainingLoop& loop) {
    CallbackContext context;
    context.name = "early_stopping";
    context.options = *ResolveCallbackOptions("early_stopping", {{"patience", 2}, {"min_delta", 0.05}},
                                              [](const std::string& key) { return key; });
    context.monitor = "valid_loss";
    absl::StatusOr<std::unique_ptr<Callback>> built = BuildCallback(context);
    ASSERT_TRUE(built.ok()) << built.status();
    callbacks[rank] = *std::move(built);
    loop.AddCallback("early_stopping", callbacks[rank].get());
  });
  std::printf("ended after epoch %lld of 20: %s\n",
              static_cast<long long>(results[0].position.epoch),
              results[0].position.ended_early.c_str());
  ASSERT_FALSE(results[0].position.ended_early.empty());
  EXPECT_LT(results[0].position.epoch, 20);
  EXPECT_EQ(results[0].position.epoch, results[1].position.epoch);
  EXPECT_EQ(results[0].position.ended_early, results[1].position.ended_early);
  EXPECT_EQ(MaxDifference(results[0].parameters, results[1].parameters), 0.0);
}

// A stop requested on one rank stops every rank after the same step.
TEST(DataParallelTest, AStopOnOneRankStopsAllAtTheSameStep) {
  testing_task::StopAfterStep stop(6);
  const std::vector<RunResult> results = Train(2, 64, 5, [&](int64_t rank, TrainingLoop& loop) {
    if (rank == 1) loop.AddObserver(&stop);
  });
  // Rank 1 asked at the end of step 6; everyone heard it in step 7's vote.
  EXPECT_EQ(results[1].position.global_step, 7);
  EXPECT_EQ(results[0].position.global_step, 7);
  EXPECT_EQ(MaxDifference(results[0].parameters, results[1].parameters), 0.0);
}

// ZeRO-1 in the loop: 2 ranks each stepping their share of the parameters
// train the weights of the unsharded 2-rank run to the bit, and hold the
// optimizer state between them (TinyModel's hidden weight is 92% of its
// bytes, so the shares are not even: optimizer_sharding_test checks the
// balance).
TEST(DataParallelTest, ShardedOptimizerStateTrainsTheUnshardedWeights) {
  for (const OptimizerChoice& base : {OptimizerChoice{"adam", {{"lr", 0.01}}},
                                      OptimizerChoice{"sgd", {{"lr", 0.1}, {"momentum", 0.9}}}}) {
    SCOPED_TRACE(base.name);
    OptimizerChoice sharded = base;
    sharded.sharded = true;
    const std::vector<RunResult> plain = Train(2, 64, 3, {}, 1, base);
    const std::vector<RunResult> zero = Train(2, 64, 3, {}, 1, sharded);
    ASSERT_EQ(zero[0].position.global_step, 12);
    ASSERT_TRUE(zero[0].sharded && zero[1].sharded && !plain[0].sharded);
    for (int r = 0; r < 2; ++r) {
      EXPECT_EQ(MaxDifference(plain[r].parameters, zero[r].parameters), 0.0) << "rank " << r;
    }
    EXPECT_EQ(zero[0].state_bytes + zero[1].state_bytes, plain[0].state_bytes);
    std::printf("%s optimizer state: %lld bytes unsharded, %lld + %lld sharded\n",
                base.name.c_str(), static_cast<long long>(plain[0].state_bytes),
                static_cast<long long>(zero[0].state_bytes),
                static_cast<long long>(zero[1].state_bytes));
    for (int r = 0; r < 2; ++r) EXPECT_GT(zero[r].state_bytes, 0) << "rank " << r;
  }
}

}  // namespace
}  // namespace framework
