#include "framework/core/durable_file.h"

#include <filesystem>

#include "absl/strings/str_cat.h"

namespace framework {

absl::StatusOr<std::string> ReadFileToString(const std::string& path) {
  absl::StatusOr<std::unique_ptr<RandomAccessFile>> file =
      Env::Default()->NewRandomAccessFile(path, /*sequential=*/true);
  if (!file.ok()) return file.status();
  std::string contents;
  // Read until a short read rather than trusting the size: some files (in
  // /proc) report none.
  constexpr size_t kChunk = size_t{1} << 16;
  uint64_t offset = 0;
  while (true) {
    contents.resize(offset + kChunk);
    absl::StatusOr<size_t> n = (*file)->Read(offset, kChunk, contents.data() + offset);
    if (!n.ok()) return n.status();
    offset += *n;
    if (*n < kChunk) break;
  }
  contents.resize(offset);
  return contents;
}

absl::StatusOr<std::string> ReadFileHead(const std::string& path, size_t size) {
  absl::StatusOr<std::unique_ptr<RandomAccessFile>> file =
      Env::Default()->NewRandomAccessFile(path, /*sequential=*/false);
  if (!file.ok()) return file.status();
  std::string head(size, '\0');
  absl::StatusOr<size_t> n = (*file)->Read(0, size, head.data());
  if (!n.ok()) return n.status();
  head.resize(*n);
  return head;
}

absl::Status WriteStringToFile(const std::string& path, const std::string& contents, bool sync) {
  absl::StatusOr<std::unique_ptr<WritableFile>> out = Env::Default()->NewWritableFile(path);
  if (!out.ok()) return out.status();
  if (absl::Status status = (*out)->Append(contents.data(), contents.size()); !status.ok()) {
    return status;
  }
  if (sync) {
    if (absl::Status status = (*out)->Sync(); !status.ok()) return status;
  }
  return (*out)->Close();
}

absl::Status RenameDurably(const std::string& from, const std::string& to, bool sync) {
  if (absl::Status status = Env::Default()->RenameFile(from, to); !status.ok()) return status;
  if (!sync) return absl::OkStatus();
  return Env::Default()->SyncDirectory(std::filesystem::path(to).parent_path().string());
}

absl::Status ReplaceFileContents(const std::string& path, const std::string& contents,
                                 bool sync) {
  const std::string tmp = path + ".tmp";
  if (absl::Status status = WriteStringToFile(tmp, contents, sync); !status.ok()) return status;
  return RenameDurably(tmp, path, sync);
}

}  // namespace framework
