// A training loop's whole state as a checkpoint holds it, and back: model,
// optimizer state, scheduler, position, history and every rank's generator.
#ifndef FRAMEWORK_CHECKPOINT_TRAINING_STATE_CAPTURE_H_
#define FRAMEWORK_CHECKPOINT_TRAINING_STATE_CAPTURE_H_

#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "framework/checkpoint/checkpoint.h"
#include "framework/train/training_loop.h"

namespace framework {

// The loop's full state. Tensors are the live ones (parameters still
// require grad: whoever copies them does so under NoGradGuard); a save that
// outlives the step copies them (see the async snapshot buffers).
absl::StatusOr<TrainingState> CaptureTrainingState(TrainingLoop& loop, const ModelSpec& spec,
                                                   const std::map<std::string, std::string>& flags);

// Puts a checkpoint's state into the loop's model, optimizer, scheduler,
// position and the global generator. `source` names the checkpoint.
absl::Status RestoreTrainingState(const TrainingState& state, TrainingLoop& loop,
                                  const std::string& source);

}  // namespace framework

#endif  // FRAMEWORK_CHECKPOINT_TRAINING_STATE_CAPTURE_H_
