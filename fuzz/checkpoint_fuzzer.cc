// Fuzzes reading a checkpoint directory. The input holds its three files,
// checkpoint.json, model.safetensors and state.safetensors, in that order,
// separated by fuzzing::kFileSeparator. The manifest's own checksum is
// recomputed (SealManifestText) before reading, so that mutations reach the
// manifest parser and the checks behind it instead of all failing that CRC.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "framework/checkpoint/checkpoint.h"
#include "framework/core/device_map.h"
#include "fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<std::string> files = fuzzing::SplitInput(data, size, 3);
  const std::string dir = fuzzing::ScratchDirectory() + "/step-0000000001";
  std::filesystem::create_directories(dir);
  fuzzing::WriteScratchFile("step-0000000001/checkpoint.json", framework::SealManifestText(files[0]));
  fuzzing::WriteScratchFile("step-0000000001/model.safetensors", files[1]);
  fuzzing::WriteScratchFile("step-0000000001/state.safetensors", files[2]);
  (void)framework::ReadCheckpointManifest(dir);
  (void)framework::VerifyCheckpoint(dir);
  (void)framework::ReadCheckpoint(dir, framework::DeviceMap(c10::Device(c10::kCPU)));
  return 0;
}
