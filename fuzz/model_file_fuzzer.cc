// Fuzzes whole-model files: the spec in the safetensors metadata, the model
// it rebuilds through the registry (the project's model plugins are linked),
// and the strict load of its weights.
#include <cstdint>
#include <string>

#include "framework/core/device_map.h"
#include "framework/model/model.h"
#include "framework/weights/model_file.h"
#include "fuzz/fuzz_input.h"

namespace {

// A spec may legitimately ask for a model larger than the fuzzer's memory
// limit (that is a request, not a reader bug), so the target builds only
// specs whose numbers stay small.
bool Small(const nlohmann::json& value) {
  if (value.is_number()) return value.get<double>() <= 4096;
  if (value.is_array() && value.size() > 16) return false;
  if (value.is_structured()) {
    for (const auto& item : value) {
      if (!Small(item)) return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzzing::WriteScratchFile(
      "input.model.safetensors", std::string(reinterpret_cast<const char*>(data), size));
  absl::StatusOr<framework::ModelSpec> spec = framework::ReadModelFileSpec(path);
  if (!spec.ok() || !Small(spec->config)) return 0;
  (void)framework::LoadModelFile(path, framework::DeviceMap(c10::Device(c10::kCPU)));
  return 0;
}
