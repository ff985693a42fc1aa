#include "framework/checkpoint/tensor_records.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace framework {
namespace {

std::vector<std::string> Names(const TensorRecords& records) {
  std::vector<std::string> names;
  for (const auto& [name, record] : records) names.push_back(name);
  return names;
}

TEST(TensorRecordsTest, AddedInAnyOrderFoundAndListedByName) {
  TensorRecords records;
  records.Add("layer.10.weight", "model.safetensors").checksum = 10;
  records.Add("layer.2.weight", "model.safetensors").checksum = 2;
  records.Add("optimizer.0.0.exp_avg", "state.safetensors").checksum = 7;
  records.Add("layer.1.weight", "model.safetensors").checksum = 1;
  EXPECT_FALSE(records.sorted());
  ASSERT_TRUE(records.SortByName().ok());
  EXPECT_EQ(Names(records), (std::vector<std::string>{"layer.1.weight", "layer.10.weight",
                                                      "layer.2.weight", "optimizer.0.0.exp_avg"}));
  const TensorRecord* found = records.Find("layer.2.weight");
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(found->checksum, 2u);
  EXPECT_EQ(records.file(*found), "model.safetensors");
  EXPECT_EQ(records.file(*records.Find("optimizer.0.0.exp_avg")), "state.safetensors");
  EXPECT_EQ(records.files().size(), 2u);  // a file name held once, however many records
  EXPECT_EQ(records.Find("layer.3.weight"), nullptr);
  EXPECT_EQ(records.Find(""), nullptr);
  EXPECT_EQ(records.Find("zzz"), nullptr);
}

TEST(TensorRecordsTest, InNameOrderNeedsNoSort) {
  TensorRecords records;
  records.Add("a", "model.safetensors");
  records.Add("b", "model.safetensors");
  EXPECT_TRUE(records.sorted());
  EXPECT_NE(records.Find("b"), nullptr);
}

TEST(TensorRecordsTest, ANameAddedTwiceIsNamed) {
  TensorRecords records;
  records.Add("b", "model.safetensors");
  records.Add("a", "model.safetensors");
  records.Add("b", "state.safetensors");
  const absl::Status status = records.SortByName();
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("'b' is listed twice"), std::string::npos) << status;

  // Added in order, the repeat is still noticed.
  TensorRecords in_order;
  in_order.Add("a", "model.safetensors");
  in_order.Add("a", "model.safetensors");
  EXPECT_FALSE(in_order.SortByName().ok());
}

TEST(TensorRecordsTest, MergeTranslatesFilesAndKeepsEveryRecord) {
  TensorRecords rank0;
  rank0.Add("m.b", "model-00000-of-00002.safetensors").checksum = 1;
  rank0.Add("s.a", "state-00000-of-00002.safetensors").checksum = 2;
  TensorRecords rank1;
  rank1.Add("s.b", "state-00001-of-00002.safetensors").checksum = 3;
  rank1.Add("m.a", "model-00001-of-00002.safetensors").checksum = 4;
  rank1.Add("m.c", "model-00000-of-00002.safetensors").checksum = 5;  // a file rank0 named
  TensorRecords all;
  all.Merge(std::move(rank0));
  all.Merge(std::move(rank1));
  EXPECT_TRUE(rank1.empty());
  ASSERT_TRUE(all.SortByName().ok());
  EXPECT_EQ(Names(all), (std::vector<std::string>{"m.a", "m.b", "m.c", "s.a", "s.b"}));
  EXPECT_EQ(all.files().size(), 4u);
  EXPECT_EQ(all.file(*all.Find("m.a")), "model-00001-of-00002.safetensors");
  EXPECT_EQ(all.file(*all.Find("m.b")), "model-00000-of-00002.safetensors");
  EXPECT_EQ(all.file(*all.Find("m.c")), "model-00000-of-00002.safetensors");
  EXPECT_EQ(all.file(*all.Find("s.b")), "state-00001-of-00002.safetensors");
  EXPECT_EQ(all.Find("m.c")->checksum, 5u);

  // The same name from two shares is a repeat.
  TensorRecords twice;
  TensorRecords other;
  twice.Add("x", "model.safetensors");
  other.Add("x", "model.safetensors");
  twice.Merge(std::move(other));
  EXPECT_FALSE(twice.SortByName().ok());
}

}  // namespace
}  // namespace framework
