#include "framework/train/training_loop.h"

#include <sstream>

#include <torch/serialize.h>

#include "framework/optim/optimizer.h"
#include "framework/core/random_state.h"
#include "framework/testing/test_task.h"
#include "gtest/gtest.h"

namespace framework {
namespace {

// Stops the loop after a given global step.
class StopAt : public LoopObserver {
 public:
  explicit StopAt(int64_t step) : step_(step) {}
  absl::Status OnStepEnd(TrainingLoop& loop) override {
    ++steps_seen;
    if (loop.position().global_step == step_) loop.RequestStop();
    return absl::OkStatus();
  }
  absl::Status OnEpochEnd(TrainingLoop&, const EpochRecord&) override {
    ++epochs_seen;
    return absl::OkStatus();
  }
  absl::Status OnTrainEnd(TrainingLoop&) override {
    ++ends_seen;
    return absl::OkStatus();
  }
  int steps_seen = 0, epochs_seen = 0, ends_seen = 0;

 private:
  int64_t step_;
};

// A TinyRun whose learning rate halves after every epoch.
testing_task::TinyRun::Schedule StepHalving() {
  return {"step", {{"step_size", 1}, {"gamma", 0.5}}};
}

struct TestRun : testing_task::TinyRun {
  explicit TestRun(const DataSplits& data, int64_t epochs = 3)
      : TinyRun(data, epochs, "sgd", StepHalving()) {}
};

DataSplits SmallData() { return testing_task::TinyData(); }

bool SameParameters(torch::nn::Module& a, torch::nn::Module& b) {
  auto pa = a.named_parameters();
  auto pb = b.named_parameters();
  for (const auto& item : pa) {
    if (!item.value().equal(pb[item.key()])) return false;
  }
  return pa.size() == pb.size();
}

TEST(TrainingLoopTest, TrainsAndRecordsEveryEpoch) {
  DataSplits data = SmallData();
  TestRun run(data);
  StopAt observer(-1);
  run.loop->AddObserver(&observer);
  ASSERT_TRUE(run.loop->Run().ok());
  EXPECT_TRUE(run.loop->finished());
  EXPECT_EQ(observer.steps_seen, 3 * 13);
  EXPECT_EQ(observer.epochs_seen, 3);
  EXPECT_EQ(observer.ends_seen, 1);
  const auto& history = run.loop->history();
  ASSERT_EQ(history.size(), 3u);
  EXPECT_EQ(history[2].step, 39);
  for (const char* key : {"train_loss", "train_acc", "valid_loss", "valid_acc", "lr", "seconds"}) {
    EXPECT_EQ(history[0].values.count(key), 1u) << key;
  }
  // The recorded lr is the one used during the epoch; StepLR halves it after.
  EXPECT_EQ(history[0].values.at("lr"), 0.05);
  EXPECT_EQ(history[1].values.at("lr"), 0.025);
  EXPECT_LT(history[2].values.at("train_loss"), history[0].values.at("train_loss"));
  EXPECT_GT(history[2].values.at("valid_acc"), 0.9);
}

TEST(TrainingLoopTest, StopRequestEndsAfterTheCurrentStep) {
  DataSplits data = SmallData();
  TestRun run(data);
  StopAt observer(17);
  run.loop->AddObserver(&observer);
  ASSERT_TRUE(run.loop->Run().ok());
  EXPECT_FALSE(run.loop->finished());
  EXPECT_EQ(run.loop->position().global_step, 17);
  EXPECT_EQ(run.loop->position().epoch, 1);
  EXPECT_EQ(run.loop->position().batch, 4);
  EXPECT_EQ(run.loop->history().size(), 1u);
}

// The loop's saved position, with model, optimizer, scheduler and generator
// state, continues to exactly the uninterrupted result.
TEST(TrainingLoopTest, RestoredPositionContinuesBitExactly) {
  DataSplits data = SmallData();
  TestRun straight(data);
  ASSERT_TRUE(straight.loop->Run().ok());

  for (int64_t stop_step : {5, 13, 20}) {
    TestRun first(data);
    StopAt stop(stop_step);
    first.loop->AddObserver(&stop);
    ASSERT_TRUE(first.loop->Run().ok());

    std::stringstream model_bytes, optimizer_bytes;
    torch::save(first.model, model_bytes);
    torch::save(*first.optimizer, optimizer_bytes);
    const std::string scheduler_state = first.scheduler->State().dump();
    const std::string position = first.loop->position().ToJson().dump();
    const std::vector<EpochRecord> history = first.loop->history();
    const torch::Tensor generator = GlobalGeneratorState();

    TestRun second(data);  // reseeds the generator and reinitialises the model
    torch::load(second.model, model_bytes);
    torch::load(*second.optimizer, optimizer_bytes);
    ASSERT_TRUE(second.scheduler->LoadState(nlohmann::json::parse(scheduler_state)).ok());
    ASSERT_TRUE(second.loop
                    ->Restore(*LoopPosition::FromJson(nlohmann::json::parse(position)),
                              history)
                    .ok());
    RestoreGlobalGeneratorState(generator);
    ASSERT_TRUE(second.loop->Run().ok());

    EXPECT_TRUE(SameParameters(*second.model, *straight.model)) << "stop at " << stop_step;
    ASSERT_EQ(second.loop->history().size(), straight.loop->history().size());
    for (size_t e = 0; e < straight.loop->history().size(); ++e) {
      auto expected = straight.loop->history()[e].values;
      auto actual = second.loop->history()[e].values;
      expected.erase("seconds");
      actual.erase("seconds");
      EXPECT_EQ(actual, expected) << "stop at " << stop_step << " epoch " << e + 1;
    }
  }
}

TEST(TrainingLoopTest, RestoreRejectsPositionsThatDoNotFit) {
  DataSplits data = SmallData();
  TestRun run(data);
  LoopPosition position;
  position.epoch = 1;
  position.batch = 99;
  position.metric_sums = {0};
  EXPECT_FALSE(run.loop->Restore(position, std::vector<EpochRecord>(1)).ok());
  position.batch = 2;
  EXPECT_FALSE(run.loop->Restore(position, {}).ok());  // history too short
  EXPECT_TRUE(run.loop->Restore(position, std::vector<EpochRecord>(1)).ok());
}

TEST(TrainingLoopTest, TrainerFailureBecomesAStatus) {
  SyntheticOptions options;
  options.height = 4;  // the tiny model expects 8x8 inputs
  options.width = 4;
  DataSplits data = MakeSyntheticDataset(options);
  TestRun run(data);
  absl::Status status = run.loop->Run();
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("training failed at epoch 1 batch 0"), std::string::npos)
      << status;
}

TEST(TrainingLoopTest, PositionAndRecordsRoundTripThroughJson) {
  LoopPosition position;
  position.epoch = 2;
  position.batch = 5;
  position.global_step = 31;
  position.loss_sum = 0.1 + 0.2;
  position.metric_sums = {1.0 / 3};
  position.samples = 80;
  auto parsed = LoopPosition::FromJson(nlohmann::json::parse(position.ToJson().dump()));
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->loss_sum, position.loss_sum);
  EXPECT_EQ(parsed->metric_sums, position.metric_sums);
  EXPECT_FALSE(LoopPosition::FromJson({{"epoch", 1}}).ok());

  EpochRecord record;
  record.epoch = 3;
  record.step = 9;
  record.values = {{"valid_acc", 0.9}, {"lr", 0.01}};
  auto record_parsed = EpochRecord::FromJson(record.ToJson());
  ASSERT_TRUE(record_parsed.ok());
  EXPECT_EQ(record_parsed->values, record.values);
  EXPECT_EQ(record_parsed->step, 9);
}

}  // namespace
}  // namespace framework
