// The checkpoint format: everything a run needs to continue exactly, in a
// directory that is committed atomically.
//
// A checkpoint is a directory <checkpoints>/step-<global step>/ holding
//   model.safetensors   parameters and buffers by state-dict name; a plain
//                       safetensors file any safetensors reader opens
//   state.safetensors   optimizer state ("optimizer.<group>.<index>.<field>"),
//                       random generator states ("rng.<name>") and the
//                       callbacks' tensors ("callback.<callback>.<name>")
// or, saved by N > 1 data-parallel ranks, each rank's share of them:
//   model-<r>-of-<N>.safetensors, state-<r>-of-<N>.safetensors (r and N
//                       with five digits, as Hugging Face names shards),
//                       which rank r wrote; the replicated tensors are dealt
//                       out by bytes (PartitionByBytes), generators to rank 0
//   checkpoint.json     the manifest: format and library versions, model
//                       spec, loop position, scheduler state, the callbacks'
//                       values, the loss scaler's state, metric history,
//                       effective flags, lineage (commit number, parent),
//                       every tensor's dtype, shape, device and checksum
//                       (XXH3-64), each tensor file header's checksum, and
//                       its own CRC-32
// It is written under a temporary name, fsynced file by file, then renamed
// into place and the parent directory fsynced: a directory with a final name
// is complete, and a crash at any moment leaves earlier ones untouched.
#ifndef FRAMEWORK_CHECKPOINT_CHECKPOINT_H_
#define FRAMEWORK_CHECKPOINT_CHECKPOINT_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "framework/core/checksum.h"
#include "framework/core/device_map.h"
#include "framework/model/model.h"
#include "framework/checkpoint/tensor_records.h"
#include "framework/formats/safetensors.h"
#include "framework/train/loop_state.h"
#include "nlohmann/json.hpp"

namespace framework {

// 2: the manifest carries a checksum of its own bytes and of each tensor
// file's header, so every byte of a checkpoint is covered.
// 3: tensors and file headers are checksummed with XXH3-64 (core/checksum.h,
// at memory speed) instead of zlib's CRC-32.
// 4: the manifest lists the tensor files and the rank that wrote each
// ("files"), so a data-parallel checkpoint is written by all its ranks.
// Checkpoints of versions 1 (tensor checksums only), 2 and 3 still read.
inline constexpr int kCheckpointFormatVersion = 4;
inline constexpr char kCheckpointManifest[] = "checkpoint.json";
inline constexpr char kCheckpointModelFile[] = "model.safetensors";
inline constexpr char kCheckpointStateFile[] = "state.safetensors";
// Rank `rank` of `world_size`'s file of `role` ("model" or "state"):
// "model.safetensors" for one rank, "model-00001-of-00002.safetensors" for
// rank 1 of 2.
std::string CheckpointTensorFileName(const std::string& role, int64_t rank, int64_t world_size);
// Whether `name` is one CheckpointTensorFileName gives, and of the model.
bool IsCheckpointTensorFileName(const std::string& name);
bool IsCheckpointModelFile(const std::string& name);
// Generator states in state.safetensors are named "rng.<generator>".
inline constexpr char kRngTensorPrefix[] = "rng.";
// A callback's tensors in state.safetensors are "callback.<callback>.<name>".
inline constexpr char kCheckpointCallbackTensorPrefix[] = "callback.";
std::string CallbackTensorPrefix(const std::string& callback);
inline constexpr char kCpuGeneratorTensor[] = "rng.cpu";
// Data parallel: rank r > 0's CPU generator is "rng.cpu.rank<r>" (rank 0's
// stays "rng.cpu", so single-process readers find theirs).
std::string RankGeneratorTensor(int64_t rank);

// Typed contents of a checkpoint: a misspelt field does not compile.
using CheckpointLine = std::vector<std::pair<int64_t, int64_t>>;

// `line` continued by a commit numbered `sequence`.
CheckpointLine ExtendLine(CheckpointLine line, int64_t sequence);

// Whether the commit numbered `sequence` is on `line`.
bool IsOnLine(const CheckpointLine& line, int64_t sequence);

struct TrainingState {
  ModelSpec model_spec;
  std::vector<NamedTensor> model;      // parameters and buffers
  std::vector<NamedTensor> optimizer;  // see optimizer_state.h
  std::vector<std::string> optimizer_parameters_with_state;
  // Captured from a rank whose optimizer state is sharded (ZeRO-1): its
  // `optimizer` holds only its own parameters' state, which only it writes;
  // the manifest lists the union of the ranks' parameters with state.
  bool optimizer_sharded = false;
  std::vector<NamedTensor> rng;        // "rng.cpu": LibTorch's CPU generator
  // Ranks of the run that saved it; each rank's generator is in `rng`.
  int64_t world_size = 1;
  nlohmann::json scheduler;            // LrScheduler::State(); null if none
  // Each callback's values by its name (train/callback.h); its tensors are
  // those of `callback_tensors` named "callback.<name>.*".
  std::map<std::string, nlohmann::json> callbacks;
  std::vector<NamedTensor> callback_tensors;
  nlohmann::json loss_scaler;  // LossScaler::State() (fp16); null if none
  LoopPosition position;
  std::vector<EpochRecord> history;
  std::map<std::string, std::string> flags;  // the run's effective flags
  // Lineage: the order of commits in the checkpoints directory (1, 2, ...),
  // and the checkpoint this one continues (empty for a run's first).
  int64_t commit_sequence = 0;
  std::string parent;
  // The line this checkpoint is on: the commit sequences of it and of every
  // checkpoint it descends from, as closed intervals [first, last] in order
  // (one per run segment; a fork keeps the part up to where it forked).
  // Recorded, so which line a checkpoint is on never depends on which of its
  // ancestors retention has deleted. Empty before it was recorded.
  CheckpointLine line;
};

// How much of a manifest to read: listing checkpoints needs their positions
// and metrics, not their thousands of tensor records.
enum class ManifestContents { kAll, kWithoutTensors };

// What the manifest says, without reading any tensor data.
struct CheckpointManifest {
  int format_version = 0;
  std::string torch_version;
  std::string created;  // UTC, ISO 8601
  ModelSpec model_spec;
  LoopPosition position;
  std::vector<EpochRecord> history;
  nlohmann::json scheduler;
  std::map<std::string, nlohmann::json> callbacks;  // empty before callbacks were saved
  nlohmann::json loss_scaler;  // null when none
  std::vector<std::string> optimizer_parameters_with_state;
  std::map<std::string, std::string> flags;
  int64_t commit_sequence = 0;  // 0 in checkpoints written before lineage was recorded
  int64_t world_size = 1;       // data-parallel ranks that trained it (1 when not recorded)
  std::string parent;
  CheckpointLine line;  // see TrainingState
  // Of the tensors and file headers: XXH3 from version 3, CRC-32 before.
  ChecksumKind checksum = ChecksumKind::kXxh3;
  // Version 2 on: the checksum of each tensor file's header (length prefix
  // and JSON), which together with the tensors' covers every byte.
  std::map<std::string, uint64_t> file_headers;
  TensorRecords tensors;  // in name order
  struct FileRecord {
    int64_t rank = 0;    // that wrote it
    uint64_t bytes = 0;  // 0 before version 4
  };
  // The tensor files (version 4 on; before it the two of one rank).
  std::map<std::string, FileRecord> files;

  // The manifest's text (before SealManifestText). The per-tensor records,
  // thousands in a transformer's checkpoint, are printed and parsed without
  // a document node per value (nlohmann-json for the rest, simdjson for the
  // whole text): a 10,000-tensor manifest costs about what its bytes do.
  absl::StatusOr<std::string> ToText() const;
  static absl::StatusOr<CheckpointManifest> FromText(
      const std::string& text, const std::string& source,
      ManifestContents contents = ManifestContents::kAll);
};

// Tests interrupt a save at any of its file operations through
// core/fault_injection.h.
struct WriteOptions {
  bool fsync = true;
};

// Writes `state` as checkpoint directory `final_dir` (which must not exist),
// committing it atomically. On failure nothing with the final name exists
// and the temporary directory is removed.
absl::Status WriteCheckpoint(const std::string& final_dir, const TrainingState& state,
                             const WriteOptions& options = {});

// A data-parallel checkpoint, written by every rank: each writes its share
// into the temporary directory (WriteCheckpointShare) and reports what it
// wrote to rank 0 (CheckpointShare's text), which commits the checkpoint
// once every rank has (CommitCheckpointShares).
struct CheckpointShare {
  int64_t rank = 0;
  std::map<std::string, CheckpointManifest::FileRecord> files;
  std::map<std::string, uint64_t> file_headers;  // checksums, as in the manifest
  TensorRecords tensors;  // in name order
  // The rank's own list (its share of a sharded optimizer's).
  std::vector<std::string> optimizer_parameters_with_state;

  absl::StatusOr<std::string> ToText() const;
  static absl::StatusOr<CheckpointShare> FromText(const std::string& text,
                                                  const std::string& source);
};

// The part of `state` rank `rank` of `world_size` writes: the replicated
// tensors (model, optimizer, callbacks) PartitionByBytes deals it, all of a
// sharded optimizer's state (the rank's own), and on rank 0 the generator
// states; every other field as it is. All of `state` for one rank.
TrainingState CheckpointShareOf(const TrainingState& state, int64_t rank, int64_t world_size);

// Rank `rank` of `world_size` writes `share` (CheckpointShareOf) into `dir`:
// its model tensors in one file, the rest in another; fsynced as `options`
// say.
absl::StatusOr<CheckpointShare> WriteCheckpointShare(const std::string& dir,
                                                     const TrainingState& share, int64_t rank,
                                                     int64_t world_size,
                                                     const WriteOptions& options = {});

// "saving checkpoint <final_dir> failed (earlier checkpoints are intact): "
// and `cause`, with its code: how every failed save is worded.
absl::Status CheckpointSaveFailed(const std::string& final_dir, const absl::Status& cause);

// Rank 0: writes the manifest of `shares` (one per rank, in `dir`; their
// records move into it) and of `state` into `dir`, then commits `dir` as
// `final_dir`. On failure nothing with the final name exists and `dir` is
// removed.
absl::Status CommitCheckpointShares(const std::string& dir, const std::string& final_dir,
                                    const TrainingState& state,
                                    std::vector<CheckpointShare> shares,
                                    const WriteOptions& options = {});

// Reads and verifies (its own checksum) the manifest of checkpoint `dir`;
// with kWithoutTensors, `tensors` is left empty.
absl::StatusOr<CheckpointManifest> ReadCheckpointManifest(
    const std::string& dir, ManifestContents contents = ManifestContents::kAll);

// Reads and verifies (every file present, every checksum right) a checkpoint
// and places each tensor on devices.Map(its recorded device). Each byte is
// read once: checksums are computed as the data arrives. Model tensors that
// fit `model_destinations` (the live model's state dict, by name) are read
// straight into them (see ReadSafetensors); when the checkpoint turns out to
// be damaged, they may hold part of its data.
//
// With `wanted_state`, only the state tensors (optimizer, generators,
// callbacks; the model is read whole) it accepts are kept: a rank whose
// optimizer state is sharded holds its own parameters' state, not the
// others'. The others are not read (a state file none of whose tensors is
// wanted is not opened), or, with `verify_unwanted`, read and verified
// through a few MiB of scratch memory and dropped.
absl::StatusOr<TrainingState> ReadCheckpoint(
    const std::string& dir, const DeviceMap& devices,
    const TensorDestinations* model_destinations = nullptr,
    const std::function<bool(const std::string& name)>& wanted_state = nullptr,
    bool verify_unwanted = false);

// The tensors of callback `callback` (e.g. the weights' average of "ema",
// a state dict by the model's names) that checkpoint `dir` holds, read and
// verified; an error naming the checkpoint and the callback when it holds
// none.
absl::StatusOr<std::vector<NamedTensor>> ReadCheckpointCallbackTensors(const std::string& dir,
                                                                      const std::string& callback,
                                                                      const DeviceMap& devices);

// Bytes of the files of a checkpoint directory.
uint64_t CheckpointSizeBytes(const std::string& dir);

// Checks all checksums; OK means the checkpoint is complete and intact.
absl::Status VerifyCheckpoint(const std::string& dir);

// Where a save writes `final_dir` before its commit: a sibling named
// ".tmp-<final name>-<pid>".
std::string TemporaryCheckpointPath(const std::string& final_dir);
// What retention renames checkpoint `name` to before deleting it, so a crash
// mid-deletion never leaves a damaged checkpoint under a valid name.
std::string DoomedCheckpointName(const std::string& name);
// True iff `name`, an entry of a checkpoints directory, was left there by an
// interrupted save or deletion of the manager's (and may be removed).
bool IsLeftoverCheckpointName(const std::string& name);

// Manifest text with its "manifest_crc32" field (written as "00000000")
// set to the CRC-32 of the text with that placeholder, so that any changed
// byte of the file is detected. Exposed for tests that craft manifests.
std::string SealManifestText(std::string text);

// The manager's own names: "step-0000000938" and, after a resume from an
// older checkpoint, "step-0000000938.1".
std::string CheckpointName(int64_t step, int generation);
// The step and generation of a checkpoint name, or nullopt if the name is
// not one of the manager's.
std::optional<std::pair<int64_t, int>> ParseCheckpointName(const std::string& name);

}  // namespace framework

#endif  // FRAMEWORK_CHECKPOINT_CHECKPOINT_H_
