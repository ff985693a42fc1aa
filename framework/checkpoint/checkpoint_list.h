// The checkpoints of a directory as found on disk, in commit order, and the
// line (--resume's) each is on: read from manifests only, never tensor data.
#ifndef FRAMEWORK_CHECKPOINT_CHECKPOINT_LIST_H_
#define FRAMEWORK_CHECKPOINT_CHECKPOINT_LIST_H_

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "framework/checkpoint/checkpoint.h"

namespace framework {

// One checkpoint directory of the manager's, as found on disk.
struct CheckpointInfo {
  std::string name;
  std::string path;
  int64_t step = 0;
  int generation = 0;
  // Unset when unreadable; read without its tensor records (they are many,
  // and listing needs none).
  std::optional<CheckpointManifest> manifest;
  std::string problem;                         // why it is unreadable

  // Saved right after an epoch's evaluation (so it has that epoch's metrics).
  bool at_epoch_end() const;
  std::optional<double> Metric(const std::string& name) const;
};

// Parsed manifests by checkpoint path, reused while the manifest file keeps
// its size and modification time: retention lists the checkpoints at every
// save, and a model of 10,000 tensors has a manifest of megabytes.
struct ManifestCache {
  struct Entry {
    int64_t size = 0;
    int64_t modified_ns = 0;
    CheckpointManifest manifest;
  };
  std::map<std::string, Entry> entries;
};

// The manager's checkpoints under `directory` in commit order, oldest first
// (by commit sequence, then step; checkpoints from before lineage was
// recorded first, unreadable ones last); other files are ignored. Reads
// manifests only, not tensor data (and with `cache`, only changed ones).
std::vector<CheckpointInfo> ListCheckpoints(const std::string& directory,
                                            ManifestCache* cache = nullptr);

// The checkpoints (paths) of the line the most recently committed one
// continues: it and its ancestors, as its manifest records them (older
// checkpoints without that record: through each manifest's parent). After
// --resume_from an older checkpoint, the newer ones of the line it left are
// not on it; retention deleting an ancestor changes nothing.
std::set<std::string> CheckpointsOnCurrentLine(const std::vector<CheckpointInfo>& infos);

// The most recently committed checkpoint under `directory` that verifies
// completely (so --resume continues the line last worked on, not the one
// with the highest step); invalid ones are logged by name and skipped, and
// nothing is deleted.
std::optional<std::string> FindNewestValidCheckpoint(const std::string& directory);

}  // namespace framework

#endif  // FRAMEWORK_CHECKPOINT_CHECKPOINT_LIST_H_
