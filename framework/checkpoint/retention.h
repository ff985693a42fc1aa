// Which checkpoints retention deletes, as a pure function of what is on disk:
// every valid checkpoint except the newest N, the best K by a monitored
// metric, a milestone every E epochs, and the ones pinned (the one just saved,
// the one resumed from). Deleting them (renamed first, a user's files inside
// never) is the manager's.
//
//   for (const CheckpointInfo* doomed : CheckpointsToDelete(infos, policy, {just_saved})) ...
#ifndef FRAMEWORK_CHECKPOINT_RETENTION_H_
#define FRAMEWORK_CHECKPOINT_RETENTION_H_

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "framework/checkpoint/checkpoint_list.h"

namespace framework {

struct RetentionPolicy {
  int64_t keep_last = 3;          // >= 1
  int64_t keep_best = 1;          // 0: off
  std::string monitor = "valid_loss";
  bool maximize = false;          // whether a larger monitor value is better
  int64_t keep_every_epochs = 0;  // 0: off
};

// `infos` in commit order (ListCheckpoints); unreadable ones are never
// deleted here. Returns pointers into `infos`, oldest first.
std::vector<const CheckpointInfo*> CheckpointsToDelete(const std::vector<CheckpointInfo>& infos,
                                                       const RetentionPolicy& policy,
                                                       const std::set<std::string>& pinned);

}  // namespace framework

#endif  // FRAMEWORK_CHECKPOINT_RETENTION_H_
