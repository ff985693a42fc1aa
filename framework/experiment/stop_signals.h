// SIGINT and SIGTERM stop a run cleanly: the current step finishes, a
// checkpoint is saved and the process exits 0. A second signal ends the
// process at once, as the signal's default would. Installed first thing, so a
// signal during start-up stops the run after its first step. SIGPIPE is
// ignored, so that a dead peer's socket is an error, not a silent exit.
//
// --checkpoint_signal (a cluster's warning before it preempts a job, e.g.
// Slurm's --signal=USR1@90) asks for a checkpoint at a step every rank
// agrees on; then the run continues, or (--on_checkpoint_signal=exit) ends
// there and the process exits kRequeueExitCode, for the job script to
// requeue it (docs/data-parallel.md).
#ifndef FRAMEWORK_EXPERIMENT_STOP_SIGNALS_H_
#define FRAMEWORK_EXPERIMENT_STOP_SIGNALS_H_

#include <string>

#include "absl/status/statusor.h"
#include "framework/train/loop_state.h"

namespace framework {

void InstallStopSignalHandlers();

// The loop a signal asks to stop (nullptr: none). A signal that arrived
// before this call stops `loop` after its first step.
void SetLoopToStop(TrainingLoop* loop);

// The signal that asked to stop, or 0.
int StopSignal();

// EX_TEMPFAIL (sysexits.h): "try again later", what a run that saved and
// stopped for --on_checkpoint_signal=exit exits with.
inline constexpr int kRequeueExitCode = 75;

// The signal `name` means ("SIGUSR1", "USR1" or its number), when it is one a
// run can catch for a checkpoint; an error saying which are otherwise.
absl::StatusOr<int> ParseCheckpointSignal(const std::string& name);

// From now on `signal_number` asks the loop (SetLoopToStop) for a
// checkpoint, and with `then_stop` for the run to end after it. One that
// arrives before there is a loop is kept for it.
void InstallCheckpointSignalHandler(int signal_number, bool then_stop);

// How many checkpoint signals this process received.
int CheckpointSignalsReceived();

}  // namespace framework

#endif  // FRAMEWORK_EXPERIMENT_STOP_SIGNALS_H_
