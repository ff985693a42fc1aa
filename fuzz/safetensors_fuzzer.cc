// Fuzzes the safetensors reader: header length, JSON header, offsets, data.
#include <cstdint>
#include <string>

#include "framework/formats/safetensors.h"
#include "fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzzing::WriteScratchFile(
      "input.safetensors", std::string(reinterpret_cast<const char*>(data), size));
  (void)framework::ReadSafetensorsHeader(path);
  (void)framework::ReadSafetensors(path);
  return 0;
}
