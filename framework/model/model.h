// Models: LibTorch modules that are built by registered name from a
// plain-data configuration.
//
// A ModelSpec (name + JSON configuration) is everything needed to rebuild a
// model, so it can be stored next to the weights and a file can be turned back
// into a model without the caller naming its class. Plugins register a
// factory with one line:
//
//   REGISTER_MODEL("lenet", BuildLeNet);
//
// where BuildLeNet(const nlohmann::json&) returns
// absl::StatusOr<std::shared_ptr<framework::Model>>.
#ifndef FRAMEWORK_MODEL_MODEL_H_
#define FRAMEWORK_MODEL_MODEL_H_

#include <functional>
#include <memory>
#include <string>

#include <torch/nn/module.h>
#include <torch/types.h>

#include "absl/status/statusor.h"
#include "framework/core/config_reader.h"
#include "framework/core/registry.h"
#include "nlohmann/json.hpp"

namespace framework {

class Model : public torch::nn::Module {
 public:
  virtual torch::Tensor forward(torch::Tensor input) = 0;
};

// Keys the framework fills in from the data set before building a model;
// a model reads those it needs and may take others from --model_options.
inline constexpr char kInputChannelsKey[] = "input_channels";
inline constexpr char kInputHeightKey[] = "input_height";
inline constexpr char kInputWidthKey[] = "input_width";
inline constexpr char kClassesKey[] = "classes";

// The image shape the framework puts into every model configuration, read
// with defaults (1x28x28) and a smallest side the model can handle.
struct ImageInput {
  int64_t channels = 1;
  int64_t height = 28;
  int64_t width = 28;
  int64_t elements() const { return channels * height * width; }
};
absl::StatusOr<ImageInput> ReadImageInput(ConfigReader& reader, int64_t min_side);

struct ModelSpec {
  std::string name;
  nlohmann::json config = nlohmann::json::object();

  nlohmann::json ToJson() const;
  static absl::StatusOr<ModelSpec> FromJson(const nlohmann::json& json);
};

using ModelFactory = std::function<absl::StatusOr<std::shared_ptr<Model>>(
    const nlohmann::json& config)>;

Registry<ModelFactory>& ModelRegistry();

// Looks the name up and runs its factory; an unknown name lists the
// registered ones, a bad configuration names the model and the option.
absl::StatusOr<std::shared_ptr<Model>> BuildModel(const ModelSpec& spec);

// Number of scalar parameters (not buffers).
int64_t CountParameters(const torch::nn::Module& module);

}  // namespace framework

#define REGISTER_MODEL(name, factory)                             \
  static ::framework::Registration<::framework::ModelFactory>     \
      FRAMEWORK_REGISTRY_UNIQUE_NAME(model_registration_)(        \
          ::framework::ModelRegistry(), name, factory, __FILE__)

#endif  // FRAMEWORK_MODEL_MODEL_H_
