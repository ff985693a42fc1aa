// Whole-model files: a model's registry name, configuration and weights in
// one file (the torch.save(net) of PyTorch's tutorial, without pickling
// code). Loading rebuilds the model through the registry, so the caller
// need not name its class.
//
// The file is a safetensors file of the state dict whose metadata holds
//   "format": "torchtrain.model", "model_spec": {"name", "config"},
//   "plugin": the source file that registers the model,
//   "input_pipeline" (when known): the data the model was trained on and
//     how its inputs are prepared, {"dataset", "dataset_options",
//     "valid_transforms"}, so evaluating the file needs nothing else;
// so any safetensors reader opens the weights too. A checkpoint's
// model.safetensors is such a file.
#ifndef FRAMEWORK_WEIGHTS_MODEL_FILE_H_
#define FRAMEWORK_WEIGHTS_MODEL_FILE_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "framework/core/device_map.h"
#include "framework/model/model.h"
#include "nlohmann/json.hpp"

namespace framework {

inline constexpr char kModelFileFormat[] = "torchtrain.model";

absl::Status SaveModelFile(const std::string& path, const ModelSpec& spec, const Model& model,
                           const nlohmann::json& input_pipeline = nlohmann::json::object());

// A run's input pipeline as model files record it, from its flags record
// (a checkpoint's): the keys of InputPipelineFlags() that it holds.
nlohmann::json InputPipelineOf(const std::map<std::string, std::string>& run_flags);
// The flags an input pipeline is made of.
const std::vector<std::string>& InputPipelineFlags();

// The input pipeline a model file records; an empty object when none.
absl::StatusOr<nlohmann::json> ReadModelFileInputPipeline(const std::string& path);

// The spec a model file holds, without building the model.
absl::StatusOr<ModelSpec> ReadModelFileSpec(const std::string& path);

// Rebuilds the model the file describes and loads its weights (strictly),
// placed on devices.Map("cpu"), i.e. the run's device by default.
struct LoadedModel {
  ModelSpec spec;
  std::shared_ptr<Model> model;
};
absl::StatusOr<LoadedModel> LoadModelFile(const std::string& path, const DeviceMap& devices);

}  // namespace framework

#endif  // FRAMEWORK_WEIGHTS_MODEL_FILE_H_
