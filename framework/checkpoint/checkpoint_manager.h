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
// One process at a time may own a run directory (RunDirectoryLock); in a
// data-parallel run, rank 0 alone writes (see CheckpointOptions).
#ifndef FRAMEWORK_CHECKPOINT_CHECKPOINT_MANAGER_H_
#define FRAMEWORK_CHECKPOINT_CHECKPOINT_MANAGER_H_

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
  // save at the same steps. Rank 0 owns the directory, writes and commits;
  // the others only hand it their generator states (checkpointed under
  // rank-indexed names) and wait at a barrier after each save, and after the
  // final one is committed, so that none exits before it is. The same as the
  // loop's; not owned.
  Communicator* communicator = nullptr;
};

// One checkpoint directory of the manager's, as found on disk.
struct CheckpointInfo {
  std::string name;
  std::string path;
  int64_t step = 0;
  int generation = 0;
  std::optional<CheckpointManifest> manifest;  // unset when unreadable
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
// continues: it and its ancestors through each manifest's parent. After
// --resume_from an older checkpoint, the newer ones of the line it left are
// not on it.
std::set<std::string> CheckpointsOnCurrentLine(const std::vector<CheckpointInfo>& infos);

// The most recently committed checkpoint under `directory` that verifies
// completely (so --resume continues the line last worked on, not the one
// with the highest step); invalid ones are logged by name and skipped, and
// nothing is deleted.
std::optional<std::string> FindNewestValidCheckpoint(const std::string& directory);

// Exclusive ownership of a run directory through flock(2) on <dir>/LOCK: the
// kernel releases it when the process dies, so a crash never leaves it stuck.
class RunDirectoryLock {
 public:
  static absl::StatusOr<std::unique_ptr<RunDirectoryLock>> Acquire(const std::string& run_dir);
  ~RunDirectoryLock();

 private:
  explicit RunDirectoryLock(int fd) : fd_(fd) {}
  int fd_;
};

// The loop's full state. Tensors refer to the live ones (detached); a save
// that outlives the step copies them (see the async snapshot buffers).
absl::StatusOr<TrainingState> CaptureTrainingState(TrainingLoop& loop, const ModelSpec& spec,
                                                   const std::map<std::string, std::string>& flags);

// Puts a checkpoint's state into the loop's model, optimizer, scheduler,
// position and the global generator. `source` names the checkpoint.
absl::Status RestoreTrainingState(const TrainingState& state, TrainingLoop& loop,
                                  const std::string& source);

class CheckpointManager : public LoopObserver {
 public:
  // Creates the directory and removes temporary directories that crashed
  // saves left behind (never valid, and only ever the manager's).
  static absl::StatusOr<std::unique_ptr<CheckpointManager>> Create(
      CheckpointOptions options, ModelSpec spec, std::map<std::string, std::string> flags);
  ~CheckpointManager() override;

  // Marks the checkpoint a run resumed from (never deleted) and its step
  // (already saved).
  void SetResumedFrom(const std::string& path, int64_t step);

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
  bool writer() const { return options_.communicator == nullptr || options_.communicator->rank() == 0; }
  // Save() on every rank; a periodic save's write failure is logged, not
  // returned (the ranks' failures always are).
  absl::Status SaveAcrossRanks(TrainingLoop& loop, bool periodic);
  // What rank 0 does of a save; `rank_generators` are the other ranks'.
  absl::Status SaveOnWriter(TrainingLoop& loop, std::vector<NamedTensor> rank_generators);
  absl::Status Commit(const std::string& path, const TrainingState& state);
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
