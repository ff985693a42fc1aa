#include "framework/distributed/partition_by_bytes.h"

#include <algorithm>
#include <random>

#include "gtest/gtest.h"

namespace framework {
namespace {

TEST(PartitionByBytesTest, LargestFirstToTheLeastLoadedRank) {
  // 60 to rank 0, 50 to rank 1, 40 to rank 1 (90 vs 60)? no: to the least
  // loaded, rank 1 (50) ... then 30 to rank 0 (60), 20 to rank 1 (90 vs 90:
  // the lower rank, 0).
  const std::vector<PartitionItem> items = {
      {"a", 20}, {"b", 60}, {"c", 40}, {"d", 50}, {"e", 30}};
  EXPECT_EQ(PartitionByBytes(items, 2), (std::vector<int64_t>{0, 0, 1, 1, 0}));
  EXPECT_EQ(PartitionByBytes(items, 1), (std::vector<int64_t>(5, 0)));
}

TEST(PartitionByBytesTest, DependsOnNamesAndSizesNotOrder) {
  const unsigned seed = std::random_device()();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 random(seed);
  std::vector<PartitionItem> items;
  for (int i = 0; i < 200; ++i) items.push_back({"t" + std::to_string(i), random() % 5 * 1000});
  const std::vector<int64_t> plan = PartitionByBytes(items, 3);
  std::vector<size_t> shuffled(items.size());
  for (size_t i = 0; i < shuffled.size(); ++i) shuffled[i] = i;
  std::shuffle(shuffled.begin(), shuffled.end(), random);
  std::vector<PartitionItem> reordered;
  for (size_t i : shuffled) reordered.push_back(items[i]);
  const std::vector<int64_t> again = PartitionByBytes(reordered, 3);
  for (size_t i = 0; i < shuffled.size(); ++i) EXPECT_EQ(again[i], plan[shuffled[i]]);
  // Balanced: no rank more than the largest item above the mean.
  std::vector<int64_t> load(3, 0);
  for (size_t i = 0; i < items.size(); ++i) load[plan[i]] += items[i].bytes;
  int64_t total = 0;
  for (int64_t l : load) total += l;
  for (int64_t l : load) EXPECT_LE(l, total / 3 + 4000);
}

}  // namespace
}  // namespace framework
