// Env: the one interface through which the framework reads and writes the
// files of a run (checkpoints, metrics.jsonl, steps.jsonl, event files,
// flags.json, the LOCK, flag files, data files, model files), as LevelDB's
// Env is for a database.
//
// Env::Default() is the POSIX implementation (posix_env.cc) unless a test
// binary installed a wrapper with SetDefaultEnv() -- the fault-injecting one
// in framework/testing/fault_injecting_env.h, armed from $TORCHTRAIN_FAULT or
// by a unit test. A user's binary never installs one, so a run pays nothing
// for the indirection beyond a virtual call per operation.
//
// Every error names the path and the cause ("cannot write <path>: No space
// left on device") and maps errno to a Status code (ErrnoError below).
// Queries that neither read nor write contents (exists, is a directory,
// listing) stay with std::filesystem: there is nothing in them to fail
// half-way.
#ifndef FRAMEWORK_CORE_ENV_H_
#define FRAMEWORK_CORE_ENV_H_

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace framework {

// A file open for writing, at its end.
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  virtual absl::Status Append(const void* data, size_t size) = 0;
  // The buffers in order, in as few system calls as the kernel allows.
  virtual absl::Status AppendGathered(const struct iovec* buffers, int count) = 0;
  // Asks the kernel to start writing [offset, offset + length) to the device
  // now, without waiting, so that a later Sync() finds most of it written.
  // Only a hint: errors surface from Sync().
  virtual void StartWriteback(uint64_t offset, uint64_t length) = 0;
  // Data and metadata on stable storage (fsync).
  virtual absl::Status Sync() = 0;
  virtual absl::Status Close() = 0;
  virtual const std::string& path() const = 0;
};

// A file open for reading at any offset.
class RandomAccessFile {
 public:
  virtual ~RandomAccessFile() = default;
  // Reads up to `size` bytes at `offset` into `out`; fewer only at the end of
  // the file.
  virtual absl::StatusOr<size_t> Read(uint64_t offset, size_t size, void* out) const = 0;
  // Reads the bytes from `offset` on into `buffers`, one after another
  // (thousands of small tensors, each read straight into its own memory with
  // a few calls); fewer bytes only at the end of the file. This default
  // reads buffer by buffer.
  virtual absl::StatusOr<size_t> ReadScattered(uint64_t offset, const struct iovec* buffers,
                                               size_t count) const;
  virtual absl::StatusOr<uint64_t> Size() const = 0;
  virtual const std::string& path() const = 0;
};

// An exclusive advisory lock on a file, released when destroyed (or when the
// process dies).
class FileLock {
 public:
  virtual ~FileLock() = default;
};

class Env {
 public:
  virtual ~Env() = default;

  // The installed Env: POSIX unless a test binary installed another.
  static Env* Default();

  // Creates `path`, or truncates it.
  virtual absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) = 0;
  // Opens `path` for appending, creating it if missing.
  virtual absl::StatusOr<std::unique_ptr<WritableFile>> NewAppendableFile(
      const std::string& path) = 0;
  // `sequential`: the caller reads front to back (a larger readahead helps).
  virtual absl::StatusOr<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(
      const std::string& path, bool sequential) = 0;
  // rename(2): atomic on POSIX file systems.
  virtual absl::Status RenameFile(const std::string& from, const std::string& to) = 0;
  // fsync(2) of a directory, so that entries created or renamed in it persist.
  virtual absl::Status SyncDirectory(const std::string& path) = 0;
  // Removes a file, or a directory and everything under it.
  virtual absl::Status RemoveTree(const std::string& path) = 0;
  // Creates `path` and its missing parents.
  virtual absl::Status CreateDirectories(const std::string& path) = 0;
  // Locks `path` (created if missing) without waiting and writes `holder`
  // into it; UnavailableError when another process holds the lock.
  virtual absl::StatusOr<std::unique_ptr<FileLock>> LockFile(const std::string& path,
                                                            const std::string& holder) = 0;
};

// Forwards every call to another Env; a wrapper overrides what it changes.
class EnvWrapper : public Env {
 public:
  explicit EnvWrapper(Env* target) : target_(target) {}
  Env* target() const { return target_; }

  absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override {
    return target_->NewWritableFile(path);
  }
  absl::StatusOr<std::unique_ptr<WritableFile>> NewAppendableFile(const std::string& path) override {
    return target_->NewAppendableFile(path);
  }
  absl::StatusOr<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(const std::string& path,
                                                                        bool sequential) override {
    return target_->NewRandomAccessFile(path, sequential);
  }
  absl::Status RenameFile(const std::string& from, const std::string& to) override {
    return target_->RenameFile(from, to);
  }
  absl::Status SyncDirectory(const std::string& path) override {
    return target_->SyncDirectory(path);
  }
  absl::Status RemoveTree(const std::string& path) override { return target_->RemoveTree(path); }
  absl::Status CreateDirectories(const std::string& path) override {
    return target_->CreateDirectories(path);
  }
  absl::StatusOr<std::unique_ptr<FileLock>> LockFile(const std::string& path,
                                                    const std::string& holder) override {
    return target_->LockFile(path, holder);
  }

 private:
  Env* target_;
};

// The POSIX Env (never null, never destroyed).
Env* PosixEnv();

// Makes `env` what Env::Default() returns (nullptr: the POSIX one again).
// For test binaries; install before any file is opened, not while work is in
// flight. The caller keeps `env` alive while it is installed.
void SetDefaultEnv(Env* env);

// "<what> <path>: <strerror(error)>", with a code for the errno: NotFound,
// PermissionDenied (EACCES, EPERM, EROFS), ResourceExhausted (ENOSPC,
// EDQUOT), else Internal.
absl::Status ErrnoError(const std::string& what, const std::string& path, int error);
// The same for the current errno.
absl::Status ErrnoError(const std::string& what, const std::string& path);

}  // namespace framework

#endif  // FRAMEWORK_CORE_ENV_H_
