#include "framework/core/env.h"

#include <cerrno>
#include <cstring>
#include <sys/uio.h>

#include <atomic>

#include "absl/strings/str_cat.h"

namespace framework {
namespace {

std::atomic<Env*> installed{nullptr};

}  // namespace

Env* Env::Default() {
  Env* env = installed.load(std::memory_order_acquire);
  return env != nullptr ? env : PosixEnv();
}

void SetDefaultEnv(Env* env) { installed.store(env, std::memory_order_release); }

absl::StatusOr<size_t> RandomAccessFile::ReadScattered(uint64_t offset,
                                                       const struct iovec* buffers,
                                                       size_t count) const {
  size_t done = 0;
  for (size_t i = 0; i < count; ++i) {
    absl::StatusOr<size_t> n = Read(offset + done, buffers[i].iov_len, buffers[i].iov_base);
    if (!n.ok()) return n.status();
    done += *n;
    if (*n < buffers[i].iov_len) break;  // the end of the file
  }
  return done;
}

absl::Status ErrnoError(const std::string& what, const std::string& path, int error) {
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

absl::Status ErrnoError(const std::string& what, const std::string& path) {
  return ErrnoError(what, path, errno);
}

}  // namespace framework
