// Optimizers: torch::optim optimizers built by name from plain options.
//
// The optimizer object is LibTorch's own, so its state (momentum buffers,
// Adam moments and step counts) stays reachable through
// torch::optim::Optimizer::state() and param_groups() for checkpoints.
#ifndef FRAMEWORK_OPTIMIZER_H_
#define FRAMEWORK_OPTIMIZER_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <torch/optim/optimizer.h>

#include "absl/status/statusor.h"
#include "framework/registry.h"

namespace framework {

struct OptimizerOptions {
  std::string name = "sgd";
  double lr = 0.01;
  double momentum = 0.0;       // sgd, rmsprop
  double dampening = 0.0;      // sgd
  bool nesterov = false;       // sgd
  double weight_decay = 0.0;   // all; decoupled for adamw
  double beta1 = 0.9;          // adam, adamw
  double beta2 = 0.999;        // adam, adamw
  double eps = 1e-8;           // adam, adamw, rmsprop
  bool amsgrad = false;        // adam, adamw
  double alpha = 0.99;         // rmsprop smoothing constant
  bool centered = false;       // rmsprop
};

using OptimizerFactory =
    std::function<absl::StatusOr<std::unique_ptr<torch::optim::Optimizer>>(
        const OptimizerOptions& options, std::vector<torch::Tensor> parameters)>;

Registry<OptimizerFactory>& OptimizerRegistry();

// Validates the options common to all optimizers (lr > 0, ...), then builds.
absl::StatusOr<std::unique_ptr<torch::optim::Optimizer>> BuildOptimizer(
    const OptimizerOptions& options, std::vector<torch::Tensor> parameters);

// Learning rate of every parameter group, in order.
std::vector<double> GetLearningRates(const torch::optim::Optimizer& optimizer);
void SetLearningRates(torch::optim::Optimizer& optimizer,
                      const std::vector<double>& learning_rates);

}  // namespace framework

#define REGISTER_OPTIMIZER(name, factory)                           \
  static ::framework::Registration<::framework::OptimizerFactory>   \
      FRAMEWORK_REGISTRY_UNIQUE_NAME(optimizer_registration_)(      \
          ::framework::OptimizerRegistry(), name, factory, __FILE__)

#endif  // FRAMEWORK_OPTIMIZER_H_
