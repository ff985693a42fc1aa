#include "framework/formats/safetensors.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <limits>
#include <utility>

#include <simdjson.h>
#include <sys/uio.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/types.h>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "framework/core/env.h"
#include "framework/core/overlapped_file_writer.h"
#include "framework/formats/json_parser_pool.h"
#include "framework/formats/json_string.h"

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
// Pieces of memory one scattered read fills (a few preadv calls of IOV_MAX).
constexpr size_t kMaxPiecesPerRead = 4096;

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
    const std::map<std::string, std::string>& metadata, bool sync, ChecksumKind checksum,
    const std::function<void(const SafetensorsChecksums&)>& while_writing) {
  // Largest elements first keeps every tensor aligned to its element size
  // (the data section starts 8-byte aligned and the format allows no gaps).
  std::vector<const NamedTensor*> order;
  for (const NamedTensor& tensor : tensors) order.push_back(&tensor);
  std::stable_sort(order.begin(), order.end(), [](const NamedTensor* a, const NamedTensor* b) {
    return a->tensor.element_size() > b->tensor.element_size();
  });

  // The header is printed directly (no document with a node per value: a
  // checkpoint of a transformer with its optimizer state names thousands of
  // tensors). Length and JSON in one buffer: one region to write and to
  // checksum.
  std::string prefix(8, '\0');
  prefix.reserve(8 + 96 * order.size() + 64);
  prefix.push_back('{');
  if (!metadata.empty()) {
    prefix += "\"__metadata__\":{";
    bool first = true;
    for (const auto& [key, value] : metadata) {
      if (!first) prefix.push_back(',');
      first = false;
      if (absl::Status s = AppendJsonString(key, &prefix); !s.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(path, ": metadata key: ", s.message()));
      }
      prefix.push_back(':');
      if (absl::Status s = AppendJsonString(value, &prefix); !s.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ": metadata '", key, "': ", s.message()));
      }
    }
    prefix.push_back('}');
  }
  absl::flat_hash_set<std::string_view> names;
  names.reserve(order.size());
  uint64_t offset = 0;
  for (const NamedTensor* named : order) {
    if (named->name == "__metadata__" || named->name.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": bad tensor name '", named->name, "'"));
    }
    if (!names.insert(named->name).second) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": tensor '", named->name, "' twice"));
    }
    absl::StatusOr<std::string> dtype = SafetensorsDtypeName(named->tensor.scalar_type());
    if (!dtype.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": tensor '", named->name, "': ", dtype.status().message()));
    }
    const uint64_t size = named->tensor.nbytes();
    if (prefix.size() > 9) prefix.push_back(',');
    if (absl::Status s = AppendJsonString(named->name, &prefix); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": tensor name: ", s.message()));
    }
    absl::StrAppend(&prefix, ":{\"dtype\":\"", *dtype, "\",\"shape\":[",
                    absl::StrJoin(named->tensor.sizes(), ","), "],\"data_offsets\":[", offset, ",",
                    offset + size, "]}");
    offset += size;
  }
  prefix.push_back('}');
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
    if (!in_place) {
      torch::NoGradGuard no_grad;  // a checkpoint's parameters may require grad
      staged = std::make_shared<at::Tensor>(tensor.cpu().contiguous());
    }
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
  checksums.file_bytes = prefix.size() + offset;
  if (while_writing) while_writing(checksums);
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
  // The length and the JSON in one buffer, handed to `prefix` whole (a
  // megabyte for 10,000 tensors: not copied). simdjson reads up to
  // SIMDJSON_PADDING bytes past the end; reserved here so that it parses
  // the buffer where it is.
  std::string bytes;
  bytes.reserve(8 + header_size + simdjson::SIMDJSON_PADDING);
  bytes.assign(reinterpret_cast<const char*>(length), 8);
  bytes.resize(8 + header_size);
  absl::StatusOr<size_t> text_read = file.Read(8, header_size, bytes.data() + 8);
  if (!text_read.ok()) return text_read.status();
  if (*text_read != header_size) return Malformed(path, "file shrank while being read");
  // simdjson: the header of a many-tensor file parses at memory speed
  // (nlohmann-json's document model allocated for every value).
  JsonParserPool::Lease parser = JsonParserPool::Default().Acquire();  // (its pages are warm)
  simdjson::dom::object json;
  if (parser->parse(bytes.data() + 8, header_size, /*realloc_if_needed=*/false).get(json) !=
      simdjson::SUCCESS) {
    return Malformed(path, "header is not a JSON object");
  }
  header.data_start = 8 + header_size;
  const uint64_t data_size = header.file_size - header.data_start;
  // Room for every entry up front: grown by doubling, the entries of
  // 10,000 tensors were moved 10,000 times more, into fresh pages each time.
  // (simdjson counts keys up to 2^24 - 1; every entry takes more than 32
  // bytes of JSON.)
  const size_t fields = std::min<size_t>(json.size(), header_size / 32 + 1);
  header.entries.reserve(fields);
  absl::flat_hash_set<absl::string_view> names;
  names.reserve(fields);
  for (const simdjson::dom::key_value_pair field : json) {
    const absl::string_view key(field.key.data(), field.key.size());
    if (!names.insert(key).second) {
      return Malformed(path, absl::StrCat("'", key, "' appears twice in the header"));
    }
    if (key == "__metadata__") {
      simdjson::dom::object metadata;
      if (field.value.get_object().get(metadata) != simdjson::SUCCESS) {
        return Malformed(path, "__metadata__ is not an object");
      }
      for (const simdjson::dom::key_value_pair m : metadata) {
        std::string_view value;
        if (m.value.get_string().get(value) != simdjson::SUCCESS) {
          return Malformed(path, absl::StrCat("__metadata__ value '", std::string(m.key), "' is not a string"));
        }
        header.metadata[std::string(m.key)] = std::string(value);
      }
      continue;
    }
    // Built only for an error: a header names thousands of tensors.
    auto where = [&key] { return absl::StrCat("tensor '", key, "'"); };
    simdjson::dom::object entry;
    std::string_view dtype_name;
    simdjson::dom::array shape, offsets;
    if (field.value.get_object().get(entry) != simdjson::SUCCESS ||
        entry["dtype"].get_string().get(dtype_name) != simdjson::SUCCESS ||
        entry["shape"].get_array().get(shape) != simdjson::SUCCESS ||
        entry["data_offsets"].get_array().get(offsets) != simdjson::SUCCESS ||
        offsets.size() != 2) {
      return Malformed(path, absl::StrCat(where(), " needs dtype, shape and two data_offsets"));
    }
    SafetensorsEntry parsed;
    parsed.name = std::string(key);
    parsed.dtype = std::string(dtype_name);
    absl::StatusOr<c10::ScalarType> dtype = SafetensorsDtype(parsed.dtype);
    if (!dtype.ok()) return Malformed(path, absl::StrCat(where(), ": ", dtype.status().message()));
    parsed.scalar_type = *dtype;
    // Element count with overflow checks: a hostile shape must not wrap.
    uint64_t elements = 1;
    for (const simdjson::dom::element dim : shape) {
      uint64_t d = 0;
      if (!(dim.is_int64() || dim.is_uint64()) || dim.get_uint64().get(d) != simdjson::SUCCESS) {
        return Malformed(path, absl::StrCat(where(), ": shape ", simdjson::minify(shape),
                                            " is not a list of non-negative integers"));
      }
      if (d > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
          (d != 0 && elements > std::numeric_limits<uint64_t>::max() / 8 / d)) {
        return Malformed(path,
                         absl::StrCat(where(), ": shape ", simdjson::minify(shape), " is too large"));
      }
      elements *= d;
      parsed.shape.push_back(static_cast<int64_t>(d));
    }
    uint64_t bounds[2];
    for (int i = 0; i < 2; ++i) {
      simdjson::dom::element offset;
      if (offsets.at(i).get(offset) != simdjson::SUCCESS || !(offset.is_int64() || offset.is_uint64()) || offset.get_uint64().get(bounds[i]) != simdjson::SUCCESS) {
        return Malformed(path, absl::StrCat(where(), ": data_offsets ", simdjson::minify(offsets),
                                            " are not non-negative integers"));
      }
    }
    parsed.begin = bounds[0];
    parsed.end = bounds[1];
    if (parsed.begin > parsed.end || parsed.end > data_size) {
      return Malformed(path, absl::StrCat(where(), ": data_offsets [", parsed.begin, ", ", parsed.end,
                                          "] are out of range of the ", data_size,
                                          "-byte data section"));
    }
    const uint64_t expected = elements * c10::elementSize(*dtype);
    if (parsed.end - parsed.begin != expected) {
      return Malformed(path, absl::StrCat(where(), ": ", parsed.end - parsed.begin,
                                          " bytes for a ", parsed.dtype, " tensor of shape ",
                                          simdjson::minify(shape), " (", expected, " bytes)"));
    }
    header.entries.push_back(std::move(parsed));
  }
  if (prefix != nullptr) *prefix = std::move(bytes);
  auto in_data_order = [](const SafetensorsEntry& a, const SafetensorsEntry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  };
  // Writers list them in data order (ours does): then nothing to sort.
  if (!std::is_sorted(header.entries.begin(), header.entries.end(), in_data_order)) {
    std::sort(header.entries.begin(), header.entries.end(), in_data_order);
  }
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

// Every tensor of the file has a recorded checksum, and every recorded one
// is in the file.
absl::Status CheckNamesRecorded(const std::string& path,
                                const std::vector<SafetensorsEntry>& entries,
                                const TensorChecksums& expected) {
  for (const SafetensorsEntry& entry : entries) {
    if (expected.count(entry.name) == 0) {
      return absl::DataLossError(
          absl::StrCat(path, ": tensor '", entry.name, "' has no recorded checksum"));
    }
  }
  // The header's names are distinct (ParseHeader refuses a repeated one), so
  // when there are as many as recorded names, all of which were found, none
  // recorded is missing: no set of 10,000 names to build.
  if (entries.size() == expected.size()) return absl::OkStatus();
  absl::flat_hash_set<std::string_view> present;
  present.reserve(entries.size());
  for (const SafetensorsEntry& entry : entries) present.insert(entry.name);
  for (const auto& [name, value] : expected) {
    if (present.count(name) == 0) {
      return absl::DataLossError(absl::StrCat(path, ": tensor '", name, "' is missing"));
    }
  }
  return absl::OkStatus();
}

absl::Status HeaderMismatch(const std::string& path, ChecksumKind checksum) {
  return absl::DataLossError(
      absl::StrCat(path, ": header fails its checksum (", ChecksumName(checksum), ")"));
}

absl::Status ChecksumMismatch(const std::string& path, const std::string& name,
                              ChecksumKind checksum, uint64_t value, uint64_t recorded) {
  return absl::DataLossError(absl::StrCat(
      path, ": tensor '", name, "' fails its checksum (", ChecksumName(checksum), " ",
      FormatChecksum(checksum, value), ", recorded ", FormatChecksum(checksum, recorded), ")"));
}

}  // namespace

absl::StatusOr<SafetensorsContents> ReadSafetensorsData(const OpenedSafetensors& opened,
                                                        const SafetensorsReadOptions& options) {
  const std::string& path = opened.path;
  const RandomAccessFile& file = *opened.file;
  SafetensorsContents contents;
  const SafetensorsHeader& header = opened.header;
  const std::vector<SafetensorsEntry>& entries = header.entries;
  if (options.checksum != opened.checksum) {
    return absl::InternalError(absl::StrCat(path, ": opened for ", ChecksumName(opened.checksum),
                                            ", read for ", ChecksumName(options.checksum)));
  }
  contents.header_checksum = opened.header_checksum;
  if (options.expected_header != nullptr &&
      *options.expected_header != contents.header_checksum) {
    return HeaderMismatch(path, options.checksum);
  }
  contents.entry_checksums.resize(entries.size());
  if (options.expected != nullptr) {
    if (absl::Status s = CheckNamesRecorded(path, entries, *options.expected); !s.ok()) return s;
  }
  // Where each tensor's bytes go: its destination, or a shared buffer (whose
  // size the validated header bounds by the file's), at the tensor's own
  // offset so that runs of buffered tensors are read with large calls.
  // Each tensor is kept, or (not wanted) checksummed through a scratch
  // buffer and dropped, or skipped unread.
  enum class Fate { kKeep, kVerify, kSkip };
  std::vector<Fate> fate(entries.size(), Fate::kKeep);
  bool any_verified = false;
  if (options.wanted) {
    for (size_t i = 0; i < entries.size(); ++i) {
      if (options.wanted(entries[i].name)) continue;
      fate[i] = options.verify_unwanted ? Fate::kVerify : Fate::kSkip;
      any_verified = any_verified || options.verify_unwanted;
    }
  }
  auto kept = [&](size_t i) { return fate[i] == Fate::kKeep; };
  // A read call covers at most kChunkBytes, so that is all the scratch the
  // verified tensors need: their bytes land at their offset in the call.
  std::vector<char> scratch(any_verified ? kChunkBytes : 0);
  std::vector<at::Tensor> targets(entries.size());
  uint64_t buffer_size = 0;
  if (options.destinations != nullptr) {
    // Found first, looked at after: each destination's tensor is a cache
    // miss or three (10,000 of them: 2-4 ms before the first read), and
    // asking for them all before using any lets the misses overlap.
    std::vector<const at::Tensor*> found(entries.size(), nullptr);
    for (size_t i = 0; i < entries.size(); ++i) {
      if (!kept(i)) continue;
      auto it = options.destinations->find(entries[i].name);
      if (it == options.destinations->end()) continue;
      found[i] = &it->second;
      const char* impl = reinterpret_cast<const char*>(it->second.unsafeGetTensorImpl());
      for (int line = 0; line < 4; ++line) __builtin_prefetch(impl + 64 * line);
    }
    for (size_t i = 0; i < entries.size(); ++i) {
      if (found[i] == nullptr) continue;
      const SafetensorsEntry& entry = entries[i];
      const at::Tensor& destination = *found[i];
      if (destination.device().is_cpu() && destination.is_contiguous() &&
          destination.scalar_type() == entry.scalar_type &&
          destination.sizes() == c10::IntArrayRef(entry.shape.data(), entry.shape.size())) {
        targets[i] = destination;
      }
    }
  }
  // Tensors without a destination share one buffer, back to back.
  for (size_t i = 0; i < entries.size(); ++i) {
    if (kept(i) && !targets[i].defined()) buffer_size += entries[i].end - entries[i].begin;
  }
  at::Tensor buffer = torch::empty({static_cast<int64_t>(buffer_size)}, torch::kUInt8);
  std::vector<char*> starts(entries.size());
  uint64_t buffer_used = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (!kept(i)) continue;
    if (targets[i].defined()) {
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
      if (fate[next] == Fate::kSkip) continue;  // its bytes were not read
      const SafetensorsEntry& entry = entries[next];
      const uint64_t from = std::max(begin, entry.begin);
      const uint64_t to = std::min(end, entry.end);
      // (`begin` is where the call that read these bytes began.)
      const char* bytes = fate[next] == Fate::kKeep ? starts[next] + (from - entry.begin)
                                                    : scratch.data() + (from - begin);
      uint64_t value;
      if (from == entry.begin && to == entry.end) {
        // Whole in this call (most small tensors): one call, where the
        // streaming state's reset, update and digest cost 10,000 small
        // tensors more than their bytes did; the value is the same.
        value = Checksum(options.checksum, bytes, to - from);
      } else {
        sum.Update(bytes, to - from);
        if (entry.end > end) break;  // continues in the next chunk
        value = sum.Digest();
        sum.Reset();
      }
      contents.entry_checksums[next] = value;
      if (options.expected != nullptr && options.expected->at(entry.name) != value) {
        return ChecksumMismatch(path, entry.name, options.checksum, value,
                                options.expected->at(entry.name));
      }
    }
    return absl::OkStatus();
  };
  // The data section is read front to back in calls of up to kChunkBytes,
  // each filling the memory of the tensors it covers (scattered: thousands
  // of small tensors go straight into a model's parameters with a few
  // calls), and checksummed while it is in cache.
  std::vector<iovec> pieces;
  uint64_t call_begin = 0;  // data-section offset of the pending call
  uint64_t call_size = 0;
  auto read_pending = [&]() -> absl::Status {
    if (call_size == 0) return absl::OkStatus();
    absl::StatusOr<size_t> n = file.ReadScattered(header.data_start + call_begin,
                                                  pieces.data(), pieces.size());
    if (!n.ok()) return n.status();
    if (*n != call_size) return Malformed(path, "file shrank while being read");
    if (absl::Status s = arrived(call_begin, call_begin + call_size); !s.ok()) return s;
    call_begin += call_size;
    call_size = 0;
    pieces.clear();
    return absl::OkStatus();
  };
  for (size_t i = 0; i < entries.size(); ++i) {
    if (fate[i] == Fate::kSkip) {
      // The pending call ends before this tensor; the next starts after it.
      if (absl::Status s = read_pending(); !s.ok()) return s;
      call_begin = entries[i].end;
      continue;
    }
    char* to = starts[i];
    uint64_t left = entries[i].end - entries[i].begin;
    while (left > 0) {
      if (fate[i] == Fate::kVerify) to = scratch.data() + call_size;
      const uint64_t take = std::min<uint64_t>(left, kChunkBytes - call_size);
      if (!pieces.empty() && static_cast<char*>(pieces.back().iov_base) + pieces.back().iov_len == to) {
        pieces.back().iov_len += take;  // contiguous with the piece before (the shared buffer)
      } else {
        pieces.push_back({to, take});
      }
      call_size += take;
      to += take;
      left -= take;
      if (call_size == kChunkBytes || pieces.size() == kMaxPiecesPerRead) {
        if (absl::Status s = read_pending(); !s.ok()) return s;
      }
    }
  }
  if (absl::Status s = read_pending(); !s.ok()) return s;
  // Empty tensors at the end of the data section meet no chunk.
  const uint64_t data_size = header.file_size - header.data_start;
  if (absl::Status s = arrived(data_size, data_size + 1); !s.ok()) {
    return s;
  }

  contents.tensors.reserve(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    if (!kept(i)) continue;
    const SafetensorsEntry& entry = entries[i];
    const c10::ScalarType dtype = entry.scalar_type;
    const uint64_t size = entry.end - entry.begin;
    at::Tensor tensor = std::move(targets[i]);
    if (!tensor.defined()) {
      if (reinterpret_cast<uintptr_t>(starts[i]) % c10::elementSize(dtype) == 0) {
        // A view into the shared buffer, which it keeps alive.
        tensor = torch::from_blob(starts[i], c10::IntArrayRef(entry.shape.data(), entry.shape.size()),
                                  [buffer](void*) {},
                                  torch::TensorOptions().dtype(dtype));
      } else {
        tensor = torch::empty(c10::IntArrayRef(entry.shape.data(), entry.shape.size()),
                              torch::TensorOptions().dtype(dtype));
        if (size > 0) std::memcpy(tensor.data_ptr(), starts[i], size);
      }
    }
    contents.tensors.push_back({entry.name, std::move(tensor)});
  }
  return contents;
}

absl::Status CheckSafetensorsChecksums(const std::string& path,
                                       const SafetensorsContents& contents,
                                       const SafetensorsReadOptions& options) {
  if (options.expected_header != nullptr && *options.expected_header != contents.header_checksum) {
    return HeaderMismatch(path, options.checksum);
  }
  if (options.expected == nullptr) return absl::OkStatus();
  const std::vector<SafetensorsEntry>& entries = contents.header.entries;
  if (contents.entry_checksums.size() != entries.size()) {
    return absl::InternalError(absl::StrCat(path, ": checksums of ", contents.entry_checksums.size(),
                                            " tensors for ", entries.size(), " entries"));
  }
  if (absl::Status s = CheckNamesRecorded(path, entries, *options.expected); !s.ok()) return s;
  for (size_t i = 0; i < entries.size(); ++i) {  // the first damaged one in file order
    const SafetensorsEntry& entry = entries[i];
    const std::optional<uint64_t>& value = contents.entry_checksums[i];
    if (!value.has_value()) {
      if (options.wanted && !options.wanted(entry.name)) continue;  // skipped unread
      return absl::InternalError(absl::StrCat(path, ": tensor '", entry.name, "' was not read"));
    }
    const uint64_t recorded = options.expected->at(entry.name);
    if (*value != recorded) {
      return ChecksumMismatch(path, entry.name, options.checksum, *value, recorded);
    }
  }
  return absl::OkStatus();
}

TensorChecksums SafetensorsContents::ChecksumsByName() const {
  TensorChecksums by_name;
  for (size_t i = 0; i < header.entries.size() && i < entry_checksums.size(); ++i) {
    if (entry_checksums[i].has_value()) by_name[header.entries[i].name] = *entry_checksums[i];
  }
  return by_name;
}

absl::StatusOr<SafetensorsHeader> ReadSafetensorsHeader(const std::string& path) {
  absl::StatusOr<std::unique_ptr<RandomAccessFile>> file =
      Env::Default()->NewRandomAccessFile(path, /*sequential=*/false);
  if (!file.ok()) return file.status();
  return ParseHeader(path, **file);
}

absl::StatusOr<OpenedSafetensors> OpenSafetensors(const std::string& path,
                                                  ChecksumKind checksum) {
  OpenedSafetensors opened;
  opened.path = path;
  opened.checksum = checksum;
  // One front-to-back pass: a larger readahead keeps the device busy while
  // each chunk is checksummed.
  absl::StatusOr<std::unique_ptr<RandomAccessFile>> file =
      Env::Default()->NewRandomAccessFile(path, /*sequential=*/true);
  if (!file.ok()) return file.status();
  opened.file = *std::move(file);
  std::string prefix;
  absl::StatusOr<SafetensorsHeader> header = ParseHeader(path, *opened.file, &prefix);
  if (!header.ok()) return header.status();
  opened.header = *std::move(header);
  opened.header_checksum = Checksum(checksum, prefix.data(), prefix.size());
  return opened;
}


absl::StatusOr<SafetensorsContents> ReadSafetensors(const std::string& path,
                                                    const SafetensorsReadOptions& options) {
  absl::StatusOr<OpenedSafetensors> opened = OpenSafetensors(path, options.checksum);
  if (!opened.ok()) return opened.status();
  absl::StatusOr<SafetensorsContents> contents = ReadSafetensorsData(*opened, options);
  if (contents.ok()) contents->header = std::move(opened->header);
  return contents;
}

}  // namespace framework
