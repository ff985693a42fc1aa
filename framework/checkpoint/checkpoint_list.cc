#include "framework/checkpoint/checkpoint_list.h"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <limits>
#include <tuple>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "glog/logging.h"

namespace framework {
namespace {

namespace fs = std::filesystem;

}  // namespace

bool CheckpointInfo::at_epoch_end() const {
  return manifest.has_value() && manifest->position.batch == 0 && !manifest->history.empty() &&
         static_cast<int64_t>(manifest->history.size()) == manifest->position.epoch;
}

std::optional<double> CheckpointInfo::Metric(const std::string& name) const {
  if (!at_epoch_end()) return std::nullopt;
  const auto& values = manifest->history.back().values;
  auto it = values.find(name);
  if (it == values.end()) return std::nullopt;
  return it->second;
}

std::vector<CheckpointInfo> ListCheckpoints(const std::string& directory, ManifestCache* cache) {
  std::vector<CheckpointInfo> infos;
  std::set<std::string> seen;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(directory, error)) {
    const std::string name = entry.path().filename().string();
    std::optional<std::pair<int64_t, int>> parsed = ParseCheckpointName(name);
    if (!parsed.has_value() || !entry.is_directory(error)) continue;
    CheckpointInfo info;
    info.name = name;
    info.path = entry.path().lexically_normal().string();
    info.step = parsed->first;
    info.generation = parsed->second;
    struct stat manifest_stat;
    const bool stamped =
        stat((info.path + "/" + kCheckpointManifest).c_str(), &manifest_stat) == 0;
    const int64_t modified_ns =
        stamped ? int64_t{manifest_stat.st_mtim.tv_sec} * 1000000000 + manifest_stat.st_mtim.tv_nsec
                : 0;
    const ManifestCache::Entry* cached = nullptr;
    if (cache != nullptr && stamped) {
      auto it = cache->entries.find(info.path);
      if (it != cache->entries.end() && it->second.size == manifest_stat.st_size &&
          it->second.modified_ns == modified_ns) {
        cached = &it->second;
      }
    }
    if (cached != nullptr) {
      info.manifest = cached->manifest;
    } else {
      absl::StatusOr<CheckpointManifest> manifest = ReadCheckpointManifest(info.path, ManifestContents::kWithoutTensors);
      if (manifest.ok()) {
        info.manifest = *std::move(manifest);
        if (cache != nullptr && stamped) {
          cache->entries[info.path] = {manifest_stat.st_size, modified_ns, *info.manifest};
        }
      } else {
        info.problem = std::string(manifest.status().message());
      }
    }
    seen.insert(info.path);
    infos.push_back(std::move(info));
  }
  if (cache != nullptr) {
    for (auto it = cache->entries.begin(); it != cache->entries.end();) {
      it = seen.count(it->first) > 0 ? std::next(it) : cache->entries.erase(it);
    }
  }
  auto order = [](const CheckpointInfo& info) {
    const int64_t sequence = info.manifest.has_value() ? info.manifest->commit_sequence
                                                       : std::numeric_limits<int64_t>::max();
    return std::make_tuple(sequence, info.step, info.generation);
  };
  std::sort(infos.begin(), infos.end(),
            [&](const CheckpointInfo& a, const CheckpointInfo& b) { return order(a) < order(b); });
  return infos;
}

std::set<std::string> CheckpointsOnCurrentLine(const std::vector<CheckpointInfo>& infos) {
  std::map<std::string, const CheckpointInfo*> by_name;
  const CheckpointInfo* newest = nullptr;
  for (const CheckpointInfo& info : infos) {
    if (!info.manifest.has_value()) continue;
    by_name[info.name] = &info;
    newest = &info;  // commit order
  }
  std::set<std::string> line;
  if (newest == nullptr) return line;
  // The newest checkpoint records its line; one from before lines were
  // recorded is followed by its parent links (which retention may have cut).
  std::vector<const CheckpointInfo*> unrecorded;
  if (newest->manifest->line.empty()) unrecorded.push_back(newest);
  for (const CheckpointInfo& info : infos) {
    if (info.manifest.has_value() &&
        IsOnLine(newest->manifest->line, info.manifest->commit_sequence)) {
      line.insert(info.path);
      if (info.manifest->line.empty()) unrecorded.push_back(&info);
    }
  }
  for (const CheckpointInfo* info : unrecorded) {
    line.insert(info->path);
    while (true) {
      auto parent = by_name.find(info->manifest->parent);
      if (parent == by_name.end() || !line.insert(parent->second->path).second) break;
      info = parent->second;
    }
  }
  return line;
}

std::optional<std::string> FindNewestValidCheckpoint(const std::string& directory) {
  std::vector<CheckpointInfo> infos = ListCheckpoints(directory);
  for (auto it = infos.rbegin(); it != infos.rend(); ++it) {
    absl::Status status = VerifyCheckpoint(it->path);
    if (status.ok()) return it->path;
    LOG(WARNING) << "Skipping invalid checkpoint " << it->path << ": " << status.message();
  }
  return std::nullopt;
}

}  // namespace framework
