// Which model a weights file holds, for the tools that rebuild one
// (evaluate, sample): --model with --model_options (checked against the
// model's declared options) when given, otherwise what the file records
// (checkpoints and whole-model files name their model; .pt and safetensors
// files do not, and need --model).
#ifndef TOOLS_MODEL_SPEC_FLAGS_H_
#define TOOLS_MODEL_SPEC_FLAGS_H_

#include <string>

#include "absl/status/statusor.h"
#include "framework/model/model.h"
#include "framework/weights/weights_file.h"

namespace framework {

// `model` and `model_options` are the flags' values; errors name the flag.
absl::StatusOr<ModelSpec> ModelSpecFromFlags(const std::string& path, const WeightsFormat& format,
                                             const std::string& model,
                                             const std::string& model_options);

}  // namespace framework

#endif  // TOOLS_MODEL_SPEC_FLAGS_H_
