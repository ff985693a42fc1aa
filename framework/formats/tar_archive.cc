#include "framework/formats/tar_archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

#include <utility>

#include "absl/strings/str_cat.h"

namespace framework {
namespace {

constexpr int64_t kRecord = 512;

int64_t Padded(int64_t size) { return (size + kRecord - 1) / kRecord * kRecord; }

struct ReadArchive {
  archive* handle = archive_read_new();
  ~ReadArchive() { archive_read_free(handle); }
};

}  // namespace

absl::StatusOr<std::vector<TarMember>> IndexTarFile(const std::string& path,
                                                    std::string* truncation) {
  if (truncation != nullptr) truncation->clear();
  struct stat file;
  if (stat(path.c_str(), &file) != 0) return absl::NotFoundError(absl::StrCat(path, ": no such file"));
  ReadArchive reader;
  archive_read_support_format_tar(reader.handle);
  archive_read_support_filter_all(reader.handle);
  if (archive_read_open_filename(reader.handle, path.c_str(), 1 << 16) != ARCHIVE_OK) {
    return absl::DataLossError(
        absl::StrCat(path, ": not a tar archive (", archive_error_string(reader.handle), ")"));
  }
  std::vector<TarMember> members;
  std::vector<int64_t> header_starts;
  std::vector<bool> regular;
  while (true) {
    archive_entry* entry = nullptr;
    const int read = archive_read_next_header(reader.handle, &entry);
    const int64_t position = archive_read_header_position(reader.handle);
    if (archive_filter_code(reader.handle, 0) != ARCHIVE_FILTER_NONE) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": a compressed (", archive_filter_name(reader.handle, 0),
          ") tar archive; tar shards must be uncompressed to be read at random (images are "
          "compressed already)"));
    }
    if (read == ARCHIVE_EOF) {
      header_starts.push_back(position);
      break;
    }
    if (read != ARCHIVE_OK && read != ARCHIVE_WARN) {
      const std::string after =
          members.empty() ? "" : absl::StrCat(" after member '", members.back().name, "'");
      const std::string what = absl::StrCat(path, ": ", archive_error_string(reader.handle),
                                            after, " (a truncated or corrupt tar archive)");
      if (truncation == nullptr) return absl::DataLossError(what);
      *truncation = what;
      // The last member read may itself be cut off: kept only if whole.
      header_starts.push_back(position);
      break;
    }
    header_starts.push_back(position);
    TarMember member;
    member.name = archive_entry_pathname(entry) == nullptr ? "" : archive_entry_pathname(entry);
    member.size = archive_entry_size(entry);
    members.push_back(std::move(member));
    regular.push_back(archive_entry_filetype(entry) == AE_IFREG);
  }
  std::vector<TarMember> files;
  for (size_t i = 0; i < members.size(); ++i) {
    members[i].offset = header_starts[i + 1] - Padded(members[i].size);
    if (members[i].offset < header_starts[i] + kRecord || members[i].offset + members[i].size > file.st_size) {
      const std::string what = absl::StrCat(path, ": member '", members[i].name,
                                            "' runs past the end of the file (truncated)");
      if (truncation == nullptr) return absl::DataLossError(what);
      if (truncation->empty()) *truncation = what;
      break;
    }
    if (regular[i]) files.push_back(std::move(members[i]));
  }
  return files;
}

absl::StatusOr<std::unique_ptr<TarWriter>> TarWriter::Create(const std::string& path) {
  archive* handle = archive_write_new();
  archive_write_set_format_pax_restricted(handle);
  if (archive_write_open_filename(handle, path.c_str()) != ARCHIVE_OK) {
    const std::string error = archive_error_string(handle);
    archive_write_free(handle);
    return absl::PermissionDeniedError(absl::StrCat(path, ": cannot create (", error, ")"));
  }
  return std::unique_ptr<TarWriter>(new TarWriter(path, handle));
}

TarWriter::~TarWriter() {
  if (archive_ != nullptr) archive_write_free(archive_);
}

absl::Status TarWriter::Add(const std::string& name, const std::string& contents) {
  archive_entry* entry = archive_entry_new();
  archive_entry_set_pathname(entry, name.c_str());
  archive_entry_set_size(entry, static_cast<la_int64_t>(contents.size()));
  archive_entry_set_filetype(entry, AE_IFREG);
  archive_entry_set_perm(entry, 0644);
  archive_entry_set_mtime(entry, 0, 0);
  const int header = archive_write_header(archive_, entry);
  archive_entry_free(entry);
  if (header != ARCHIVE_OK ||
      archive_write_data(archive_, contents.data(), contents.size()) !=
          static_cast<la_ssize_t>(contents.size())) {
    return absl::DataLossError(
        absl::StrCat(path_, ": writing member '", name, "': ", archive_error_string(archive_)));
  }
  return absl::OkStatus();
}

absl::Status TarWriter::Close() {
  const int closed = archive_write_close(archive_);
  const std::string error = closed == ARCHIVE_OK ? "" : archive_error_string(archive_);
  archive_write_free(archive_);
  archive_ = nullptr;
  if (closed != ARCHIVE_OK) return absl::DataLossError(absl::StrCat(path_, ": ", error));
  return absl::OkStatus();
}

}  // namespace framework
