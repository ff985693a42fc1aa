#include "framework/experiment/run_directory.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "framework/core/durable_file.h"
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

absl::StatusOr<std::unique_ptr<RunDirectoryLock>> RunDirectoryLock::Acquire(
    const std::string& run_dir) {
  const std::string path = run_dir + "/LOCK";
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoError("cannot open lock file", path);
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    char buffer[32] = {};
    const ssize_t n = pread(fd, buffer, sizeof(buffer) - 1, 0);
    close(fd);
    const std::string owner = n > 0 ? absl::StrCat(" (pid ", absl::StripAsciiWhitespace(buffer), ")")
                                    : "";
    return absl::FailedPreconditionError(absl::StrCat(
        "run directory ", run_dir, " is in use by another process", owner,
        "; wait for it to finish or use another --run_dir (a crashed process releases ", path,
        " automatically)"));
  }
  const std::string pid = absl::StrCat(getpid(), "\n");
  if (ftruncate(fd, 0) != 0 || pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    absl::Status status = ErrnoError("cannot write lock file", path);
    close(fd);
    return status;
  }
  return std::unique_ptr<RunDirectoryLock>(new RunDirectoryLock(fd));
}

RunDirectoryLock::~RunDirectoryLock() { close(fd_); }

}  // namespace framework
