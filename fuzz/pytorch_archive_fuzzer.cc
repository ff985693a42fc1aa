// Fuzzes the .pt reader on whole files: zip archive, records, pickle.
#include <cstdint>
#include <string>

#include "framework/core/device_map.h"
#include "framework/formats/pytorch_file.h"
#include "fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path =
      fuzzing::WriteScratchFile("input.pt", std::string(reinterpret_cast<const char*>(data), size));
  const framework::DeviceMap devices{c10::Device(c10::kCPU)};
  (void)framework::ReadPyTorchStateDict(path, devices);
  (void)framework::ReadPyTorchTrainingCheckpoint(path, devices);
  return 0;
}
