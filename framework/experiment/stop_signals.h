// SIGINT and SIGTERM stop a run cleanly: the current step finishes, a
// checkpoint is saved and the process exits 0. A second signal ends the
// process at once, as the signal's default would. Installed first thing, so a
// signal during start-up stops the run after its first step. SIGPIPE is
// ignored, so that a dead peer's socket is an error, not a silent exit.
#ifndef FRAMEWORK_EXPERIMENT_STOP_SIGNALS_H_
#define FRAMEWORK_EXPERIMENT_STOP_SIGNALS_H_

#include "framework/train/loop_state.h"

namespace framework {

void InstallStopSignalHandlers();

// The loop a signal asks to stop (nullptr: none). A signal that arrived
// before this call stops `loop` after its first step.
void SetLoopToStop(TrainingLoop* loop);

// The signal that asked to stop, or 0.
int StopSignal();

}  // namespace framework

#endif  // FRAMEWORK_EXPERIMENT_STOP_SIGNALS_H_
