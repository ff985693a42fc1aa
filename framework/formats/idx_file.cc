#include "framework/formats/idx_file.h"

#include <zlib.h>

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <torch/types.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "framework/core/env.h"

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

// A file read through Env::Default(), inflated with zlib when it is gzip
// (several members read as one stream, as gzread does) and passed through
// unchanged when not. Reads stop at what the caller asks for, so
// decompression is bounded by the size the header declares, never by the
// stream.
class MaybeGzippedFile {
 public:
  static absl::StatusOr<std::unique_ptr<MaybeGzippedFile>> Open(const std::string& path) {
    absl::StatusOr<std::unique_ptr<RandomAccessFile>> file =
        Env::Default()->NewRandomAccessFile(path, /*sequential=*/true);
    if (!file.ok()) return file.status();
    std::unique_ptr<MaybeGzippedFile> opened(new MaybeGzippedFile(path, *std::move(file)));
    absl::StatusOr<bool> gzipped = opened->GzipMemberAt(0);
    if (!gzipped.ok()) return gzipped.status();
    if (*gzipped) {
      if (inflateInit2(&opened->stream_, 16 + MAX_WBITS) != Z_OK) {
        return absl::InternalError(absl::StrCat(path, ": zlib cannot start inflating"));
      }
      opened->gzipped_ = true;
    }
    return opened;
  }
  ~MaybeGzippedFile() {
    if (gzipped_) inflateEnd(&stream_);
  }

  // Reads up to `size` bytes into `out`; returns how many (fewer at the end).
  absl::StatusOr<uint64_t> Read(unsigned char* out, uint64_t size) {
    if (!gzipped_) {
      absl::StatusOr<size_t> n = file_->Read(offset_, size, out);
      if (n.ok()) offset_ += *n;
      return n;
    }
    uint64_t done = 0;
    while (done < size && !finished_) {
      if (stream_.avail_in == 0) {
        absl::StatusOr<size_t> n = file_->Read(offset_, input_.size(), input_.data());
        if (!n.ok()) return n.status();
        if (*n == 0) return Corrupt("unexpected end of file");
        offset_ += *n;
        stream_.next_in = input_.data();
        stream_.avail_in = static_cast<uInt>(*n);
      }
      const uInt room = static_cast<uInt>(std::min<uint64_t>(size - done, 1u << 30));
      stream_.next_out = out + done;
      stream_.avail_out = room;
      const int code = inflate(&stream_, Z_NO_FLUSH);
      done += room - stream_.avail_out;
      if (code == Z_STREAM_END) {
        // Another member may follow; anything else after the stream ends it.
        const uint64_t next = offset_ - stream_.avail_in;
        absl::StatusOr<bool> another = GzipMemberAt(next);
        if (!another.ok()) return another.status();
        if (!*another) {
          finished_ = true;
        } else {
          inflateReset(&stream_);
        }
      } else if (code != Z_OK) {
        return Corrupt(stream_.msg != nullptr ? stream_.msg : zError(code));
      }
    }
    return done;
  }

 private:
  MaybeGzippedFile(std::string path, std::unique_ptr<RandomAccessFile> file)
      : path_(std::move(path)), file_(std::move(file)), input_(size_t{1} << 16) {}

  absl::StatusOr<bool> GzipMemberAt(uint64_t offset) const {
    unsigned char magic[2] = {};
    absl::StatusOr<size_t> n = file_->Read(offset, 2, magic);
    if (!n.ok()) return n.status();
    return *n == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
  }

  absl::Status Corrupt(const std::string& why) const {
    return absl::DataLossError(absl::StrCat(path_, ": corrupt or truncated gzip data: ", why));
  }

  std::string path_;
  std::unique_ptr<RandomAccessFile> file_;
  std::vector<unsigned char> input_;
  z_stream stream_{};
  bool gzipped_ = false;
  bool finished_ = false;
  uint64_t offset_ = 0;  // of the next byte to read from the file
};

}  // namespace

absl::StatusOr<torch::Tensor> ReadIdxFile(const std::string& path, IdxKind kind) {
  const bool images = kind == IdxKind::kImages;
  const uint32_t magic = images ? kIdxImagesMagic : kIdxLabelsMagic;
  const int dims = images ? 3 : 1;
  absl::StatusOr<std::unique_ptr<MaybeGzippedFile>> opened = MaybeGzippedFile::Open(path);
  if (!opened.ok()) return opened.status();
  MaybeGzippedFile* file = opened->get();

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
