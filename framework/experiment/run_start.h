// Where a built run starts: from the first intact checkpoint of a list, from
// a PyTorch training checkpoint, or fresh; and in a data-parallel run, the
// agreement by which every rank starts where rank 0 does.
#ifndef FRAMEWORK_EXPERIMENT_RUN_START_H_
#define FRAMEWORK_EXPERIMENT_RUN_START_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "framework/checkpoint/checkpoint_manager.h"
#include "framework/checkpoint/pytorch_training_checkpoint.h"
#include "framework/core/device_map.h"
#include "framework/distributed/communicator.h"
#include "framework/model/model.h"
#include "framework/train/training_loop.h"

namespace framework {

// Puts the model, optimizer, scheduler, loop and generator where the first
// intact candidate checkpoint left them. The weights are read straight into
// the model and verified as they arrive, so each byte is read once; a
// candidate found damaged on the way is skipped (logged, never deleted) when
// `may_fall_back`, and the next one's load overwrites every tensor. When none
// is intact the model gets the weights it was built with again
// (`rebuild_weights`), and the run starts fresh. `resumed_from` is the
// checkpoint used (empty: none).
absl::Status ResumeFromCandidates(const std::vector<std::string>& candidates, bool may_fall_back,
                                  const DeviceMap& devices, Model& model, TrainingLoop& loop,
                                  CheckpointManager& checkpoints,
                                  const std::function<absl::Status()>& rebuild_weights,
                                  std::string* resumed_from);

// --resume_from a PyTorch training checkpoint: weights, optimizer state,
// epoch and schedule (see pytorch_training_checkpoint.h); what differs from
// `run` is logged.
absl::Status ResumeFromPyTorch(const PyTorchTrainingCheckpoint& checkpoint,
                               const std::string& path, const OptimisationRecord& run,
                               PyTorchEpoch convention, TrainingLoop& loop);

// Rank 0 tells the others where it starts (`resumed_from`, empty: fresh) and
// every rank learns it; ranks other than 0 then read and verify the same
// checkpoint (the run directory is shared storage). An error if rank 0
// reported a failure instead (ReportStartFailure).
absl::Status AgreeOnStart(Communicator& communicator, const std::string& resumed_from,
                          const DeviceMap& devices, Model& model, TrainingLoop& loop,
                          CheckpointManager& checkpoints);

// Rank 0 failed before AgreeOnStart: tells the others, so that they stop now
// rather than at the timeout.
void ReportStartFailure(Communicator& communicator, const absl::Status& status);

}  // namespace framework

#endif  // FRAMEWORK_EXPERIMENT_RUN_START_H_
