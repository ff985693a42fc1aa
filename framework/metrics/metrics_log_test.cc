#include "framework/metrics/metrics_log.h"

#include <fstream>

#include "gtest/gtest.h"

namespace framework {
namespace {

EpochRecord Record(int64_t epoch) {
  EpochRecord record;
  record.epoch = epoch;
  record.step = 10 * epoch;
  record.values = {{"train_loss", 1.0 / epoch}, {"valid_acc", 0.5 + 0.01 * epoch}};
  return record;
}

TEST(MetricsLogTest, WritesOneJsonObjectPerEpoch) {
  const std::string path = testing::TempDir() + "/metrics.jsonl";
  MetricsLog log(path);
  ASSERT_TRUE(log.Reset({Record(1)}).ok());
  // OnEpochEnd does not look at the loop.
  ASSERT_TRUE(log.OnEpochEnd(*static_cast<TrainingLoop*>(nullptr), Record(2)).ok());
  std::ifstream in(path);
  std::string first;
  std::getline(in, first);
  EXPECT_EQ(first, R"({"epoch":1,"step":10,"train_loss":1.0,"valid_acc":0.51})");
  auto records = ReadMetricsLog(path);
  ASSERT_TRUE(records.ok());
  ASSERT_EQ(records->size(), 2u);
  EXPECT_EQ((*records)[1].values, Record(2).values);

  // Reset drops lines beyond the given history.
  ASSERT_TRUE(log.Reset({Record(1)}).ok());
  EXPECT_EQ(ReadMetricsLog(path)->size(), 1u);
}

TEST(MetricsLogTest, BadLinesAndUnwritablePathsAreErrors) {
  const std::string path = testing::TempDir() + "/bad.jsonl";
  std::ofstream(path) << R"({"epoch":1})" << "\n{oops\n";
  auto records = ReadMetricsLog(path);
  ASSERT_FALSE(records.ok());
  EXPECT_NE(records.status().message().find(path + ":2"), std::string::npos);

  MetricsLog unwritable("/nonexistent-dir/metrics.jsonl");
  absl::Status status = unwritable.Reset({});
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("/nonexistent-dir/metrics.jsonl"), std::string::npos);
}

}  // namespace
}  // namespace framework
