#include "framework/checkpoint/retention.h"

#include <algorithm>
#include <optional>
#include <utility>

namespace framework {

std::vector<const CheckpointInfo*> CheckpointsToDelete(const std::vector<CheckpointInfo>& infos,
                                                       const RetentionPolicy& policy,
                                                       const std::set<std::string>& pinned) {
  std::vector<const CheckpointInfo*> valid;
  for (const CheckpointInfo& info : infos) {
    if (info.manifest.has_value()) valid.push_back(&info);
  }
  std::set<std::string> keep = pinned;
  const size_t last = std::min<size_t>(valid.size(), static_cast<size_t>(policy.keep_last));
  for (size_t i = valid.size() - last; i < valid.size(); ++i) keep.insert(valid[i]->path);
  if (policy.keep_best > 0) {
    std::vector<std::pair<double, const CheckpointInfo*>> ranked;
    for (const CheckpointInfo* info : valid) {
      std::optional<double> value = info->Metric(policy.monitor);
      if (value.has_value()) ranked.push_back({policy.maximize ? -*value : *value, info});
    }
    // Best first; among equals the newer one.
    std::stable_sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
      if (a.first != b.first) return a.first < b.first;
      return std::make_pair(a.second->step, a.second->generation) >
             std::make_pair(b.second->step, b.second->generation);
    });
    for (size_t i = 0; i < ranked.size() && i < static_cast<size_t>(policy.keep_best); ++i) {
      keep.insert(ranked[i].second->path);
    }
  }
  if (policy.keep_every_epochs > 0) {
    for (const CheckpointInfo* info : valid) {
      if (info->at_epoch_end() &&
          static_cast<int64_t>(info->manifest->history.size()) % policy.keep_every_epochs == 0) {
        keep.insert(info->path);
      }
    }
  }
  std::vector<const CheckpointInfo*> doomed;
  for (const CheckpointInfo* info : valid) {
    if (keep.count(info->path) == 0) doomed.push_back(info);
  }
  return doomed;
}

}  // namespace framework
