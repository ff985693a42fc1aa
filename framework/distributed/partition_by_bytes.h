// Which rank holds each of a set of replicated items (tensors), balanced by
// bytes: the plan for who writes what of a data-parallel checkpoint, and
// for whose optimizer state is whose when it is sharded.
//
// The rule is PyTorch's distributed checkpoint's (each item to the rank with
// the fewest bytes so far), taken in order of size, largest first (which
// bounds the largest share by 4/3 of the best possible), ties by name, then
// by the lower rank. It depends only on the items' names and sizes, so every
// rank computes the same plan without talking to the others.
#ifndef FRAMEWORK_DISTRIBUTED_PARTITION_BY_BYTES_H_
#define FRAMEWORK_DISTRIBUTED_PARTITION_BY_BYTES_H_

#include <cstdint>
#include <string>
#include <vector>

namespace framework {

struct PartitionItem {
  std::string name;
  int64_t bytes = 0;
};

// The rank (0 .. ranks-1) of each item, in the items' order.
std::vector<int64_t> PartitionByBytes(const std::vector<PartitionItem>& items, int64_t ranks);

}  // namespace framework

#endif  // FRAMEWORK_DISTRIBUTED_PARTITION_BY_BYTES_H_
