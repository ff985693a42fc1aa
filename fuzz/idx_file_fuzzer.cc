// Fuzzes the idx reader (gzipped or not) as images and as labels.
#include <cstdint>
#include <string>

#include "framework/formats/idx_file.h"
#include "fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path =
      fuzzing::WriteScratchFile("input-idx", std::string(reinterpret_cast<const char*>(data), size));
  (void)framework::ReadIdxFile(path, framework::IdxKind::kImages);
  (void)framework::ReadIdxFile(path, framework::IdxKind::kLabels);
  return 0;
}
