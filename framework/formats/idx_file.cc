#include "framework/formats/idx_file.h"

#include <zlib.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include <torch/types.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace framework {
namespace {

constexpr uint32_t kIdxImagesMagic = 0x00000803;
constexpr uint32_t kIdxLabelsMagic = 0x00000801;

// The largest idx payload read, whatever a header claims: Fashion-MNIST's
// training images are 47 MB.
constexpr uint64_t kMaxIdxPayloadBytes = uint64_t{1} << 31;

uint32_t ReadBigEndian32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

// A file read through zlib's gz* functions, which pass plain files through
// unchanged. Reads stop at what the caller asks for, so decompression is
// bounded by the size the header declares, never by the stream.
class MaybeGzippedFile {
 public:
  static absl::StatusOr<MaybeGzippedFile> Open(const std::string& path) {
    gzFile file = gzopen(path.c_str(), "rb");
    if (file == nullptr) {
      return absl::NotFoundError(absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
    }
    return MaybeGzippedFile(path, file);
  }
  MaybeGzippedFile(MaybeGzippedFile&& other) noexcept
      : path_(std::move(other.path_)), file_(std::exchange(other.file_, nullptr)) {}
  ~MaybeGzippedFile() {
    if (file_ != nullptr) gzclose(file_);
  }

  // Reads up to `size` bytes into `out`; returns how many (fewer at the end).
  absl::StatusOr<uint64_t> Read(unsigned char* out, uint64_t size) {
    uint64_t done = 0;
    while (done < size) {
      const unsigned chunk = static_cast<unsigned>(std::min<uint64_t>(size - done, 1u << 30));
      const int read = gzread(file_, out + done, chunk);
      if (read < 0) return Corrupt();
      if (read == 0) break;
      done += static_cast<uint64_t>(read);
    }
    // gzread() reports a stream cut short at its end only through gzerror().
    int code = 0;
    gzerror(file_, &code);
    if (code != Z_OK && code != Z_STREAM_END) return Corrupt();
    return done;
  }

 private:
  MaybeGzippedFile(std::string path, gzFile file) : path_(std::move(path)), file_(file) {}

  absl::Status Corrupt() {
    int code = 0;
    const std::string message = gzerror(file_, &code);
    return absl::DataLossError(absl::StrCat(path_, ": corrupt or truncated gzip data: ", message));
  }

  std::string path_;
  gzFile file_;
};

}  // namespace

absl::StatusOr<torch::Tensor> ReadIdxFile(const std::string& path, IdxKind kind) {
  const bool images = kind == IdxKind::kImages;
  const uint32_t magic = images ? kIdxImagesMagic : kIdxLabelsMagic;
  const int dims = images ? 3 : 1;
  absl::StatusOr<MaybeGzippedFile> file = MaybeGzippedFile::Open(path);
  if (!file.ok()) return file.status();

  unsigned char header[16] = {};
  const uint64_t header_size = 4 + 4 * static_cast<uint64_t>(dims);
  absl::StatusOr<uint64_t> header_read = file->Read(header, header_size);
  if (!header_read.ok()) return header_read.status();
  if (*header_read >= 4 && ReadBigEndian32(header) != magic) {
    return absl::DataLossError(absl::StrCat(path, ": not an idx file of ", dims,
                                            " dimension(s): magic ", ReadBigEndian32(header),
                                            ", expected ", magic));
  }
  if (*header_read < header_size) {
    return absl::DataLossError(absl::StrCat(path, ": truncated idx file (", *header_read,
                                            " bytes, shorter than its ", header_size,
                                            "-byte header)"));
  }
  std::vector<int64_t> shape;
  uint64_t payload = 1;
  bool too_large = false;
  for (int i = 0; i < dims; ++i) {
    shape.push_back(ReadBigEndian32(header + 4 + 4 * i));
    too_large |= __builtin_mul_overflow(payload, static_cast<uint64_t>(shape.back()), &payload);
  }
  if (too_large || payload > kMaxIdxPayloadBytes) {
    return absl::DataLossError(absl::StrCat(path, ": idx header declares dimensions ",
                                            absl::StrJoin(shape, " x "), ", more than the ",
                                            kMaxIdxPayloadBytes, " bytes this reader accepts"));
  }
  // Grown as the data arrives, so a header that lies costs no more memory
  // than the file really holds.
  auto data = std::make_shared<std::vector<uint8_t>>();
  uint64_t got = 0;
  while (got < payload) {
    const uint64_t chunk = std::min<uint64_t>(payload - got, uint64_t{1} << 22);
    data->resize(got + chunk);
    absl::StatusOr<uint64_t> n = file->Read(data->data() + got, chunk);
    if (!n.ok()) return n.status();
    got += *n;
    if (*n < chunk) break;
  }
  data->resize(got);
  unsigned char extra = 0;
  absl::StatusOr<uint64_t> beyond = got == payload ? file->Read(&extra, 1) : uint64_t{0};
  if (!beyond.ok()) return beyond.status();
  if (got != payload || *beyond != 0) {
    return absl::DataLossError(absl::StrCat(
        path, ": ", got < payload ? "truncated" : "oversized", " idx file: header promises ",
        header_size + payload, " bytes, file has ",
        got < payload ? absl::StrCat(header_size + got) : absl::StrCat("more")));
  }
  return torch::from_blob(data->data(), shape, [data](void*) {}, torch::kUInt8);
}

}  // namespace framework
