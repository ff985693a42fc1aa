// Fuzzes flag files: the framework's check, then gflags' own parser over
// the experiment flags (which the check lets through).
#include <cstdint>
#include <string>

#include "framework/experiment/flag_file.h"
#include "fuzz/fuzz_input.h"
#include "gflags/gflags.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  if (!framework::CheckFlagFileText("input.flags", text).ok()) return 0;
  gflags::FlagSaver restore_flags_afterwards;
  gflags::ReadFlagsFromString(text, "input.flags", /*errors_are_fatal=*/false);
  return 0;
}
