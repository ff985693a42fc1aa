// ZeRO stage 1 (Rajbhandari et al., 2020; PyTorch's ZeroRedundancyOptimizer):
// each data-parallel rank keeps and steps the optimizer state of its own
// partition of the parameters only, then every parameter is broadcast from
// the rank that owns it, so all ranks again hold the same weights. For Adam
// a rank holds 1/N of the two moments instead of all of them.
//
// The optimizer stays one torch::optim::Optimizer over every parameter, in
// the same groups on every rank. A rank steps only its own parameters by
// hiding the others' gradients from step() (LibTorch's optimizers skip a
// parameter without a gradient and create state lazily), and drops whatever
// state it holds for the others (Adagrad creates state for every parameter
// as it is built). Each parameter keeps its "<group>.<index>" identity, so
// the union of the ranks' states is exactly the unsharded optimizer's state:
// a checkpoint holds it whatever the world size, and a resume at any world
// size, sharded or not, takes the part it owns by that identity. Every
// parameter's update is the same arithmetic on the same averaged gradient as
// without sharding, so the weights are bit-identical to the unsharded run.
// Works for every optimizer whose step treats parameters one by one, which
// is every registered one (their state codecs are per parameter).
#ifndef FRAMEWORK_OPTIM_OPTIMIZER_SHARDING_H_
#define FRAMEWORK_OPTIM_OPTIMIZER_SHARDING_H_

#include <cstdint>
#include <string>
#include <vector>

#include <torch/optim/optimizer.h>

#include "absl/status/status.h"
#include "framework/distributed/communicator.h"

namespace framework {

class OptimizerSharding {
 public:
  // The plan for `optimizer`'s parameters over `communicator`'s ranks:
  // balanced by bytes (PartitionByBytes), the same on every rank. Both must
  // outlive this object.
  OptimizerSharding(torch::optim::Optimizer& optimizer, Communicator& communicator);

  // Whether this rank owns parameter `id` ("<group>.<index>", as optimizer
  // state names it); false for an id the optimizer does not have.
  bool Owns(const std::string& id) const;

  // Drops the state of the parameters other ranks own.
  void DropOthersState();
  // One optimizer step of this rank's parameters, then every parameter
  // broadcast from its owner. Gradients are as they were before.
  absl::Status Step();

  // Bytes of this rank's parameters, and of all of them.
  int64_t OwnedParameterBytes() const;
  int64_t ParameterBytes() const;

 private:
  torch::optim::Optimizer& optimizer_;
  Communicator& communicator_;
  std::vector<std::vector<int64_t>> owner_;  // by group, by index
  // Each rank's parameters, to broadcast from it: handles of the
  // parameters themselves (moving a model to another device replaces their
  // data in place, so the handles stay right).
  std::vector<std::vector<at::Tensor>> parameters_by_rank_;
};

}  // namespace framework

#endif  // FRAMEWORK_OPTIM_OPTIMIZER_SHARDING_H_
