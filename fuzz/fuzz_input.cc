#include "fuzz/fuzz_input.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "glog/logging.h"

namespace fuzzing {
namespace {

// Readers log what they skip or fix up; at millions of inputs a second that
// is noise. Errors still print.
const bool quiet_logs = [] {
  FLAGS_minloglevel = google::GLOG_ERROR;
  return true;
}();

}  // namespace

const std::string& ScratchDirectory() {
  static const std::string* directory = [] {
    std::string base = "/dev/shm";
    if (!std::filesystem::is_directory(base)) {
      const char* tmp = std::getenv("TEST_TMPDIR");
      base = tmp != nullptr ? tmp : std::filesystem::temp_directory_path().string();
    }
    std::string pattern = base + "/torchtrain-fuzz-XXXXXX";
    CHECK(mkdtemp(pattern.data()) != nullptr) << "cannot create a scratch directory in " << base;
    auto* path = new std::string(pattern);
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(*directory, ignored);
    });
    return path;
  }();
  return *directory;
}

std::string WriteScratchFile(const std::string& name, const std::string& bytes) {
  const std::string path = ScratchDirectory() + "/" + name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  CHECK(out.good()) << "cannot write " << path;
  return path;
}

std::vector<std::string> SplitInput(const uint8_t* data, size_t size, int parts) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const std::string separator = kFileSeparator;
  std::vector<std::string> pieces;
  size_t start = 0;
  while (static_cast<int>(pieces.size()) + 1 < parts) {
    const size_t next = input.find(separator, start);
    if (next == std::string::npos) break;
    pieces.push_back(input.substr(start, next - start));
    start = next + separator.size();
  }
  pieces.push_back(input.substr(std::min(start, input.size())));
  pieces.resize(parts);
  return pieces;
}

}  // namespace fuzzing
