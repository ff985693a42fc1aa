// Whole-model files: a model's registry name, configuration and weights in
// one file (the torch.save(net) of PyTorch's tutorial, without pickling
// code). Loading rebuilds the model through the registry, so the caller
// need not name its class.
//
// The file is a safetensors file of the state dict whose metadata holds
//   "format": "torchtrain.model", "model_spec": {"name", "config"},
//   "plugin": the source file that registers the model
// so any safetensors reader opens the weights too. A checkpoint's
// model.safetensors is such a file.
#ifndef FRAMEWORK_WEIGHTS_MODEL_FILE_H_
#define FRAMEWORK_WEIGHTS_MODEL_FILE_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "framework/core/device_map.h"
#include "framework/model/model.h"

namespace framework {

inline constexpr char kModelFileFormat[] = "torchtrain.model";

absl::Status SaveModelFile(const std::string& path, const ModelSpec& spec, const Model& model);

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
