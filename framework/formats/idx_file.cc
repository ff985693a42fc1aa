#include "framework/formats/idx_file.h"

#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <string>

#include <torch/types.h>

#include "absl/strings/str_cat.h"

namespace framework {
namespace {

constexpr uint32_t kIdxImagesMagic = 0x00000803;
constexpr uint32_t kIdxLabelsMagic = 0x00000801;

// Reads a whole file, transparently un-gzipping it.
absl::StatusOr<std::string> ReadMaybeGzipped(const std::string& path) {
  gzFile file = gzopen(path.c_str(), "rb");
  if (file == nullptr) {
    return absl::NotFoundError(absl::StrCat("cannot open ", path, ": ",
                                            std::strerror(errno)));
  }
  std::string contents;
  char buffer[1 << 16];
  while (true) {
    const int read = gzread(file, buffer, sizeof(buffer));
    if (read < 0) {
      int code = 0;
      const std::string message = gzerror(file, &code);
      gzclose(file);
      return absl::DataLossError(
          absl::StrCat(path, ": corrupt or truncated gzip data: ", message));
    }
    if (read == 0) break;
    contents.append(buffer, read);
  }
  // gzread() reports a stream cut short at its end only through gzerror().
  int code = 0;
  const std::string message = gzerror(file, &code);
  gzclose(file);
  if (code != Z_OK && code != Z_STREAM_END) {
    return absl::DataLossError(
        absl::StrCat(path, ": corrupt or truncated gzip data: ", message));
  }
  return contents;
}

uint32_t ReadBigEndian32(const std::string& bytes, size_t offset) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data()) + offset;
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) |
         (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

// Checks an idx header and returns its dimensions.
absl::StatusOr<std::vector<int64_t>> ParseIdxHeader(const std::string& path,
                                                    const std::string& bytes,
                                                    uint32_t magic,
                                                    int dims) {
  const size_t header_size = 4 + 4 * static_cast<size_t>(dims);
  if (bytes.size() >= 4 && ReadBigEndian32(bytes, 0) != magic) {
    return absl::DataLossError(absl::StrCat(
        path, ": not an idx file of ", dims, " dimension(s): magic ",
        ReadBigEndian32(bytes, 0), ", expected ", magic));
  }
  if (bytes.size() < header_size) {
    return absl::DataLossError(absl::StrCat(
        path, ": truncated idx file (", bytes.size(),
        " bytes, shorter than its ", header_size, "-byte header)"));
  }
  std::vector<int64_t> shape;
  size_t expected = header_size;
  int64_t elements = 1;
  for (int i = 0; i < dims; ++i) {
    shape.push_back(ReadBigEndian32(bytes, 4 + 4 * i));
    elements *= shape.back();
  }
  expected += static_cast<size_t>(elements);
  if (bytes.size() != expected) {
    return absl::DataLossError(absl::StrCat(
        path, ": ", bytes.size() < expected ? "truncated" : "oversized",
        " idx file: header promises ", expected, " bytes, file has ",
        bytes.size()));
  }
  return shape;
}

torch::Tensor BytesToTensor(const std::string& bytes, size_t offset,
                            std::vector<int64_t> shape) {
  return torch::from_blob(const_cast<char*>(bytes.data()) + offset, shape,
                          torch::kUInt8)
      .clone();
}

}  // namespace

absl::StatusOr<torch::Tensor> ReadIdxFile(const std::string& path, IdxKind kind) {
  const bool images = kind == IdxKind::kImages;
  absl::StatusOr<std::string> bytes = ReadMaybeGzipped(path);
  if (!bytes.ok()) return bytes.status();
  absl::StatusOr<std::vector<int64_t>> shape =
      ParseIdxHeader(path, *bytes, images ? kIdxImagesMagic : kIdxLabelsMagic, images ? 3 : 1);
  if (!shape.ok()) return shape.status();
  return BytesToTensor(*bytes, images ? 16 : 8, *shape);
}

}  // namespace framework
