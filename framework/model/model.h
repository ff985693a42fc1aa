// Models: LibTorch modules that are built by registered name from a
// plain-data configuration.
//
// A ModelSpec (name + JSON configuration) is everything needed to rebuild a
// model, so it can be stored next to the weights and a file can be turned back
// into a model without the caller naming its class. A plugin registers its
// factory and declares its options (core/declared_options.h) in one line:
//
//   REGISTER_MODEL("mlp", BuildMlp, WithImageInput(1, {
//       ClassesOption(10, 2),
//       IntListOption("hidden", {256, 128}, "Hidden layer widths.").AtLeast(1),
//   }));
//
// where BuildMlp(const OptionValues&) returns
// absl::StatusOr<std::shared_ptr<framework::Model>>; the framework checks the
// configuration against the declaration (errors name the key), fills in the
// defaults, and lists the options under --helpshort. A model may instead read
// its own configuration, REGISTER_MODEL("tiny", BuildTiny) with
// BuildTiny(const nlohmann::json&) using ConfigReader, as plugins built
// before options were declared do.
#ifndef FRAMEWORK_MODEL_MODEL_H_
#define FRAMEWORK_MODEL_MODEL_H_

#include <functional>
#include <memory>
#include <string>

#include <torch/nn/module.h>
#include <torch/types.h>

#include "absl/status/statusor.h"
#include "framework/core/config_reader.h"
#include "framework/core/declared_options.h"
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

// The same as declared options: the framework sets them from the data set.
// `own` are the model's own options, declared after them.
DeclaredOptions WithImageInput(int64_t min_side, DeclaredOptions own);
// The number of classes (set by the framework from the data set, or --classes).
OptionSpec ClassesOption(int64_t default_value, int64_t min);
ImageInput ImageInputOf(const OptionValues& options);
// True for the options above, which a user does not set in --model_options.
bool IsDataSetOption(const std::string& name);

struct ModelSpec {
  std::string name;
  nlohmann::json config = nlohmann::json::object();

  nlohmann::json ToJson() const;
  static absl::StatusOr<ModelSpec> FromJson(const nlohmann::json& json);
};

// A model that reads its own configuration.
using ModelFactory = std::function<absl::StatusOr<std::shared_ptr<Model>>(
    const nlohmann::json& config)>;
// A model that declares its options, built from their checked values.
using DeclaredModelFactory =
    std::function<absl::StatusOr<std::shared_ptr<Model>>(const OptionValues& options)>;

struct ModelEntry {
  ModelEntry() = default;
  ModelEntry(ModelFactory factory) : reads_own_config(std::move(factory)) {}  // NOLINT
  ModelEntry(DeclaredModelFactory factory, DeclaredOptions declared)
      : build(std::move(factory)), options(std::move(declared)) {}

  bool declares_options() const { return static_cast<bool>(build); }

  ModelFactory reads_own_config;  // or:
  DeclaredModelFactory build;     // with
  DeclaredOptions options;
};

Registry<ModelEntry>& ModelRegistry();

// The options of the registered model `name`, `config` checked against its
// declaration; `where(key)` says where the user set a key. FailedPrecondition
// for a model that reads its own configuration.
absl::StatusOr<OptionValues> ResolveModelOptions(
    const std::string& name, const nlohmann::json& config,
    const std::function<std::string(const std::string& key)>& where);

// Looks the name up and runs its factory; an unknown name lists the
// registered ones, a bad configuration names the model and the option.
absl::StatusOr<std::shared_ptr<Model>> BuildModel(const ModelSpec& spec);

// Number of scalar parameters (not buffers).
int64_t CountParameters(const torch::nn::Module& module);

}  // namespace framework

// REGISTER_MODEL(name, factory, declared_options), or (a model that reads its
// own configuration) REGISTER_MODEL(name, factory).
#define REGISTER_MODEL(name, ...)                                 \
  static ::framework::Registration<::framework::ModelEntry>       \
      FRAMEWORK_REGISTRY_UNIQUE_NAME(model_registration_)(        \
          ::framework::ModelRegistry(), name, ::framework::ModelEntry(__VA_ARGS__), __FILE__)

#endif  // FRAMEWORK_MODEL_MODEL_H_
