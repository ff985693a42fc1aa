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

namespace framework {

// Runs the experiment the parsed flags describe (plugins already loaded).
absl::Status RunExperimentFromFlags();

}  // namespace framework

#endif  // FRAMEWORK_EXPERIMENT_EXPERIMENT_H_
