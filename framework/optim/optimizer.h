// Optimizers: torch::optim optimizers built by registered name.
//
// The optimizer object is LibTorch's own, so its state (momentum buffers,
// Adam moments, step counts) stays reachable through state() and
// param_groups(). Each registration brings the codec that names that state's
// fields, so every registered optimizer can be checkpointed and resumed
// bit-exactly (see optimizer_state.h), and declares its options once (name,
// type, default, range, help, PyTorch param_groups key), which is all the
// framework needs to check, list, record, compare and export them. A plugin
// registers with one statement (plugins/optimizers/adagrad.cc):
//
//   REGISTER_OPTIMIZER("adagrad", BuildAdagrad,
//                      (framework::StateCodec<torch::optim::Adagrad, torch::optim::AdagradParamState>(
//                          AdagradFields)),
//                      kAdagradOptions);
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
#include "framework/core/declared_options.h"
#include "framework/core/registry.h"
#include "nlohmann/json.hpp"

namespace framework {

// Builds an optimizer over `parameters` from its declared options, already
// checked and with defaults filled in (see core/declared_options.h).
using OptimizerFactory =
    std::function<absl::StatusOr<std::unique_ptr<torch::optim::Optimizer>>(
        const OptionValues& options, std::vector<torch::Tensor> parameters)>;

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
  // Every option the optimizer takes, each with its PyTorch param_groups key.
  DeclaredOptions options;
};

Registry<OptimizerEntry>& OptimizerRegistry();

// The registered optimizer `name`'s options from `given` (see ResolveOptions
// for `where`).
absl::StatusOr<OptionValues> ResolveOptimizerOptions(
    const std::string& name, const nlohmann::json& given,
    const std::function<std::string(const std::string& key)>& where);

// Builds the registered optimizer `name` with its resolved options.
absl::StatusOr<std::unique_ptr<torch::optim::Optimizer>> BuildOptimizer(
    const std::string& name, const OptionValues& options, std::vector<torch::Tensor> parameters);

// Resolves `given` (errors name its keys) and builds: for tests and tools.
absl::StatusOr<std::unique_ptr<torch::optim::Optimizer>> BuildOptimizer(
    const std::string& name, const nlohmann::json& given, std::vector<torch::Tensor> parameters);

// The parameters weight decay applies to: all of them, or, as nanoGPT's
// configure_optimizers and timm's param_groups_weight_decay group them, the
// matrices only (parameters of two or more dimensions: linear and embedding
// weights, convolution kernels), not biases and normalisation weights.
enum class DecayedParameters { kAll, kMatrices };
// "all" or "matrices"; the error says what each means.
absl::StatusOr<DecayedParameters> ParseDecayedParameters(const std::string& text);
const char* DecayedParametersName(DecayedParameters which);

// The optimizer's parameter groups for `which`, as indices into
// `parameters`: one group of all of them, or group 0 the matrices and
// group 1 the rest, each in the given order.
std::vector<std::vector<int64_t>> DecayGroups(const std::vector<torch::Tensor>& parameters,
                                              DecayedParameters which);

// Builds `name` over `parameters` grouped as DecayGroups says: group 0 with
// `options`, group 1 with the same options but the one PyTorch calls
// weight_decay at 0. An optimizer without such an option is refused.
absl::StatusOr<std::unique_ptr<torch::optim::Optimizer>> BuildOptimizer(
    const std::string& name, const OptionValues& options, std::vector<torch::Tensor> parameters,
    DecayedParameters which);

// The name of `optimizer_name`'s option whose PyTorch key is weight_decay.
absl::StatusOr<std::string> WeightDecayOption(const std::string& optimizer_name);

// The state codec registered for `optimizer`'s type.
absl::StatusOr<OptimizerStateCodec> FindStateCodec(const torch::optim::Optimizer& optimizer);

// The key of `parameter`'s entry in a LibTorch optimizer's state(): the
// address of its TensorImpl.
std::string OptimizerStateKey(const at::Tensor& parameter);

// Bytes of the tensors of `optimizer`'s state (its moments, buffers...), by
// its registered codec.
absl::StatusOr<int64_t> OptimizerStateBytes(const torch::optim::Optimizer& optimizer);

// Learning rate of every parameter group, in order.
std::vector<double> GetLearningRates(const torch::optim::Optimizer& optimizer);
void SetLearningRates(torch::optim::Optimizer& optimizer,
                      const std::vector<double>& learning_rates);

}  // namespace framework

#define REGISTER_OPTIMIZER(name, factory, state_codec, declared_options)                    \
  static ::framework::Registration<::framework::OptimizerEntry>                             \
      FRAMEWORK_REGISTRY_UNIQUE_NAME(optimizer_registration_)(                              \
          ::framework::OptimizerRegistry(), name,                                           \
          ::framework::OptimizerEntry{factory, state_codec, declared_options}, __FILE__)

#endif  // FRAMEWORK_OPTIM_OPTIMIZER_H_
