// Model weights from any file the framework understands, recognised by
// content rather than name. Each format is registered with a function that
// recognises it; the built-in ones are checkpoint directories, whole-model
// files, plain safetensors files and PyTorch .pt files (zip; legacy ones are
// refused with a clear error). A plugin adds a format with
//
//   REGISTER_WEIGHTS_FORMAT("npz", (framework::WeightsFormat{"NumPy .npz", IsNpz, ReadNpz}));
#ifndef FRAMEWORK_WEIGHTS_WEIGHTS_FILE_H_
#define FRAMEWORK_WEIGHTS_WEIGHTS_FILE_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "framework/core/device_map.h"
#include "framework/core/named_tensor.h"
#include "framework/core/registry.h"
#include "framework/model/model.h"

namespace framework {

struct WeightsFormat {
  std::string description;  // for messages, e.g. "PyTorch .pt"
  // True iff `path` is a file (or directory) of this format; looks at as
  // little as it can. At most one registered format may claim a path.
  std::function<bool(const std::string& path)> recognises;
  // The model's tensors, placed through `devices`.
  std::function<absl::StatusOr<std::vector<NamedTensor>>(const std::string& path,
                                                         const DeviceMap& devices)>
      read;
  // The model the file names, for formats that record one; unset otherwise.
  std::function<absl::StatusOr<ModelSpec>(const std::string& path)> read_model_spec;
};

Registry<WeightsFormat>& WeightsFormatRegistry();

// The registered name of `path`'s format ("checkpoint", "pytorch", ...).
absl::StatusOr<std::string> DetectWeightsFormat(const std::string& path);

// The model's tensors, placed through `devices`.
absl::StatusOr<std::vector<NamedTensor>> ReadWeights(const std::string& path,
                                                     const DeviceMap& devices);

}  // namespace framework

#define REGISTER_WEIGHTS_FORMAT(name, format)                          \
  static ::framework::Registration<::framework::WeightsFormat>         \
      FRAMEWORK_REGISTRY_UNIQUE_NAME(weights_format_registration_)(    \
          ::framework::WeightsFormatRegistry(), name, format, __FILE__)

#endif  // FRAMEWORK_WEIGHTS_WEIGHTS_FILE_H_
