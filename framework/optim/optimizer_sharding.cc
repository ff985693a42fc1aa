#include "framework/optim/optimizer_sharding.h"

#include <cstdio>
#include <utility>

#include <torch/types.h>

#include "absl/strings/str_cat.h"
#include "framework/distributed/partition_by_bytes.h"
#include "framework/optim/optimizer.h"
#include "glog/logging.h"

namespace framework {

OptimizerSharding::OptimizerSharding(torch::optim::Optimizer& optimizer,
                                     Communicator& communicator)
    : optimizer_(optimizer), communicator_(communicator) {
  std::vector<PartitionItem> items;
  for (size_t g = 0; g < optimizer.param_groups().size(); ++g) {
    const std::vector<at::Tensor>& params = optimizer.param_groups()[g].params();
    for (size_t i = 0; i < params.size(); ++i) {
      items.push_back({absl::StrCat(g, ".", i), static_cast<int64_t>(params[i].nbytes())});
    }
  }
  const std::vector<int64_t> owners = PartitionByBytes(items, communicator.world_size());
  parameters_by_rank_.resize(static_cast<size_t>(communicator.world_size()));
  size_t next = 0;
  for (const torch::optim::OptimizerParamGroup& group : optimizer.param_groups()) {
    owner_.emplace_back();
    for (const at::Tensor& parameter : group.params()) {
      const int64_t rank = owners[next++];
      owner_.back().push_back(rank);
      parameters_by_rank_[static_cast<size_t>(rank)].push_back(parameter);
    }
  }
}

bool OptimizerSharding::Owns(const std::string& id) const {
  size_t g = 0, i = 0;
  char rest = 0;
  if (std::sscanf(id.c_str(), "%zu.%zu%c", &g, &i, &rest) != 2 || g >= owner_.size() ||
      i >= owner_[g].size()) {
    return false;
  }
  return owner_[g][i] == communicator_.rank();
}

void OptimizerSharding::DropOthersState() {
  const auto& groups = optimizer_.param_groups();
  for (size_t g = 0; g < groups.size(); ++g) {
    for (size_t i = 0; i < groups[g].params().size(); ++i) {
      if (owner_[g][i] != communicator_.rank()) {
        optimizer_.state().erase(OptimizerStateKey(groups[g].params()[i]));
      }
    }
  }
}

absl::Status OptimizerSharding::Step() {
  // The others' gradients are set aside for the step and put back after,
  // so that clipping, observers and the next accumulation see all of them.
  std::vector<std::pair<at::Tensor, at::Tensor>> hidden;
  auto& groups = optimizer_.param_groups();
  for (size_t g = 0; g < groups.size(); ++g) {
    for (size_t i = 0; i < groups[g].params().size(); ++i) {
      at::Tensor& parameter = groups[g].params()[i];
      if (owner_[g][i] == communicator_.rank() || !parameter.grad().defined()) continue;
      hidden.emplace_back(parameter, parameter.grad());
      parameter.mutable_grad() = at::Tensor();
    }
  }
  optimizer_.step();
  for (auto& [parameter, gradient] : hidden) parameter.mutable_grad() = std::move(gradient);
  // In place, as the loop's first broadcast of the parameters is.
  torch::NoGradGuard no_grad;
  for (int64_t rank = 0; rank < communicator_.world_size(); ++rank) {
    absl::Status status = communicator_.Broadcast(parameters_by_rank_[static_cast<size_t>(rank)],
                                                  rank,
                                                  "the parameters rank " + std::to_string(rank) +
                                                      " stepped");
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

int64_t OptimizerSharding::OwnedParameterBytes() const {
  int64_t bytes = 0;
  const size_t rank = static_cast<size_t>(communicator_.rank());
  for (const at::Tensor& parameter : parameters_by_rank_[rank]) {
    bytes += static_cast<int64_t>(parameter.nbytes());
  }
  return bytes;
}

int64_t OptimizerSharding::ParameterBytes() const {
  int64_t bytes = 0;
  for (const torch::optim::OptimizerParamGroup& group : optimizer_.param_groups()) {
    for (const at::Tensor& parameter : group.params()) {
      bytes += static_cast<int64_t>(parameter.nbytes());
    }
  }
  return bytes;
}

}  // namespace framework
