#include "framework/formats/safetensors.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <limits>
#include <set>

#include <torch/types.h>

#include "absl/strings/str_cat.h"
#include "framework/core/env.h"
#include "framework/core/overlapped_file_writer.h"
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
// Tensors smaller than this are checksummed in one call.
constexpr size_t kSmallTensorBytes = size_t{64} << 10;

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

absl::StatusOr<SafetensorsChecksums> WriteSafetensors(
    const std::string& path, const std::vector<NamedTensor>& tensors,
    const std::map<std::string, std::string>& metadata, bool sync, ChecksumKind checksum) {
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
  // Length and JSON in one buffer: one region to write and to checksum.
  std::string prefix(8, '\0');
  prefix += header.dump();
  prefix.append((8 - (prefix.size() - 8) % 8) % 8, ' ');
  const uint64_t header_size = prefix.size() - 8;
  for (int i = 0; i < 8; ++i) prefix[i] = static_cast<char>(header_size >> (8 * i));

  OverlappedFileWriter::Options options;
  options.sync = sync;
  absl::StatusOr<std::unique_ptr<OverlappedFileWriter>> file =
      OverlappedFileWriter::Create(path, options);
  if (!file.ok()) return file.status();
  SafetensorsChecksums checksums;
  (*file)->Append(prefix.data(), prefix.size());
  checksums.header = Checksum(checksum, prefix.data(), prefix.size());
  StreamingChecksum sum(checksum);
  for (const NamedTensor* named : order) {
    const at::Tensor& tensor = named->tensor;
    const bool in_place = tensor.device().is_cpu() && tensor.is_contiguous();
    // A staged copy (a CUDA or strided tensor) lives until it is written.
    std::shared_ptr<at::Tensor> staged;
    if (!in_place) staged = std::make_shared<at::Tensor>(tensor.cpu().contiguous());
    const at::Tensor& source = in_place ? tensor : *staged;
    const auto* bytes = static_cast<const char*>(source.data_ptr());
    const size_t size = source.nbytes();
    (*file)->Append(bytes, size, staged);
    // Checksummed while the writer thread writes the same bytes.
    if (size <= kSmallTensorBytes) {
      checksums.tensors[named->name] = Checksum(checksum, bytes, size);
      continue;
    }
    sum.Reset();
    for (size_t done = 0; done < size; done += kChunkBytes) {
      sum.Update(bytes + done, std::min(kChunkBytes, size - done));
    }
    checksums.tensors[named->name] = sum.Digest();
  }
  if (absl::Status status = (*file)->Finish(); !status.ok()) return status;
  return checksums;
}

namespace {

// With `prefix`, also returns the bytes it read (length and JSON), so that a
// caller checksums them without reading them again.
absl::StatusOr<SafetensorsHeader> ParseHeader(const std::string& path,
                                              const RandomAccessFile& file,
                                              std::string* prefix = nullptr) {
  absl::StatusOr<uint64_t> file_size = file.Size();
  if (!file_size.ok()) return file_size.status();
  SafetensorsHeader header;
  header.file_size = *file_size;
  if (header.file_size < 8) {
    return Malformed(path, absl::StrCat("file is ", header.file_size,
                                        " bytes, shorter than the 8-byte header length"));
  }
  unsigned char length[8];
  absl::StatusOr<size_t> length_read = file.Read(0, 8, length);
  if (!length_read.ok()) return length_read.status();
  if (*length_read != 8) return Malformed(path, "file shrank while being read");
  uint64_t header_size = 0;
  for (int i = 0; i < 8; ++i) header_size |= uint64_t{length[i]} << (8 * i);
  if (header_size > kMaxHeaderSize || header_size > header.file_size - 8) {
    return Malformed(path, absl::StrCat("header length ", header_size,
                                        " is larger than the file (", header.file_size,
                                        " bytes) allows"));
  }
  std::string text(header_size, '\0');
  absl::StatusOr<size_t> text_read = file.Read(8, header_size, text.data());
  if (!text_read.ok()) return text_read.status();
  if (*text_read != header_size) return Malformed(path, "file shrank while being read");
  if (prefix != nullptr) {
    prefix->assign(reinterpret_cast<const char*>(length), 8);
    prefix->append(text);
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

namespace {

// Reads `size` bytes at file offset `at` into `destination`, in chunks; after
// each chunk, `arrived(begin, end)` gets the data-section range now in memory.
absl::Status ReadChunks(const std::string& path, const RandomAccessFile& file, char* destination,
                        uint64_t size, uint64_t at, uint64_t data_start,
                        const std::function<absl::Status(uint64_t, uint64_t)>& arrived) {
  uint64_t done = 0;
  while (done < size) {
    absl::StatusOr<size_t> n = file.Read(data_start + at + done,
                                         std::min<uint64_t>(size - done, kChunkBytes),
                                         destination + done);
    if (!n.ok()) return n.status();
    if (*n == 0) return Malformed(path, "file shrank while being read");
    if (absl::Status s = arrived(at + done, at + done + *n); !s.ok()) return s;
    done += *n;
  }
  return absl::OkStatus();
}

absl::StatusOr<SafetensorsContents> ReadOpenSafetensors(const std::string& path,
                                                        const RandomAccessFile& file,
                                                        const SafetensorsReadOptions& options) {
  std::string prefix;
  absl::StatusOr<SafetensorsHeader> header = ParseHeader(path, file, &prefix);
  if (!header.ok()) return header.status();
  SafetensorsContents contents;
  contents.header = *std::move(header);
  const std::vector<SafetensorsEntry>& entries = contents.header.entries;
  {
    contents.checksums.header = Checksum(options.checksum, prefix.data(), prefix.size());
    if (options.expected_header != nullptr &&
        *options.expected_header != contents.checksums.header) {
      return absl::DataLossError(absl::StrCat(path, ": header fails its checksum (",
                                              ChecksumName(options.checksum), ")"));
    }
  }
  if (options.expected != nullptr) {
    for (const SafetensorsEntry& entry : entries) {
      if (options.expected->count(entry.name) == 0) {
        return absl::DataLossError(
            absl::StrCat(path, ": tensor '", entry.name, "' has no recorded checksum"));
      }
    }
    std::set<std::string> present;
    for (const SafetensorsEntry& entry : entries) present.insert(entry.name);
    for (const auto& [name, value] : *options.expected) {
      if (present.count(name) == 0) {
        return absl::DataLossError(absl::StrCat(path, ": tensor '", name, "' is missing"));
      }
    }
  }
  // Where each tensor's bytes go: its destination, or a shared buffer (whose
  // size the validated header bounds by the file's), at the tensor's own
  // offset so that runs of buffered tensors are read with large calls.
  std::vector<at::Tensor> targets(entries.size());
  uint64_t buffer_size = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    const SafetensorsEntry& entry = entries[i];
    if (options.destinations != nullptr) {
      auto it = options.destinations->find(entry.name);
      if (it != options.destinations->end()) {
        const at::Tensor& destination = it->second;
        if (destination.device().is_cpu() && destination.is_contiguous() &&
            destination.scalar_type() == *SafetensorsDtype(entry.dtype) &&
            destination.sizes().vec() == entry.shape) {
          targets[i] = destination;
        }
      }
    }
  }
  // Small tensors are read through the buffer even when they have a
  // destination (then copied there), so that runs of them take a few large
  // reads rather than one call each.
  std::vector<bool> in_buffer(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    const uint64_t size = entries[i].end - entries[i].begin;
    in_buffer[i] = !targets[i].defined() || size <= kSmallTensorBytes;
    if (in_buffer[i]) buffer_size += size;
  }
  at::Tensor buffer = torch::empty({static_cast<int64_t>(buffer_size)}, torch::kUInt8);
  std::vector<char*> starts(entries.size());
  uint64_t buffer_used = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (!in_buffer[i]) {
      starts[i] = static_cast<char*>(targets[i].data_ptr());
    } else {
      starts[i] = static_cast<char*>(buffer.data_ptr()) + buffer_used;
      buffer_used += entries[i].end - entries[i].begin;
    }
  }

  // Entries are checksummed in file order as their bytes arrive: `next` is
  // the first entry not yet complete.
  StreamingChecksum sum(options.checksum);
  size_t next = 0;
  auto arrived = [&](uint64_t begin, uint64_t end) -> absl::Status {
    for (; next < entries.size() && entries[next].begin < end; ++next) {
      const SafetensorsEntry& entry = entries[next];
      const uint64_t from = std::max(begin, entry.begin);
      const uint64_t to = std::min(end, entry.end);
      sum.Update(starts[next] + (from - entry.begin), to - from);
      if (entry.end > end) break;  // continues in the next chunk
      const uint64_t value = sum.Digest();
      sum.Reset();
      contents.checksums.tensors[entry.name] = value;
      if (options.expected != nullptr && options.expected->at(entry.name) != value) {
        return absl::DataLossError(absl::StrCat(
            path, ": tensor '", entry.name, "' fails its checksum (", ChecksumName(options.checksum),
            " ", FormatChecksum(options.checksum, value), ", recorded ",
            FormatChecksum(options.checksum, options.expected->at(entry.name)), ")"));
      }
    }
    return absl::OkStatus();
  };
  // Maximal runs of entries that are contiguous in memory are read together.
  for (size_t i = 0; i < entries.size();) {
    size_t j = i + 1;
    while (j < entries.size() && in_buffer[i] && in_buffer[j]) ++j;
    const uint64_t size = entries[j - 1].end - entries[i].begin;
    if (absl::Status s = ReadChunks(path, file, starts[i], size, entries[i].begin,
                                    contents.header.data_start, arrived);
        !s.ok()) {
      return s;
    }
    i = j;
  }
  // Empty tensors at the end of the data section meet no chunk.
  const uint64_t data_size = contents.header.file_size - contents.header.data_start;
  if (absl::Status s = arrived(data_size, data_size + 1); !s.ok()) {
    return s;
  }

  for (size_t i = 0; i < entries.size(); ++i) {
    const SafetensorsEntry& entry = entries[i];
    const c10::ScalarType dtype = *SafetensorsDtype(entry.dtype);
    const uint64_t size = entry.end - entry.begin;
    at::Tensor tensor = targets[i];
    if (tensor.defined() && in_buffer[i]) {
      // (An empty tensor's data pointer may be null, which memcpy may not see.)
      if (size > 0) std::memcpy(tensor.data_ptr(), starts[i], size);
    } else if (!tensor.defined()) {
      if (reinterpret_cast<uintptr_t>(starts[i]) % c10::elementSize(dtype) == 0) {
        // A view into the shared buffer, which it keeps alive.
        tensor = torch::from_blob(starts[i], entry.shape, [buffer](void*) {},
                                  torch::TensorOptions().dtype(dtype));
      } else {
        tensor = torch::empty(entry.shape, torch::TensorOptions().dtype(dtype));
        if (size > 0) std::memcpy(tensor.data_ptr(), starts[i], size);
      }
    }
    contents.tensors.push_back({entry.name, tensor});
  }
  return contents;
}

}  // namespace

absl::StatusOr<SafetensorsHeader> ReadSafetensorsHeader(const std::string& path) {
  absl::StatusOr<std::unique_ptr<RandomAccessFile>> file =
      Env::Default()->NewRandomAccessFile(path, /*sequential=*/false);
  if (!file.ok()) return file.status();
  return ParseHeader(path, **file);
}

absl::StatusOr<SafetensorsContents> ReadSafetensors(const std::string& path,
                                                    const SafetensorsReadOptions& options) {
  // One front-to-back pass: a larger readahead keeps the device busy while
  // each chunk is checksummed.
  absl::StatusOr<std::unique_ptr<RandomAccessFile>> file =
      Env::Default()->NewRandomAccessFile(path, /*sequential=*/true);
  if (!file.ok()) return file.status();
  return ReadOpenSafetensors(path, **file, options);
}

}  // namespace framework
