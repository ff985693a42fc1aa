#include "framework/core/durable_file.h"

#include <fcntl.h>
#include <limits.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <vector>

#include "absl/strings/str_cat.h"
#include "framework/core/fault_injection.h"

namespace framework {
namespace {

// True (with errno set) when a test injects a failure of `operation`.
bool Injected(const char* operation, const std::string& path) {
  const int error = InjectedFault(operation, path);
  if (error == 0) return false;
  errno = error;
  return true;
}

}  // namespace

absl::Status ErrnoError(const std::string& what, const std::string& path) {
  const int error = errno;
  const std::string message = absl::StrCat(what, " ", path, ": ", std::strerror(error));
  switch (error) {
    case ENOENT:
      return absl::NotFoundError(message);
    case EACCES:
    case EPERM:
    case EROFS:
      return absl::PermissionDeniedError(message);
    case ENOSPC:
    case EDQUOT:
      return absl::ResourceExhaustedError(message);
    default:
      return absl::InternalError(message);
  }
}

absl::StatusOr<FileWriter> FileWriter::Create(const std::string& path) {
  const int fd = Injected("create", path)
                     ? -1
                     : open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoError("cannot create", path);
  return FileWriter(fd, path);
}

FileWriter::FileWriter(FileWriter&& other) noexcept
    : fd_(other.fd_), path_(std::move(other.path_)) {
  other.fd_ = -1;
}

FileWriter::~FileWriter() {
  if (fd_ >= 0) close(fd_);
}

absl::Status FileWriter::Write(const void* data, size_t size) {
  const char* bytes = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t written = Injected("write", path_)
                                ? -1
                                : write(fd_, bytes, std::min<size_t>(size, size_t{1} << 30));
    if (written < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("cannot write", path_);
    }
    bytes += written;
    size -= static_cast<size_t>(written);
  }
  return absl::OkStatus();
}

absl::Status FileWriter::WriteGathered(const struct iovec* buffers, int count) {
  // A private copy, advanced past whatever a partial write took.
  std::vector<struct iovec> pending(buffers, buffers + count);
  size_t first = 0;
  while (first < pending.size()) {
    const int calls = static_cast<int>(std::min<size_t>(pending.size() - first, IOV_MAX));
    const ssize_t written =
        Injected("write", path_) ? -1 : writev(fd_, pending.data() + first, calls);
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

void FileWriter::StartWriteback(uint64_t offset, uint64_t length) {
  sync_file_range(fd_, static_cast<off64_t>(offset), static_cast<off64_t>(length),
                  SYNC_FILE_RANGE_WRITE);
}

absl::Status FileWriter::Sync() {
  if (Injected("sync", path_) || fsync(fd_) != 0) return ErrnoError("cannot fsync", path_);
  return absl::OkStatus();
}

absl::Status FileWriter::Close() {
  const int fd = fd_;
  fd_ = -1;
  if (close(fd) != 0) return ErrnoError("cannot close", path_);
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFileToString(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("cannot open", path);
  std::string contents;
  char buffer[1 << 16];
  while (true) {
    const ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      absl::Status status = ErrnoError("cannot read", path);
      close(fd);
      return status;
    }
    if (n == 0) break;
    contents.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  return contents;
}

absl::Status SyncDirectory(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("cannot open directory", path);
  const int result = Injected("sync_directory", path) ? -1 : fsync(fd);
  absl::Status status = result == 0 ? absl::OkStatus() : ErrnoError("cannot fsync", path);
  close(fd);
  return status;
}

absl::Status RemoveTree(const std::string& path) {
  std::error_code error;
  if (Injected("remove", path)) {
    error = std::error_code(errno, std::generic_category());
  } else {
    std::filesystem::remove_all(path, error);
  }
  if (error) return absl::InternalError(absl::StrCat("cannot remove ", path, ": ", error.message()));
  return absl::OkStatus();
}

absl::Status RenameDurably(const std::string& from, const std::string& to, bool sync) {
  if (Injected("rename", to) || std::rename(from.c_str(), to.c_str()) != 0) {
    return ErrnoError(absl::StrCat("cannot rename ", from, " to"), to);
  }
  if (!sync) return absl::OkStatus();
  return SyncDirectory(std::filesystem::path(to).parent_path().string());
}

absl::Status ReplaceFileContents(const std::string& path, const std::string& contents,
                                 bool sync) {
  const std::string tmp = path + ".tmp";
  absl::StatusOr<FileWriter> out = FileWriter::Create(tmp);
  if (!out.ok()) return out.status();
  if (absl::Status status = out->Write(contents.data(), contents.size()); !status.ok()) {
    return status;
  }
  if (sync) {
    if (absl::Status status = out->Sync(); !status.ok()) return status;
  }
  if (absl::Status status = out->Close(); !status.ok()) return status;
  return RenameDurably(tmp, path, sync);
}

}  // namespace framework
