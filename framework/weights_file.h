// Model weights from any file the framework understands, recognised by
// content rather than name: a checkpoint directory, a whole-model or plain
// safetensors file, or a PyTorch .pt file (zip; legacy ones are refused).
#ifndef FRAMEWORK_WEIGHTS_FILE_H_
#define FRAMEWORK_WEIGHTS_FILE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "framework/device_map.h"
#include "framework/safetensors.h"

namespace framework {

enum class WeightsFormat { kCheckpoint, kModelFile, kSafetensors, kPyTorch };

const char* WeightsFormatName(WeightsFormat format);

absl::StatusOr<WeightsFormat> DetectWeightsFormat(const std::string& path);

// The model's tensors, placed through `devices`.
absl::StatusOr<std::vector<NamedTensor>> ReadWeights(const std::string& path,
                                                     const DeviceMap& devices);

}  // namespace framework

#endif  // FRAMEWORK_WEIGHTS_FILE_H_
