// Optimizers: torch::optim optimizers built by registered name.
//
// The optimizer object is LibTorch's own, so its state (momentum buffers,
// Adam moments, step counts) stays reachable through state() and
// param_groups(). Each registration brings the codec that names that state's
// fields, so every registered optimizer can be checkpointed and resumed
// bit-exactly (see optimizer_state.h). A plugin registers with one line:
//
//   REGISTER_OPTIMIZER("adagrad", BuildAdagrad,
//                      (framework::StateCodec<torch::optim::Adagrad, torch::optim::AdagradParamState>(
//                          [](torch::optim::AdagradParamState& s) {
//                            return framework::ParamStateFields{{{"sum", &s.sum(), true}}, &s.step()};
//                          })));
//
// (the codec in parentheses, as its template arguments contain a comma).
#ifndef FRAMEWORK_OPTIM_OPTIMIZER_H_
#define FRAMEWORK_OPTIM_OPTIMIZER_H_

#include <functional>
#include <memory>
#include <string>
#include <typeindex>
#include <typeinfo>
#include <vector>

#include <torch/optim/optimizer.h>

#include "absl/status/statusor.h"
#include "framework/core/registry.h"
#include "nlohmann/json.hpp"

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
  // Options only one optimizer knows (--optimizer_options), read with a
  // ConfigReader so that unknown keys are errors.
  nlohmann::json extra = nlohmann::json::object();
};

using OptimizerFactory =
    std::function<absl::StatusOr<std::unique_ptr<torch::optim::Optimizer>>(
        const OptimizerOptions& options, std::vector<torch::Tensor> parameters)>;

// One parameter's state, field by field: tensors by reference (a required
// field must exist whenever the parameter has state) and the step counter if
// the optimizer keeps one.
struct StateTensorField {
  std::string name;  // e.g. "momentum_buffer"; part of checkpoint tensor names
  at::Tensor* tensor;
  bool required;
};
struct ParamStateFields {
  std::vector<StateTensorField> tensors;
  int64_t* step = nullptr;
};

// How an optimizer type's per-parameter state is read and rebuilt. Matched to
// a live optimizer by its exact type.
struct OptimizerStateCodec {
  std::type_index optimizer_type;
  std::function<std::unique_ptr<torch::optim::OptimizerParamState>()> new_state;
  std::function<ParamStateFields(torch::optim::OptimizerParamState&)> fields;
};

// The codec of optimizer class `OptimizerT`, whose per-parameter state class is
// `ParamStateT`; `fields` lists that class's fields.
template <typename OptimizerT, typename ParamStateT>
OptimizerStateCodec StateCodec(std::function<ParamStateFields(ParamStateT&)> fields) {
  return OptimizerStateCodec{
      std::type_index(typeid(OptimizerT)),
      [] { return std::unique_ptr<torch::optim::OptimizerParamState>(new ParamStateT()); },
      [fields](torch::optim::OptimizerParamState& state) {
        return fields(static_cast<ParamStateT&>(state));
      }};
}

struct OptimizerEntry {
  OptimizerFactory build;
  OptimizerStateCodec state;
};

Registry<OptimizerEntry>& OptimizerRegistry();

// Validates the options common to all optimizers (lr > 0, ...), then builds.
absl::StatusOr<std::unique_ptr<torch::optim::Optimizer>> BuildOptimizer(
    const OptimizerOptions& options, std::vector<torch::Tensor> parameters);

// The state codec registered for `optimizer`'s type.
absl::StatusOr<OptimizerStateCodec> FindStateCodec(const torch::optim::Optimizer& optimizer);

// Learning rate of every parameter group, in order.
std::vector<double> GetLearningRates(const torch::optim::Optimizer& optimizer);
void SetLearningRates(torch::optim::Optimizer& optimizer,
                      const std::vector<double>& learning_rates);

}  // namespace framework

#define REGISTER_OPTIMIZER(name, factory, state_codec)                                      \
  static ::framework::Registration<::framework::OptimizerEntry>                             \
      FRAMEWORK_REGISTRY_UNIQUE_NAME(optimizer_registration_)(                              \
          ::framework::OptimizerRegistry(), name,                                           \
          ::framework::OptimizerEntry{factory, state_codec}, __FILE__)

#endif  // FRAMEWORK_OPTIM_OPTIMIZER_H_
