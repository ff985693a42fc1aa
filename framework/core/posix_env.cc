// The POSIX Env: file descriptors, pread/writev, fsync, rename(2), flock(2).
#include <fcntl.h>
#include <limits.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <vector>

#include "absl/strings/str_cat.h"
#include "framework/core/env.h"

namespace framework {
namespace {

class PosixWritableFile : public WritableFile {
 public:
  PosixWritableFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) close(fd_);
  }

  absl::Status Append(const void* data, size_t size) override {
    const char* bytes = static_cast<const char*>(data);
    while (size > 0) {
      const ssize_t written = write(fd_, bytes, std::min<size_t>(size, size_t{1} << 30));
      if (written < 0) {
        if (errno == EINTR) continue;
        return ErrnoError("cannot write", path_);
      }
      bytes += written;
      size -= static_cast<size_t>(written);
    }
    return absl::OkStatus();
  }

  absl::Status AppendGathered(const struct iovec* buffers, int count) override {
    // A private copy, advanced past whatever a partial write took.
    std::vector<struct iovec> pending(buffers, buffers + count);
    size_t first = 0;
    while (first < pending.size()) {
      const int calls = static_cast<int>(std::min<size_t>(pending.size() - first, IOV_MAX));
      const ssize_t written = writev(fd_, pending.data() + first, calls);
      if (written < 0) {
        if (errno == EINTR) continue;
        return ErrnoError("cannot write", path_);
      }
      size_t left = static_cast<size_t>(written);
      while (first < pending.size() && left >= pending[first].iov_len) {
        left -= pending[first].iov_len;
        ++first;
      }
      if (left > 0) {
        pending[first].iov_base = static_cast<char*>(pending[first].iov_base) + left;
        pending[first].iov_len -= left;
      }
    }
    return absl::OkStatus();
  }

  void StartWriteback(uint64_t offset, uint64_t length) override {
    sync_file_range(fd_, static_cast<off64_t>(offset), static_cast<off64_t>(length),
                    SYNC_FILE_RANGE_WRITE);
  }

  absl::Status Sync() override {
    if (fsync(fd_) != 0) return ErrnoError("cannot fsync", path_);
    return absl::OkStatus();
  }

  absl::Status Close() override {
    const int fd = fd_;
    fd_ = -1;
    if (fd >= 0 && close(fd) != 0) return ErrnoError("cannot close", path_);
    return absl::OkStatus();
  }

  const std::string& path() const override { return path_; }

 private:
  int fd_;
  std::string path_;
};

class PosixRandomAccessFile : public RandomAccessFile {
 public:
  PosixRandomAccessFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~PosixRandomAccessFile() override { close(fd_); }

  absl::StatusOr<size_t> Read(uint64_t offset, size_t size, void* out) const override {
    char* bytes = static_cast<char*>(out);
    size_t done = 0;
    while (done < size) {
      const ssize_t n = pread(fd_, bytes + done, std::min<size_t>(size - done, size_t{1} << 30),
                              static_cast<off_t>(offset + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoError("cannot read", path_);
      }
      if (n == 0) break;
      done += static_cast<size_t>(n);
    }
    return done;
  }

  // preadv, IOV_MAX pieces a call, resumed after a short read.
  absl::StatusOr<size_t> ReadScattered(uint64_t offset, const struct iovec* pieces,
                                       size_t count) const override {
    size_t done = 0;
    size_t first = 0;        // the piece being filled
    size_t first_done = 0;   // its bytes already read
    std::vector<iovec> vectors;
    while (first < count) {
      vectors.clear();
      for (size_t i = first; i < count && vectors.size() < IOV_MAX; ++i) {
        const size_t skip = i == first ? first_done : 0;
        vectors.push_back({static_cast<char*>(pieces[i].iov_base) + skip, pieces[i].iov_len - skip});
      }
      const ssize_t n = preadv(fd_, vectors.data(), static_cast<int>(vectors.size()),
                               static_cast<off_t>(offset + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoError("cannot read", path_);
      }
      if (n == 0) break;
      done += static_cast<size_t>(n);
      size_t left = static_cast<size_t>(n);
      while (first < count && left >= pieces[first].iov_len - first_done) {
        left -= pieces[first].iov_len - first_done;
        ++first;
        first_done = 0;
      }
      first_done += left;
    }
    return done;
  }

  absl::StatusOr<uint64_t> Size() const override {
    struct stat info {};
    if (fstat(fd_, &info) != 0) return ErrnoError("cannot stat", path_);
    if (S_ISDIR(info.st_mode)) return ErrnoError("cannot read", path_, EISDIR);
    return static_cast<uint64_t>(info.st_size);
  }

  const std::string& path() const override { return path_; }

 private:
  int fd_;
  std::string path_;
};

class PosixFileLock : public FileLock {
 public:
  explicit PosixFileLock(int fd) : fd_(fd) {}
  ~PosixFileLock() override { close(fd_); }

 private:
  int fd_;
};

class Posix : public Env {
 public:
  absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override {
    return Open(path, O_TRUNC);
  }

  absl::StatusOr<std::unique_ptr<WritableFile>> NewAppendableFile(const std::string& path) override {
    return Open(path, O_APPEND);
  }

  absl::StatusOr<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(const std::string& path,
                                                                        bool sequential) override {
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoError("cannot open", path);
    if (sequential) posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    return std::unique_ptr<RandomAccessFile>(new PosixRandomAccessFile(fd, path));
  }

  absl::Status RenameFile(const std::string& from, const std::string& to) override {
    if (std::rename(from.c_str(), to.c_str()) != 0) {
      return ErrnoError(absl::StrCat("cannot rename ", from, " to"), to);
    }
    return absl::OkStatus();
  }

  absl::Status SyncDirectory(const std::string& path) override {
    const int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return ErrnoError("cannot open directory", path);
    absl::Status status = fsync(fd) == 0 ? absl::OkStatus() : ErrnoError("cannot fsync", path);
    close(fd);
    return status;
  }

  absl::Status RemoveTree(const std::string& path) override {
    std::error_code error;
    std::filesystem::remove_all(path, error);
    if (error) return ErrnoError("cannot remove", path, error.value());
    return absl::OkStatus();
  }

  absl::Status CreateDirectories(const std::string& path) override {
    std::error_code error;
    std::filesystem::create_directories(path, error);
    if (error) return ErrnoError("cannot create directory", path, error.value());
    return absl::OkStatus();
  }

  absl::StatusOr<std::unique_ptr<FileLock>> LockFile(const std::string& path,
                                                    const std::string& holder) override {
    const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return ErrnoError("cannot open lock file", path);
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int error = errno;
      close(fd);
      if (error == EWOULDBLOCK) {
        return absl::UnavailableError(absl::StrCat(path, " is locked by another process"));
      }
      return ErrnoError("cannot lock", path, error);
    }
    if (ftruncate(fd, 0) != 0 || pwrite(fd, holder.data(), holder.size(), 0) < 0) {
      absl::Status status = ErrnoError("cannot write lock file", path);
      close(fd);
      return status;
    }
    return std::unique_ptr<FileLock>(new PosixFileLock(fd));
  }

 private:
  static absl::StatusOr<std::unique_ptr<WritableFile>> Open(const std::string& path, int mode) {
    const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | mode, 0644);
    if (fd < 0) return ErrnoError("cannot create", path);
    return std::unique_ptr<WritableFile>(new PosixWritableFile(fd, path));
  }
};

}  // namespace

Env* PosixEnv() {
  static Env* const env = new Posix();
  return env;
}

}  // namespace framework
