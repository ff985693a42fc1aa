// Small POSIX file helpers for writes that must survive a crash: a writer
// that reports errors with the path, fsync of files and directories, and
// atomic rename. Used by checkpoint and model-file writers.
#ifndef FRAMEWORK_CORE_DURABLE_FILE_H_
#define FRAMEWORK_CORE_DURABLE_FILE_H_

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace framework {

// A file opened for writing (created, truncated). Every error names the path.
class FileWriter {
 public:
  static absl::StatusOr<FileWriter> Create(const std::string& path);
  FileWriter(FileWriter&& other) noexcept;
  FileWriter& operator=(FileWriter&&) = delete;
  ~FileWriter();

  absl::Status Write(const void* data, size_t size);
  // writev(2): the buffers in order, in as few calls as the kernel allows.
  absl::Status WriteGathered(const struct iovec* buffers, int count);
  // Asks the kernel to start writing [offset, offset + length) to the device
  // now (sync_file_range(2), SYNC_FILE_RANGE_WRITE) without waiting, so that a
  // later Sync() finds most of the file already written. Only a hint: errors
  // surface from Sync().
  void StartWriteback(uint64_t offset, uint64_t length);
  // fsync(2): data and metadata on stable storage.
  absl::Status Sync();
  absl::Status Close();

 private:
  FileWriter(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_;
  std::string path_;
};

// Reads a whole file.
absl::StatusOr<std::string> ReadFileToString(const std::string& path);

// fsync(2) on a directory, so that entries created or renamed in it persist.
absl::Status SyncDirectory(const std::string& path);

// Removes `path` and everything under it.
absl::Status RemoveTree(const std::string& path);

// rename(2) (atomic on POSIX file systems), then, with `sync`, fsync of the
// parent directory. (On ext4's default data=ordered, that fsync also flushes
// the renamed files' data, so it is skipped when durability is not wanted.)
absl::Status RenameDurably(const std::string& from, const std::string& to, bool sync = true);

// Replaces the file at `path` with `contents`: written beside it, then renamed
// over it, so a reader sees the old or the new contents, never a mix.
absl::Status ReplaceFileContents(const std::string& path, const std::string& contents,
                                 bool sync = true);

// Error status for a failed system call on `path`, from errno.
absl::Status ErrnoError(const std::string& what, const std::string& path);

}  // namespace framework

#endif  // FRAMEWORK_CORE_DURABLE_FILE_H_
