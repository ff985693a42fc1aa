// Callbacks' state through a checkpoint: values and tensors saved under the
// callback's name come back to it, and a checkpoint that holds state for a
// callback the run does not load (or lacks state for one it does) is refused
// naming the callback.
#include "framework/checkpoint/training_state_capture.h"

#include <string>

#include <torch/types.h>

#include "framework/checkpoint/checkpoint.h"
#include "framework/testing/test_task.h"
#include "framework/train/callback.h"
#include "gtest/gtest.h"

namespace framework {
namespace {

// Counts steps and keeps a tensor that changes with them.
class Counter : public Callback {
 public:
  absl::Status AfterOptimizerStep(TrainingLoop& loop) override {
    ++steps;
    total += 0.5;
    return absl::OkStatus();
  }
  CallbackState State() const override {
    CallbackState state;
    state.values = {{"steps", steps}};
    state.tensors = {{"total", total}};
    return state;
  }
  absl::Status LoadState(const CallbackState& state, const std::string& source) override {
    steps = state.values.at("steps").get<int64_t>();
    EXPECT_EQ(state.tensors.size(), 1u);
    EXPECT_EQ(state.tensors[0].name, "total");
    total.copy_(state.tensors[0].tensor);
    return absl::OkStatus();
  }
  int64_t steps = 0;
  at::Tensor total = torch::zeros({2, 3}, torch::kFloat64);
};

TEST(TrainingStateCaptureTest, CallbackStateGoesThroughACheckpoint) {
  const DataSplits data = testing_task::TinyData();
  testing_task::TinyRun run(data, /*epochs=*/1);
  Counter counter;
  run.loop->AddCallback("counter", &counter);
  ASSERT_TRUE(run.loop->Run().ok());
  ASSERT_EQ(counter.steps, 13);
  absl::StatusOr<TrainingState> state = CaptureTrainingState(*run.loop, testing_task::TinySpec(), {});
  ASSERT_TRUE(state.ok()) << state.status();
  const std::string dir = ::testing::TempDir() + "/step-13";
  ASSERT_TRUE(WriteCheckpoint(dir, *state).ok());
  absl::StatusOr<TrainingState> read = ReadCheckpoint(dir, DeviceMap(torch::kCPU));
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_EQ(read->callback_tensors.size(), 1u);
  EXPECT_EQ(read->callback_tensors[0].name, "callback.counter.total");
  EXPECT_EQ(read->callbacks.at("counter"), nlohmann::json({{"steps", 13}}));

  testing_task::TinyRun resumed(data, /*epochs=*/1);
  Counter fresh;
  resumed.loop->AddCallback("counter", &fresh);
  ASSERT_TRUE(RestoreTrainingState(*read, *resumed.loop, dir).ok());
  EXPECT_EQ(fresh.steps, 13);
  EXPECT_TRUE(fresh.total.equal(torch::full({2, 3}, 6.5, torch::kFloat64)));

  // The checkpoint's callback is not loaded.
  testing_task::TinyRun without(data, 1);
  absl::Status refused = RestoreTrainingState(*read, *without.loop, dir);
  EXPECT_TRUE(absl::IsFailedPrecondition(refused)) << refused;
  EXPECT_NE(refused.message().find("holds the state of callback 'counter', which this run does "
                                   "not load (its callbacks: none)"),
            std::string::npos)
      << refused;

  // The run loads a callback the checkpoint has no state for.
  testing_task::TinyRun more(data, 1);
  Counter first, second;
  more.loop->AddCallback("counter", &first);
  more.loop->AddCallback("other", &second);
  refused = RestoreTrainingState(*read, *more.loop, dir);
  EXPECT_NE(refused.message().find("holds no state for callback 'other'"), std::string::npos)
      << refused;
}

}  // namespace
}  // namespace framework
