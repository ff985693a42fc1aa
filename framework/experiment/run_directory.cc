#include "framework/experiment/run_directory.h"

#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "framework/core/durable_file.h"
#include "nlohmann/json.hpp"

namespace framework {

absl::Status PrepareRunDirectory(const std::string& path) {
  if (absl::Status status = Env::Default()->CreateDirectories(path); !status.ok()) return status;
  // Asked now, so that a read-only directory is named before any slow work.
  if (access(path.c_str(), W_OK) != 0) return ErrnoError("cannot write into", path);
  return absl::OkStatus();
}

absl::Status WriteFlagsRecord(const std::string& run_dir,
                              const std::map<std::string, std::string>& flags) {
  return ReplaceFileContents(run_dir + "/flags.json", nlohmann::json(flags).dump(2) + "\n",
                             /*sync=*/false);
}

absl::StatusOr<std::unique_ptr<RunDirectoryLock>> RunDirectoryLock::Acquire(
    const std::string& run_dir) {
  const std::string path = run_dir + "/LOCK";
  absl::StatusOr<std::unique_ptr<FileLock>> lock =
      Env::Default()->LockFile(path, absl::StrCat(getpid(), "\n"));
  if (absl::IsUnavailable(lock.status())) {
    absl::StatusOr<std::string> holder = ReadFileToString(path);
    const std::string owner =
        holder.ok() && !holder->empty()
            ? absl::StrCat(" (pid ", absl::StripAsciiWhitespace(*holder), ")")
            : "";
    return absl::FailedPreconditionError(absl::StrCat(
        "run directory ", run_dir, " is in use by another process", owner,
        "; wait for it to finish or use another --run_dir (a crashed process releases ", path,
        " automatically)"));
  }
  if (!lock.ok()) return lock.status();
  return std::unique_ptr<RunDirectoryLock>(new RunDirectoryLock(*std::move(lock)));
}

}  // namespace framework
