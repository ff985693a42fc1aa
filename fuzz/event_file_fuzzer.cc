// Fuzzes the TFRecord reader of event files (used to cut them back on
// resume) and the Event decoder it feeds.
#include <cstdint>
#include <string>

#include "framework/formats/event_file.h"
#include "fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzzing::WriteScratchFile(
      "events.out.tfevents", std::string(reinterpret_cast<const char*>(data), size));
  for (bool keep_intact_prefix : {false, true}) {
    auto records = framework::ReadRecords(path, keep_intact_prefix);
    if (!records.ok()) continue;
    for (const std::string& record : *records) (void)framework::EventStep(record);
  }
  return 0;
}
