#include "framework/checkpoint/retention.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace framework {
namespace {

// A valid checkpoint saved at the end of epoch `epoch` with that epoch's
// valid_loss, or in the middle of one (no metrics).
CheckpointInfo Saved(int64_t step, int64_t epoch, bool at_epoch_end, double valid_loss = 0) {
  CheckpointInfo info;
  info.name = "step-" + std::to_string(step);
  info.path = "/run/checkpoints/" + info.name;
  info.step = step;
  CheckpointManifest manifest;
  manifest.position.epoch = epoch;
  manifest.position.batch = at_epoch_end ? 0 : 3;
  for (int64_t e = 1; e <= epoch; ++e) {
    EpochRecord record;
    record.epoch = e;
    if (e == epoch) record.values["valid_loss"] = valid_loss;
    manifest.history.push_back(record);
  }
  info.manifest = manifest;
  return info;
}

std::vector<std::string> Names(const std::vector<const CheckpointInfo*>& doomed) {
  std::vector<std::string> names;
  for (const CheckpointInfo* info : doomed) names.push_back(info->name);
  return names;
}

TEST(RetentionTest, KeepsTheNewestTheBestTheMilestonesAndThePinned) {
  const std::vector<CheckpointInfo> infos = {
      Saved(10, 1, true, 0.9), Saved(15, 1, false), Saved(20, 2, true, 0.5),
      Saved(25, 2, false),     Saved(30, 3, true, 0.7), Saved(35, 3, false),
      Saved(40, 4, true, 0.8), Saved(45, 4, false)};
  RetentionPolicy policy;
  policy.keep_last = 2;
  policy.keep_best = 1;
  policy.keep_every_epochs = 0;
  EXPECT_EQ(Names(CheckpointsToDelete(infos, policy, {})),
            (std::vector<std::string>{"step-10", "step-15", "step-25", "step-30", "step-35"}));
  policy.keep_every_epochs = 3;  // epoch 3's end
  EXPECT_EQ(Names(CheckpointsToDelete(infos, policy, {"/run/checkpoints/step-15"})),
            (std::vector<std::string>{"step-10", "step-25", "step-35"}));
  policy.keep_best = 0;
  policy.keep_every_epochs = 0;
  policy.keep_last = 100;
  EXPECT_TRUE(CheckpointsToDelete(infos, policy, {}).empty());
}

TEST(RetentionTest, TheBestFollowsTheMonitorsDirection) {
  const std::vector<CheckpointInfo> infos = {Saved(10, 1, true, 0.9), Saved(20, 2, true, 0.5),
                                             Saved(30, 3, true, 0.7)};
  RetentionPolicy policy;
  policy.keep_last = 1;
  policy.keep_best = 1;
  policy.maximize = true;  // as for an accuracy
  EXPECT_EQ(Names(CheckpointsToDelete(infos, policy, {})), (std::vector<std::string>{"step-20"}));
  policy.maximize = false;
  EXPECT_EQ(Names(CheckpointsToDelete(infos, policy, {})), (std::vector<std::string>{"step-10"}));
}

TEST(RetentionTest, AnUnreadableCheckpointIsNeverDeletedHere) {
  std::vector<CheckpointInfo> infos = {Saved(10, 1, true, 0.9), Saved(20, 2, true, 0.5)};
  CheckpointInfo unreadable;
  unreadable.name = "step-5";
  unreadable.path = "/run/checkpoints/step-5";
  infos.insert(infos.begin(), unreadable);
  RetentionPolicy policy;
  policy.keep_last = 1;
  policy.keep_best = 0;
  EXPECT_EQ(Names(CheckpointsToDelete(infos, policy, {})), (std::vector<std::string>{"step-10"}));
}

}  // namespace
}  // namespace framework
