#include "framework/checkpoint/pytorch_training_checkpoint.h"

#include "gtest/gtest.h"

namespace framework {
namespace {

TEST(PyTorchEpochTest, TheRecipesIndexIsOneLessThanTheEpochsFinished) {
  EXPECT_EQ(*EpochsFinished(0, PyTorchEpoch::kIndex), 1);
  EXPECT_EQ(*EpochsFinished(-1, PyTorchEpoch::kIndex), 0);  // the recipe's start_epoch
  EXPECT_EQ(*EpochsFinished(1, PyTorchEpoch::kCount), 1);
  EXPECT_EQ(PyTorchEpochValue(1, PyTorchEpoch::kIndex), 0);
  EXPECT_EQ(PyTorchEpochValue(1, PyTorchEpoch::kCount), 1);
  for (int64_t finished = 0; finished < 5; ++finished) {
    for (PyTorchEpoch convention : {PyTorchEpoch::kIndex, PyTorchEpoch::kCount}) {
      EXPECT_EQ(*EpochsFinished(PyTorchEpochValue(finished, convention), convention), finished);
    }
  }
}

TEST(PyTorchEpochTest, ValuesNoLoopCanSaveAreRefusedSayingWhy) {
  absl::StatusOr<int64_t> index = EpochsFinished(-2, PyTorchEpoch::kIndex);
  ASSERT_FALSE(index.ok());
  EXPECT_NE(index.status().message().find("'epoch' is -2"), std::string::npos);
  EXPECT_NE(index.status().message().find("must be >= -1"), std::string::npos);
  absl::StatusOr<int64_t> count = EpochsFinished(-1, PyTorchEpoch::kCount);
  ASSERT_FALSE(count.ok());
  EXPECT_NE(count.status().message().find("must be >= 0"), std::string::npos);
}

TEST(PyTorchEpochTest, ParsesTheTwoNamesAndExplainsTheChoiceOtherwise) {
  EXPECT_EQ(*ParsePyTorchEpoch("index"), PyTorchEpoch::kIndex);
  EXPECT_EQ(*ParsePyTorchEpoch("count"), PyTorchEpoch::kCount);
  absl::StatusOr<PyTorchEpoch> bad = ParsePyTorchEpoch("Index");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("got 'Index'"), std::string::npos);
  EXPECT_NE(bad.status().message().find("0-based index of the last finished epoch"),
            std::string::npos);
}

TEST(PyTorchEpochTest, DescribesWhatTheValueMeans) {
  EXPECT_EQ(DescribePyTorchEpoch(0, PyTorchEpoch::kIndex),
            "the recipe's epoch 0 = 1 epoch finished (--pytorch_epoch=index)");
  EXPECT_EQ(DescribePyTorchEpoch(3, PyTorchEpoch::kCount),
            "epoch 3 = 3 epochs finished (--pytorch_epoch=count)");
}

TEST(PyTorchEpochTest, OrdinalsInEnglish) {
  const std::pair<int64_t, const char*> cases[] = {
      {1, "1st"},   {2, "2nd"},   {3, "3rd"},   {4, "4th"},     {11, "11th"},   {12, "12th"},
      {13, "13th"}, {21, "21st"}, {22, "22nd"}, {101, "101st"}, {111, "111th"}, {113, "113th"}};
  for (const auto& [n, text] : cases) EXPECT_EQ(Ordinal(n), text) << n;
}

}  // namespace
}  // namespace framework
