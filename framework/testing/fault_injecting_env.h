// An Env wrapper that fails chosen file operations, for tests of what a full
// disk, an I/O error or a crash at a given moment does to a run. Test-only:
// a user's binary never links it.
//
// Before each operation it asks the injector (operation, path). Operations:
// "create" (a file opened for writing or appending; path: the file), "write",
// "sync", "rename" (path: the destination), "sync_directory", "remove",
// "create_directory", "read" (opening and reading a file) and "lock". The
// injector returns 0 to let the operation proceed, or an errno value the
// operation then fails with, worded exactly as the POSIX Env words it; it
// may also end the process (a simulated crash).
//
// Unit tests scope one with ScopedFaultInjection; test binaries link
// :fault_injection_from_env, which installs one from $TORCHTRAIN_FAULT.
#ifndef FRAMEWORK_TESTING_FAULT_INJECTING_ENV_H_
#define FRAMEWORK_TESTING_FAULT_INJECTING_ENV_H_

#include <functional>
#include <memory>
#include <string>

#include "framework/core/env.h"

namespace framework {

using FaultInjector = std::function<int(const char* operation, const std::string& path)>;

class FaultInjectingEnv : public EnvWrapper {
 public:
  FaultInjectingEnv(Env* target, FaultInjector injector)
      : EnvWrapper(target), injector_(std::move(injector)) {}

  absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override;
  absl::StatusOr<std::unique_ptr<WritableFile>> NewAppendableFile(const std::string& path) override;
  absl::StatusOr<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(const std::string& path,
                                                                        bool sequential) override;
  absl::Status RenameFile(const std::string& from, const std::string& to) override;
  absl::Status SyncDirectory(const std::string& path) override;
  absl::Status RemoveTree(const std::string& path) override;
  absl::Status CreateDirectories(const std::string& path) override;
  absl::StatusOr<std::unique_ptr<FileLock>> LockFile(const std::string& path,
                                                    const std::string& holder) override;

  // The injector's errno for `operation` on `path` (0: proceed).
  int Fault(const char* operation, const std::string& path) const {
    return injector_(operation, path);
  }

 private:
  absl::StatusOr<std::unique_ptr<WritableFile>> OpenForWriting(const std::string& path,
                                                               bool append);

  FaultInjector injector_;
};

// Installs a FaultInjectingEnv over the current default for its lifetime.
// Files opened through it must be closed before it ends (an async save
// waited for).
class ScopedFaultInjection {
 public:
  explicit ScopedFaultInjection(FaultInjector injector);
  ~ScopedFaultInjection();
  ScopedFaultInjection(const ScopedFaultInjection&) = delete;
  ScopedFaultInjection& operator=(const ScopedFaultInjection&) = delete;

 private:
  Env* previous_;
  FaultInjectingEnv env_;
};

}  // namespace framework

#endif  // FRAMEWORK_TESTING_FAULT_INJECTING_ENV_H_
