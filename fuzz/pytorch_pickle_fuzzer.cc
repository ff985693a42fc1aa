// Fuzzes the unpickler of the .pt reader. The input is the pickle itself
// (data.pkl): the target wraps it in a valid zip archive, with storages
// data/0 .. data/3 of 16 bytes each, so that mutations reach the unpickler
// instead of failing the archive's CRC-32s.
#include <cstdint>
#include <cstring>
#include <string>

#include <caffe2/serialize/inline_container.h>

#include "framework/core/device_map.h"
#include "framework/formats/pytorch_file.h"
#include "fuzz/fuzz_input.h"

namespace {

std::string Archive(const uint8_t* data, size_t size) {
  std::string archive;
  caffe2::serialize::PyTorchStreamWriter writer([&archive](const void* bytes, size_t n) {
    archive.append(static_cast<const char*>(bytes), n);
    return n;
  });
  writer.writeRecord("data.pkl", data, size);
  char storage[16];
  for (int i = 0; i < 4; ++i) {
    std::memset(storage, i, sizeof(storage));
    writer.writeRecord("data/" + std::to_string(i), storage, sizeof(storage));
  }
  writer.writeEndOfFile();
  return archive;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzzing::WriteScratchFile("input.pt", Archive(data, size));
  const framework::DeviceMap devices{c10::Device(c10::kCPU)};
  (void)framework::ReadPyTorchStateDict(path, devices);
  (void)framework::ReadPyTorchTrainingCheckpoint(path, devices);
  return 0;
}
