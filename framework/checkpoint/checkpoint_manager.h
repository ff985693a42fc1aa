// CheckpointManager: when to save, what to keep, and how to resume.
//
// It observes the TrainingLoop, so every trainer plugin gets checkpoints for
// free. It saves every N epochs, every N steps, and when training ends or is
// stopped (SIGINT/SIGTERM); sync or in the background (async: on a snapshot
// of the step that asked, copied into host buffers allocated and pre-faulted
// once, ahead of the first save, by all of LibTorch's threads; the copy of
// parameters and optimizer state overlaps the next step's forward and
// backward passes, and the training thread waits, if at all, only before
// the next optimizer step). At most one save is in flight: a trigger
// that comes while the previous save is still writing waits for it (and logs
// how long), so no checkpoint a schedule asks for is skipped. A failed interval save is
// logged and training continues (the next trigger retries); a failed final
// save (end of training or a stop signal) fails the run. After each commit it applies
// retention derived from what is on disk: the last N, the best K by a
// monitored metric, a milestone every E epochs, plus the newest valid and the
// resumed-from checkpoints are kept; only the manager's own checkpoint
// directories are ever deleted, and only after a newer one was committed.
// In a data-parallel run every rank writes its share (see CheckpointOptions). What is
// on disk is listed by checkpoint_list.h; what retention keeps is decided by
// retention.h; what a checkpoint holds is captured by
// training_state_capture.h.
#ifndef FRAMEWORK_CHECKPOINT_CHECKPOINT_MANAGER_H_
#define FRAMEWORK_CHECKPOINT_CHECKPOINT_MANAGER_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "framework/checkpoint/checkpoint.h"
#include "framework/checkpoint/checkpoint_list.h"
#include "framework/checkpoint/retention.h"
#include "framework/checkpoint/training_state_capture.h"
#include "framework/train/training_loop.h"

namespace framework {

struct CheckpointOptions {
  std::string directory;         // usually <run_dir>/checkpoints
  int64_t every_epochs = 1;      // 0: off
  int64_t every_steps = 0;       // 0: off
  int64_t keep_last = 3;         // >= 1
  int64_t keep_best = 1;         // 0: off
  std::string monitor = "valid_loss";
  bool maximize = false;         // whether a larger monitor value is better
  int64_t keep_every_epochs = 0; // 0: off
  bool async = false;
  bool fsync = true;
  // Called after each committed save with its global step and the seconds it
  // took (from the background thread for async saves).
  std::function<void(int64_t step, double seconds)> on_saved;
  // Data parallel: every rank has a manager with the same options, and they
  // save at the same steps. Rank 0 owns the directory and names each save's
  // temporary directory; every rank writes its share of the replicated
  // tensors into it (checkpoint.h, WriteCheckpointShare), rank 0 also the
  // generator states of all, and reports what it wrote through the store;
  // rank 0 writes the manifest and commits only once every rank reported
  // success (a rank that fails or dies leaves no committed checkpoint, and
  // rank 0 removes the temporary directory). The ranks meet at a barrier
  // after each save is under way, and after the final one is committed, so
  // that none exits before it is. The same as the loop's; not owned.
  Communicator* communicator = nullptr;
};

class CheckpointManager : public LoopObserver {
 public:
  // Creates the directory and removes temporary directories that crashed
  // saves left behind (never valid, and only ever the manager's).
  static absl::StatusOr<std::unique_ptr<CheckpointManager>> Create(
      CheckpointOptions options, ModelSpec spec, std::map<std::string, std::string> flags);
  ~CheckpointManager() override;

  // Marks the checkpoint a run resumed from (never deleted), with its step
  // (already saved) and line, which the next saves continue; `state` is what
  // was read from it.
  void SetResumedFrom(const std::string& path, const TrainingState& state);

  // Saves the loop's current state now (in the background when async).
  // Data parallel: every rank calls it at the same step.
  absl::Status Save(TrainingLoop& loop);
  // Waits for a background save; returns its error, if any.
  absl::Status Wait();

  // Waits until an async save's snapshot holds the parameters and optimizer
  // state (their copy overlaps the next step's forward and backward passes).
  absl::Status BeforeOptimizerStep(TrainingLoop& loop) override;
  absl::Status OnStepEnd(TrainingLoop& loop) override;
  absl::Status OnEpochEnd(TrainingLoop& loop, const EpochRecord& record) override;
  absl::Status OnTrainEnd(TrainingLoop& loop) override;

  // Path of the last checkpoint committed.
  const std::string& last_saved() const { return last_saved_; }

 private:
  CheckpointManager(CheckpointOptions options, ModelSpec spec,
                    std::map<std::string, std::string> flags);
  std::string NextPath(int64_t step) const;
  // Save() on every rank; a periodic save's write failure is logged, not
  // returned (the ranks' failures always are).
  absl::Status SaveAcrossRanks(TrainingLoop& loop, bool periodic);
  // A save by one process (no other ranks).
  absl::Status SaveOnWriter(TrainingLoop& loop);
  // Commits `path` with `commit` (WriteCheckpoint, or rank 0's commit of
  // every rank's share), then records it (with the seconds since `start`)
  // and applies retention.
  absl::Status Commit(const std::string& path, const TrainingState& state,
                      const std::function<absl::Status()>& commit,
                      std::chrono::steady_clock::time_point start);
  // Runs `save` on `state` now, or (async) on a snapshot of it in the
  // background.
  absl::Status RunSave(TrainingLoop& loop, TrainingState state,
                       std::function<absl::Status(const TrainingState&)> save);
  // SaveAcrossRanks with more than one rank: every rank writes its share.
  absl::Status SaveShares(TrainingLoop& loop, bool periodic);
  // Rank `rank`'s part of a shared save into `tmp` (from the writer thread
  // when async): its share, then its report to rank 0; rank 0 then waits
  // for every rank's report and commits `path`.
  absl::Status WriteShare(const std::string& path, const std::string& tmp,
                          const std::string& report_key, const TrainingState& state);
  absl::Status ApplyRetention(const std::string& just_saved);
  // Wait() for a save about to start at `step`, logging how long it waited
  // for one still writing.
  absl::Status WaitBeforeSaving(int64_t step);
  // Save() for an interval trigger: failures are logged, never returned.
  absl::Status PeriodicSave(TrainingLoop& loop);
  // Allocates and touches the snapshot buffers for `state` on the writer
  // thread, ahead of the first async save.
  void PrepareSnapshotBuffers(const TrainingState& state);

  const CheckpointOptions options_;
  const ModelSpec spec_;
  const std::map<std::string, std::string> flags_;
  std::string resumed_from_;
  // Lineage of the next save: its commit number and the checkpoint it
  // continues (the one resumed from, then each save in turn).
  int64_t next_sequence_ = 1;
  std::string parent_;
  CheckpointLine line_;  // parent_'s
  int64_t last_saved_step_ = -1;
  std::string last_saved_;
  bool save_after_epoch_ = false;
  int64_t shared_saves_ = 0;  // started, the same count on every rank

  ManifestCache manifests_;  // used by retention, one save at a time
  // Async saves copy the live tensors into buffers kept from the previous
  // save (the writer is done with them by then), so a snapshot costs a
  // memcpy split across threads, not fresh allocations and page faults.
  // Buffers live on the host (pinned when the tensor is on an accelerator).
  std::map<std::string, at::Tensor> snapshot_buffers_;
  bool snapshot_pending_ = false;  // parameters not yet copied (under mutex_)
  std::condition_variable snapshot_copied_;
  bool buffers_prepared_ = false;
  bool writer_is_save_ = false;  // writer_ runs a save (not buffer preparation)
  std::mutex mutex_;
  std::thread writer_;
  absl::Status writer_status_;
};

}  // namespace framework

#endif  // FRAMEWORK_CHECKPOINT_CHECKPOINT_MANAGER_H_
