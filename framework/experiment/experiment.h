// Composes an experiment from its flags: data, model, trainer, optimizer,
// schedule, training loop, metrics log and checkpoints, then runs it.
//
// Every failure a user can cause (bad flags, missing data, unwritable run
// directory, a checkpoint that does not fit) comes back as a Status naming
// the input and what is wrong. The flags themselves are declared in
// experiment_flags.h; main() is experiment_main.h.
#ifndef FRAMEWORK_EXPERIMENT_EXPERIMENT_H_
#define FRAMEWORK_EXPERIMENT_EXPERIMENT_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace framework {

// How a run that did not fail ended.
enum class RunEnd {
  kDone,                // finished, or stopped by SIGINT/SIGTERM with a checkpoint
  kStoppedForRequeue,   // saved and stopped for --on_checkpoint_signal=exit
};

// Runs the experiment the parsed flags describe (plugins already loaded).
absl::StatusOr<RunEnd> RunExperimentFromFlags();

}  // namespace framework

#endif  // FRAMEWORK_EXPERIMENT_EXPERIMENT_H_
