// Tar archives as random-access stores: the index of an uncompressed tar
// file's members (name, where its data starts, size), so that one member is
// read with one pread instead of a walk through the archive; and a writer of
// reproducible archives.
//
// Built on Debian's libarchive, which parses every tar dialect (ustar, pax
// extended headers, GNU long names) so no hand-written parser is needed.
// libarchive reports where each header starts; a member's data offset is
// where the next header (or the end-of-archive block) starts, less the
// member's size rounded up to tar's 512-byte records. Only uncompressed
// archives can be read at an offset: a compressed one is refused, named.
#ifndef FRAMEWORK_FORMATS_TAR_ARCHIVE_H_
#define FRAMEWORK_FORMATS_TAR_ARCHIVE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

struct archive;  // libarchive's handle

namespace framework {

struct TarMember {
  std::string name;     // path inside the archive
  int64_t offset = 0;   // of its data in the file
  int64_t size = 0;     // bytes
};

// The regular-file members of the tar file `path`, in archive order; a
// truncated or unreadable archive is an error naming it (and the member),
// unless `truncation` is given: then the members before the damage are
// returned and *truncation says what is wrong (empty when nothing is).
absl::StatusOr<std::vector<TarMember>> IndexTarFile(const std::string& path,
                                                    std::string* truncation = nullptr);

// Writes a ustar/pax archive whose members have fixed metadata (mode 0644,
// owner 0, mtime 0), so equal contents give equal archives.
class TarWriter {
 public:
  static absl::StatusOr<std::unique_ptr<TarWriter>> Create(const std::string& path);
  ~TarWriter();
  absl::Status Add(const std::string& name, const std::string& contents);
  // Writes the end-of-archive records; the archive is complete only after.
  absl::Status Close();

 private:
  TarWriter(std::string path, ::archive* archive) : path_(std::move(path)), archive_(archive) {}
  std::string path_;
  ::archive* archive_;
};

}  // namespace framework

#endif  // FRAMEWORK_FORMATS_TAR_ARCHIVE_H_
