// The safetensors format: an 8-byte little-endian header length, a JSON
// header mapping each tensor name to {dtype, shape, data_offsets} (plus an
// optional "__metadata__" string map), then the tensors' bytes, back to back.
//
// The reader validates the header completely before it allocates anything
// for the data (offsets in range, no overlaps or holes, known dtypes, sizes
// matching shapes), so a malformed or hostile file is an error naming the
// file and the problem, never a crash or a huge allocation. Each tensor's
// checksum (core/checksum.h) is computed while writing and can be verified
// while reading.
#ifndef FRAMEWORK_FORMATS_SAFETENSORS_H_
#define FRAMEWORK_FORMATS_SAFETENSORS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "framework/core/checksum.h"
#include "framework/core/env.h"
#include "framework/core/named_tensor.h"
#include "framework/formats/tensor_shape.h"

namespace framework {

struct SafetensorsEntry {
  std::string name;
  std::string dtype;  // safetensors spelling: F32, BF16, I64, BOOL...
  c10::ScalarType scalar_type = c10::ScalarType::Undefined;  // what `dtype` spells
  TensorShape shape;
  uint64_t begin = 0;  // offsets relative to the data section
  uint64_t end = 0;
};

struct SafetensorsHeader {
  std::map<std::string, std::string> metadata;
  std::vector<SafetensorsEntry> entries;  // in data order
  uint64_t data_start = 0;                // file offset of the data section
  uint64_t file_size = 0;
};

// Checksums of a file's parts, as a writer computes them and a reader
// recomputes them: the header (8-byte length and JSON) and each tensor.
// Hashed by name: a checkpoint's files hold thousands of tensors.
using TensorChecksums = absl::flat_hash_map<std::string, uint64_t>;
struct SafetensorsChecksums {
  uint64_t header = 0;
  TensorChecksums tensors;
  uint64_t file_bytes = 0;  // of the file written (a reader leaves it 0)
};

// Writes `tensors` (any device, any layout; each is copied to contiguous CPU
// memory only if it is not already) and returns the checksums of the bytes
// written, computed while the file is written (OverlappedFileWriter). With
// `sync`, the file is fsynced before returning. `while_writing`, if given,
// gets the checksums as soon as they are known, while the last bytes are
// still being written and synced (the caller's bookkeeping for 10,000
// tensors then costs no time of its own); they count only if the write then
// succeeds.
absl::StatusOr<SafetensorsChecksums> WriteSafetensors(
    const std::string& path, const std::vector<NamedTensor>& tensors,
    const std::map<std::string, std::string>& metadata, bool sync,
    ChecksumKind checksum = ChecksumKind::kXxh3,
    const std::function<void(const SafetensorsChecksums&)>& while_writing = nullptr);

absl::StatusOr<SafetensorsHeader> ReadSafetensorsHeader(const std::string& path);

// Memory to read tensors into, by name (a model's state dict). Hashed: a
// transformer with its optimizer state has thousands of tensors.
using TensorDestinations = absl::flat_hash_map<std::string, at::Tensor>;

struct SafetensorsReadOptions {
  ChecksumKind checksum = ChecksumKind::kXxh3;
  // When given, the header's checksum and each tensor's must match.
  const uint64_t* expected_header = nullptr;
  const TensorChecksums* expected = nullptr;
  // A tensor whose name is here with the same dtype and shape, contiguous on
  // the CPU, is read straight into that tensor's memory (no intermediate
  // buffer or copy; this is how a resume loads weights into the model it
  // built) and returned as that tensor. On an error such destinations may
  // hold partial data. The other tensors share one buffer.
  const TensorDestinations* destinations = nullptr;
  // When set, only the tensors it accepts are returned (a rank of a sharded
  // optimizer keeps its own parameters' state only). The others' bytes are
  // skipped unread, or with `verify_unwanted` read through a scratch buffer
  // of one read call and checksummed, so that the whole file is verified in
  // the memory of what is kept.
  std::function<bool(const std::string& name)> wanted;
  bool verify_unwanted = false;
};

// Reads every tensor (that `wanted` accepts) onto the CPU, each byte once: checksums are computed
// on each chunk as it arrives, and a mismatch is an error naming the tensor.
struct SafetensorsContents {
  SafetensorsHeader header;
  std::vector<NamedTensor> tensors;  // in header order
  uint64_t header_checksum = 0;
  // Each entry's checksum, in `header.entries`' order (nullopt for a tensor
  // skipped unread): kept by position, since filling a map by name cost a
  // 10,000-tensor read more than checksumming its bytes did.
  std::vector<std::optional<uint64_t>> entry_checksums;

  // The checksums of the tensors read, by name.
  TensorChecksums ChecksumsByName() const;
};
absl::StatusOr<SafetensorsContents> ReadSafetensors(const std::string& path,
                                                    const SafetensorsReadOptions& options = {});

// The same read in two steps, for a caller that wants the header while the
// data is still being read (a resume matches 10,000 tensors to their
// manifest records on another thread meanwhile): OpenSafetensors reads and
// validates the header and computes its checksum of kind `checksum`;
// ReadSafetensorsData then reads the data as ReadSafetensors does (with
// `options.checksum` equal to `checksum`), leaving the header where it is:
// the contents' `header` is empty, `opened.header` stays the caller's.
struct OpenedSafetensors {
  std::string path;
  std::unique_ptr<RandomAccessFile> file;
  SafetensorsHeader header;
  ChecksumKind checksum = ChecksumKind::kXxh3;
  uint64_t header_checksum = 0;  // of the 8-byte length and the JSON
};
absl::StatusOr<OpenedSafetensors> OpenSafetensors(const std::string& path, ChecksumKind checksum);
absl::StatusOr<SafetensorsContents> ReadSafetensorsData(const OpenedSafetensors& opened,
                                                        const SafetensorsReadOptions& options);

// The checks `options.expected_header` and `options.expected` make during
// a read, made afterwards on what a read without them returned (a file read
// while the manifest that holds its checksums was still being parsed): the
// same errors, naming the first damaged tensor in file order.
absl::Status CheckSafetensorsChecksums(const std::string& path,
                                       const SafetensorsContents& contents,
                                       const SafetensorsReadOptions& options);

// "F32" for kFloat, ... ; an error for dtypes safetensors cannot hold.
absl::StatusOr<std::string> SafetensorsDtypeName(c10::ScalarType type);
absl::StatusOr<c10::ScalarType> SafetensorsDtype(const std::string& name);

}  // namespace framework

#endif  // FRAMEWORK_FORMATS_SAFETENSORS_H_
