#include "framework/formats/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <limits>

#include <torch/types.h>

#include "absl/strings/str_cat.h"
#include "framework/core/durable_file.h"
#include "nlohmann/json.hpp"

namespace framework {
namespace {

// The safetensors library refuses headers over 100 MB; so do we, before
// allocating one.
constexpr uint64_t kMaxHeaderSize = 100'000'000;

// Data moves in chunks of this size: each chunk is checksummed while it is
// still in cache, and the kernel handles a few MiB per call much faster
// than one call for a whole large tensor (measured here: 6 GB/s against
// 2-3 GB/s for 64 MiB calls).
constexpr size_t kChunkBytes = size_t{4} << 20;

const std::vector<std::pair<std::string, c10::ScalarType>>& DtypeTable() {
  static const auto* table = new std::vector<std::pair<std::string, c10::ScalarType>>{
      {"F64", c10::kDouble}, {"F32", c10::kFloat},  {"F16", c10::kHalf},
      {"BF16", c10::kBFloat16}, {"I64", c10::kLong}, {"I32", c10::kInt},
      {"I16", c10::kShort},  {"I8", c10::kChar},    {"U8", c10::kByte},
      {"BOOL", c10::kBool}};
  return *table;
}

absl::Status Malformed(const std::string& path, const std::string& problem) {
  return absl::DataLossError(absl::StrCat(path, ": malformed safetensors file: ", problem));
}

uint32_t Crc32(const void* data, size_t size, uint32_t crc_so_far = 0) {
  uLong crc = crc_so_far;
  const auto* bytes = static_cast<const Bytef*>(data);
  while (size > 0) {
    const uInt chunk = static_cast<uInt>(std::min<size_t>(size, 1u << 30));
    crc = crc32(crc, bytes, chunk);
    bytes += chunk;
    size -= chunk;
  }
  return static_cast<uint32_t>(crc);
}

}  // namespace

absl::StatusOr<std::string> SafetensorsDtypeName(c10::ScalarType type) {
  for (const auto& [name, dtype] : DtypeTable()) {
    if (dtype == type) return name;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("dtype ", c10::toString(type), " cannot be stored in safetensors"));
}

absl::StatusOr<c10::ScalarType> SafetensorsDtype(const std::string& name) {
  for (const auto& [spelling, dtype] : DtypeTable()) {
    if (spelling == name) return dtype;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown safetensors dtype '", name, "'"));
}

absl::StatusOr<std::map<std::string, uint32_t>> WriteSafetensors(
    const std::string& path, const std::vector<NamedTensor>& tensors,
    const std::map<std::string, std::string>& metadata, bool sync) {
  // Largest elements first keeps every tensor aligned to its element size
  // (the data section starts 8-byte aligned and the format allows no gaps).
  std::vector<const NamedTensor*> order;
  for (const NamedTensor& tensor : tensors) order.push_back(&tensor);
  std::stable_sort(order.begin(), order.end(), [](const NamedTensor* a, const NamedTensor* b) {
    return a->tensor.element_size() > b->tensor.element_size();
  });

  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const NamedTensor* named : order) {
    if (named->name == "__metadata__" || named->name.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": bad tensor name '", named->name, "'"));
    }
    if (header.contains(named->name)) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": tensor '", named->name, "' twice"));
    }
    absl::StatusOr<std::string> dtype = SafetensorsDtypeName(named->tensor.scalar_type());
    if (!dtype.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": tensor '", named->name, "': ", dtype.status().message()));
    }
    const uint64_t size = named->tensor.nbytes();
    header[named->name] = {{"dtype", *dtype},
                           {"shape", named->tensor.sizes().vec()},
                           {"data_offsets", {offset, offset + size}}};
    offset += size;
  }
  std::string header_text = header.dump();
  header_text.append((8 - header_text.size() % 8) % 8, ' ');
  const uint64_t header_size = header_text.size();
  unsigned char length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<unsigned char>(header_size >> (8 * i));

  absl::StatusOr<FileWriter> file = FileWriter::Create(path);
  if (!file.ok()) return file.status();
  if (absl::Status s = file->Write(length, 8); !s.ok()) return s;
  if (absl::Status s = file->Write(header_text.data(), header_text.size()); !s.ok()) return s;
  std::map<std::string, uint32_t> checksums;
  for (const NamedTensor* named : order) {
    at::Tensor cpu = named->tensor.device().is_cpu() ? named->tensor : named->tensor.cpu();
    cpu = cpu.contiguous();
    const auto* bytes = static_cast<const char*>(cpu.data_ptr());
    uint32_t crc = 0;
    for (size_t done = 0; done < cpu.nbytes(); done += kChunkBytes) {
      const size_t length = std::min(kChunkBytes, cpu.nbytes() - done);
      crc = Crc32(bytes + done, length, crc);
      if (absl::Status s = file->Write(bytes + done, length); !s.ok()) return s;
    }
    checksums[named->name] = crc;
  }
  if (sync) {
    if (absl::Status s = file->Sync(); !s.ok()) return s;
  }
  if (absl::Status s = file->Close(); !s.ok()) return s;
  return checksums;
}

namespace {

absl::StatusOr<SafetensorsHeader> ParseHeader(const std::string& path, int fd) {
  struct stat info;
  if (fstat(fd, &info) != 0) return ErrnoError("cannot stat", path);
  SafetensorsHeader header;
  header.file_size = static_cast<uint64_t>(info.st_size);
  if (header.file_size < 8) {
    return Malformed(path, absl::StrCat("file is ", header.file_size,
                                        " bytes, shorter than the 8-byte header length"));
  }
  unsigned char length[8];
  if (pread(fd, length, 8, 0) != 8) return ErrnoError("cannot read", path);
  uint64_t header_size = 0;
  for (int i = 0; i < 8; ++i) header_size |= uint64_t{length[i]} << (8 * i);
  if (header_size > kMaxHeaderSize || header_size > header.file_size - 8) {
    return Malformed(path, absl::StrCat("header length ", header_size,
                                        " is larger than the file (", header.file_size,
                                        " bytes) allows"));
  }
  std::string text(header_size, '\0');
  if (pread(fd, text.data(), header_size, 8) != static_cast<ssize_t>(header_size)) {
    return ErrnoError("cannot read", path);
  }
  const nlohmann::json json = nlohmann::json::parse(text, nullptr, false);
  if (json.is_discarded() || !json.is_object()) {
    return Malformed(path, "header is not a JSON object");
  }
  header.data_start = 8 + header_size;
  const uint64_t data_size = header.file_size - header.data_start;
  for (auto it = json.begin(); it != json.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it->is_object()) return Malformed(path, "__metadata__ is not an object");
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string()) {
          return Malformed(path, absl::StrCat("__metadata__ value '", m.key(), "' is not a string"));
        }
        header.metadata[m.key()] = m->get<std::string>();
      }
      continue;
    }
    const std::string where = absl::StrCat("tensor '", it.key(), "'");
    const nlohmann::json& entry = *it;
    if (!entry.is_object() || !entry.contains("dtype") || !entry["dtype"].is_string() ||
        !entry.contains("shape") || !entry["shape"].is_array() ||
        !entry.contains("data_offsets") || !entry["data_offsets"].is_array() ||
        entry["data_offsets"].size() != 2) {
      return Malformed(path, absl::StrCat(where, " needs dtype, shape and two data_offsets"));
    }
    SafetensorsEntry parsed;
    parsed.name = it.key();
    parsed.dtype = entry["dtype"].get<std::string>();
    absl::StatusOr<c10::ScalarType> dtype = SafetensorsDtype(parsed.dtype);
    if (!dtype.ok()) return Malformed(path, absl::StrCat(where, ": ", dtype.status().message()));
    // Element count with overflow checks: a hostile shape must not wrap.
    uint64_t elements = 1;
    for (const nlohmann::json& dim : entry["shape"]) {
      if (!dim.is_number_unsigned()) {
        return Malformed(path, absl::StrCat(where, ": shape ", entry["shape"].dump(),
                                            " is not a list of non-negative integers"));
      }
      const uint64_t d = dim.get<uint64_t>();
      if (d > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
          (d != 0 && elements > std::numeric_limits<uint64_t>::max() / 8 / d)) {
        return Malformed(path, absl::StrCat(where, ": shape ", entry["shape"].dump(), " is too large"));
      }
      elements *= d;
      parsed.shape.push_back(static_cast<int64_t>(d));
    }
    for (const nlohmann::json& offset : entry["data_offsets"]) {
      if (!offset.is_number_unsigned()) {
        return Malformed(path, absl::StrCat(where, ": data_offsets ", entry["data_offsets"].dump(),
                                            " are not non-negative integers"));
      }
    }
    parsed.begin = entry["data_offsets"][0].get<uint64_t>();
    parsed.end = entry["data_offsets"][1].get<uint64_t>();
    if (parsed.begin > parsed.end || parsed.end > data_size) {
      return Malformed(path, absl::StrCat(where, ": data_offsets [", parsed.begin, ", ", parsed.end,
                                          "] are out of range of the ", data_size,
                                          "-byte data section"));
    }
    const uint64_t expected = elements * c10::elementSize(*dtype);
    if (parsed.end - parsed.begin != expected) {
      return Malformed(path, absl::StrCat(where, ": ", parsed.end - parsed.begin,
                                          " bytes for a ", parsed.dtype, " tensor of shape ",
                                          entry["shape"].dump(), " (", expected, " bytes)"));
    }
    header.entries.push_back(std::move(parsed));
  }
  std::sort(header.entries.begin(), header.entries.end(),
            [](const SafetensorsEntry& a, const SafetensorsEntry& b) {
              return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
            });
  uint64_t covered = 0;
  for (const SafetensorsEntry& entry : header.entries) {
    if (entry.begin < covered) {
      return Malformed(path, absl::StrCat("tensor '", entry.name, "' overlaps another tensor"));
    }
    if (entry.begin > covered) {
      return Malformed(path, absl::StrCat("bytes [", covered, ", ", entry.begin,
                                          ") of the data section belong to no tensor"));
    }
    covered = entry.end;
  }
  if (covered != data_size) {
    return Malformed(path, absl::StrCat("the data section has ", data_size,
                                        " bytes but its tensors cover ", covered,
                                        covered < data_size ? " (trailing bytes)" : ""));
  }
  return header;
}

}  // namespace

absl::StatusOr<SafetensorsHeader> ReadSafetensorsHeader(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("cannot open", path);
  absl::StatusOr<SafetensorsHeader> header = ParseHeader(path, fd);
  close(fd);
  return header;
}

absl::StatusOr<SafetensorsContents> ReadSafetensors(
    const std::string& path, const std::map<std::string, uint32_t>* expected_crc32,
    const std::map<std::string, at::Tensor>* destinations) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("cannot open", path);
  absl::StatusOr<SafetensorsHeader> header = ParseHeader(path, fd);
  if (!header.ok()) {
    close(fd);
    return header.status();
  }
  SafetensorsContents contents;
  contents.header = *std::move(header);
  // Where each tensor's bytes go: its destination, or a shared buffer (whose
  // size the validated header bounds by the file's).
  std::vector<at::Tensor> targets(contents.header.entries.size());
  uint64_t buffer_size = 0;
  for (size_t i = 0; i < contents.header.entries.size(); ++i) {
    const SafetensorsEntry& entry = contents.header.entries[i];
    if (destinations == nullptr) continue;
    auto it = destinations->find(entry.name);
    if (it == destinations->end()) continue;
    const at::Tensor& destination = it->second;
    if (destination.device().is_cpu() && destination.is_contiguous() &&
        destination.scalar_type() == *SafetensorsDtype(entry.dtype) &&
        destination.sizes().vec() == entry.shape) {
      targets[i] = destination;
    }
  }
  for (size_t i = 0; i < targets.size(); ++i) {
    if (!targets[i].defined()) {
      buffer_size += contents.header.entries[i].end - contents.header.entries[i].begin;
    }
  }
  at::Tensor buffer = torch::empty({static_cast<int64_t>(buffer_size)}, torch::kUInt8);
  uint64_t buffer_used = 0;

  // Each chunk is checksummed right after it is read, while still in cache.
  for (size_t i = 0; i < contents.header.entries.size(); ++i) {
    const SafetensorsEntry& entry = contents.header.entries[i];
    const c10::ScalarType dtype = *SafetensorsDtype(entry.dtype);
    const uint64_t size = entry.end - entry.begin;
    char* start = nullptr;
    if (targets[i].defined()) {
      start = static_cast<char*>(targets[i].data_ptr());
    } else {
      start = static_cast<char*>(buffer.data_ptr()) + buffer_used;
      buffer_used += size;
    }
    uint32_t crc = 0;
    uint64_t done = 0;
    while (done < size) {
      const ssize_t n = pread(fd, start + done, std::min<uint64_t>(size - done, kChunkBytes),
                              static_cast<off_t>(contents.header.data_start + entry.begin + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        absl::Status status = n < 0 ? ErrnoError("cannot read", path)
                                    : Malformed(path, "file shrank while being read");
        close(fd);
        return status;
      }
      crc = Crc32(start + done, static_cast<size_t>(n), crc);
      done += static_cast<uint64_t>(n);
    }
    contents.crc32[entry.name] = crc;
    if (expected_crc32 != nullptr) {
      auto expected = expected_crc32->find(entry.name);
      if (expected == expected_crc32->end()) {
        close(fd);
        return absl::DataLossError(
            absl::StrCat(path, ": tensor '", entry.name, "' has no recorded checksum"));
      }
      if (expected->second != crc) {
        close(fd);
        return absl::DataLossError(absl::StrCat(path, ": tensor '", entry.name,
                                                "' fails its checksum (crc32 ", crc,
                                                ", recorded ", expected->second, ")"));
      }
    }
    at::Tensor tensor = targets[i];
    if (!tensor.defined()) {
      if (reinterpret_cast<uintptr_t>(start) % c10::elementSize(dtype) == 0) {
        // A view into the shared buffer, which it keeps alive.
        tensor = torch::from_blob(start, entry.shape, [buffer](void*) {},
                                  torch::TensorOptions().dtype(dtype));
      } else {
        tensor = torch::empty(entry.shape, torch::TensorOptions().dtype(dtype));
        std::memcpy(tensor.data_ptr(), start, size);
      }
    }
    contents.tensors.push_back({entry.name, tensor});
  }
  close(fd);
  if (expected_crc32 != nullptr) {
    for (const auto& [name, crc] : *expected_crc32) {
      if (contents.crc32.count(name) == 0) {
        return absl::DataLossError(absl::StrCat(path, ": tensor '", name, "' is missing"));
      }
    }
  }
  return contents;
}

}  // namespace framework
