// The run directory: where a run's record (flags.json, metrics.jsonl) and
// checkpoints live, created on demand and checked for writing before any
// slow work starts, and owned by one process at a time (RunDirectoryLock).
#ifndef FRAMEWORK_EXPERIMENT_RUN_DIRECTORY_H_
#define FRAMEWORK_EXPERIMENT_RUN_DIRECTORY_H_

#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "framework/core/env.h"

namespace framework {

// Creates `path` (already resolved) if needed and checks it is writable.
absl::Status PrepareRunDirectory(const std::string& path);

// <run_dir>/flags.json: every effective flag of the run.
absl::Status WriteFlagsRecord(const std::string& run_dir,
                              const std::map<std::string, std::string>& flags);

// Exclusive ownership of a run directory through a lock on <dir>/LOCK
// (Env::LockFile, flock(2)), which holds the owner's pid: the kernel releases
// it when the process dies, so a crash never leaves it stuck.
class RunDirectoryLock {
 public:
  static absl::StatusOr<std::unique_ptr<RunDirectoryLock>> Acquire(const std::string& run_dir);

 private:
  explicit RunDirectoryLock(std::unique_ptr<FileLock> lock) : lock_(std::move(lock)) {}
  std::unique_ptr<FileLock> lock_;
};

}  // namespace framework

#endif  // FRAMEWORK_EXPERIMENT_RUN_DIRECTORY_H_
