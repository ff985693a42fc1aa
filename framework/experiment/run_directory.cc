#include "framework/experiment/run_directory.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace framework {

absl::Status PrepareRunDirectory(const std::string& path) {
  std::error_code error;
  std::filesystem::create_directories(path, error);
  if (error) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create '", path, "': ", error.message()));
  }
  if (access(path.c_str(), W_OK) != 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("'", path, "' is not writable: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status WriteFlagsRecord(const std::string& run_dir,
                              const std::map<std::string, std::string>& flags) {
  const std::string path = run_dir + "/flags.json";
  std::ofstream out(path, std::ios::trunc);
  out << nlohmann::json(flags).dump(2) << "\n";
  out.flush();
  if (!out) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot write ", path, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace framework
