#include "framework/testing/fault_injecting_env.h"

#include "absl/strings/str_cat.h"

namespace framework {
namespace {

class FaultInjectingWritableFile : public WritableFile {
 public:
  FaultInjectingWritableFile(const FaultInjectingEnv& env, std::unique_ptr<WritableFile> file)
      : env_(env), file_(std::move(file)) {}

  absl::Status Append(const void* data, size_t size) override {
    if (const int error = env_.Fault("write", path()); error != 0) {
      return ErrnoError("cannot write", path(), error);
    }
    return file_->Append(data, size);
  }
  absl::Status AppendGathered(const struct iovec* buffers, int count) override {
    if (const int error = env_.Fault("write", path()); error != 0) {
      return ErrnoError("cannot write", path(), error);
    }
    return file_->AppendGathered(buffers, count);
  }
  void StartWriteback(uint64_t offset, uint64_t length) override {
    file_->StartWriteback(offset, length);
  }
  absl::Status Sync() override {
    if (const int error = env_.Fault("sync", path()); error != 0) {
      return ErrnoError("cannot fsync", path(), error);
    }
    return file_->Sync();
  }
  absl::Status Close() override { return file_->Close(); }
  const std::string& path() const override { return file_->path(); }

 private:
  const FaultInjectingEnv& env_;
  std::unique_ptr<WritableFile> file_;
};

class FaultInjectingRandomAccessFile : public RandomAccessFile {
 public:
  FaultInjectingRandomAccessFile(const FaultInjectingEnv& env,
                                 std::unique_ptr<RandomAccessFile> file)
      : env_(env), file_(std::move(file)) {}

  absl::StatusOr<size_t> Read(uint64_t offset, size_t size, void* out) const override {
    if (const int error = env_.Fault("read", path()); error != 0) {
      return ErrnoError("cannot read", path(), error);
    }
    return file_->Read(offset, size, out);
  }
  absl::StatusOr<size_t> ReadScattered(uint64_t offset, const struct iovec* pieces,
                                       size_t count) const override {
    if (const int error = env_.Fault("read", path()); error != 0) {
      return ErrnoError("cannot read", path(), error);
    }
    return file_->ReadScattered(offset, pieces, count);
  }
  absl::StatusOr<uint64_t> Size() const override { return file_->Size(); }
  const std::string& path() const override { return file_->path(); }

 private:
  const FaultInjectingEnv& env_;
  std::unique_ptr<RandomAccessFile> file_;
};

}  // namespace

// Both ways of opening a file for writing are the "create" operation.
absl::StatusOr<std::unique_ptr<WritableFile>> FaultInjectingEnv::OpenForWriting(
    const std::string& path, bool append) {
  if (const int error = Fault("create", path); error != 0) {
    return ErrnoError("cannot create", path, error);
  }
  absl::StatusOr<std::unique_ptr<WritableFile>> file =
      append ? target()->NewAppendableFile(path) : target()->NewWritableFile(path);
  if (!file.ok()) return file.status();
  return std::unique_ptr<WritableFile>(new FaultInjectingWritableFile(*this, *std::move(file)));
}

absl::StatusOr<std::unique_ptr<WritableFile>> FaultInjectingEnv::NewWritableFile(
    const std::string& path) {
  return OpenForWriting(path, /*append=*/false);
}

absl::StatusOr<std::unique_ptr<WritableFile>> FaultInjectingEnv::NewAppendableFile(
    const std::string& path) {
  return OpenForWriting(path, /*append=*/true);
}

absl::StatusOr<std::unique_ptr<RandomAccessFile>> FaultInjectingEnv::NewRandomAccessFile(
    const std::string& path, bool sequential) {
  if (const int error = Fault("read", path); error != 0) {
    return ErrnoError("cannot open", path, error);
  }
  absl::StatusOr<std::unique_ptr<RandomAccessFile>> file =
      target()->NewRandomAccessFile(path, sequential);
  if (!file.ok()) return file.status();
  return std::unique_ptr<RandomAccessFile>(
      new FaultInjectingRandomAccessFile(*this, *std::move(file)));
}

absl::Status FaultInjectingEnv::RenameFile(const std::string& from, const std::string& to) {
  if (const int error = Fault("rename", to); error != 0) {
    return ErrnoError(absl::StrCat("cannot rename ", from, " to"), to, error);
  }
  return target()->RenameFile(from, to);
}

absl::Status FaultInjectingEnv::SyncDirectory(const std::string& path) {
  if (const int error = Fault("sync_directory", path); error != 0) {
    return ErrnoError("cannot fsync", path, error);
  }
  return target()->SyncDirectory(path);
}

absl::Status FaultInjectingEnv::RemoveTree(const std::string& path) {
  if (const int error = Fault("remove", path); error != 0) {
    return ErrnoError("cannot remove", path, error);
  }
  return target()->RemoveTree(path);
}

absl::Status FaultInjectingEnv::CreateDirectories(const std::string& path) {
  if (const int error = Fault("create_directory", path); error != 0) {
    return ErrnoError("cannot create directory", path, error);
  }
  return target()->CreateDirectories(path);
}

absl::StatusOr<std::unique_ptr<FileLock>> FaultInjectingEnv::LockFile(const std::string& path,
                                                                     const std::string& holder) {
  if (const int error = Fault("lock", path); error != 0) {
    return ErrnoError("cannot open lock file", path, error);
  }
  return target()->LockFile(path, holder);
}

ScopedFaultInjection::ScopedFaultInjection(FaultInjector injector)
    : previous_(Env::Default()), env_(previous_, std::move(injector)) {
  SetDefaultEnv(&env_);
}

ScopedFaultInjection::~ScopedFaultInjection() {
  SetDefaultEnv(previous_ == PosixEnv() ? nullptr : previous_);
}

}  // namespace framework
