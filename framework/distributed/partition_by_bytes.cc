#include "framework/distributed/partition_by_bytes.h"

#include <algorithm>
#include <numeric>

#include "glog/logging.h"

namespace framework {

std::vector<int64_t> PartitionByBytes(const std::vector<PartitionItem>& items, int64_t ranks) {
  CHECK_GE(ranks, 1);
  std::vector<size_t> order(items.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (items[a].bytes != items[b].bytes) return items[a].bytes > items[b].bytes;
    if (items[a].name != items[b].name) return items[a].name < items[b].name;
    return a < b;
  });
  std::vector<int64_t> owner(items.size(), 0);
  std::vector<int64_t> load(static_cast<size_t>(ranks), 0);
  for (size_t index : order) {
    const int64_t rank = std::min_element(load.begin(), load.end()) - load.begin();
    owner[index] = rank;
    load[static_cast<size_t>(rank)] += items[index].bytes;
  }
  return owner;
}

}  // namespace framework
