#include "framework/experiment/stop_signals.h"

#include <signal.h>

#include <string.h>

#include <atomic>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/match.h"
#include "framework/train/training_loop.h"

namespace framework {
namespace {

std::atomic<TrainingLoop*> g_running_loop{nullptr};
std::atomic<int> g_stop_signal{0};

void StopOnSignal(int signal_number) {
  if (g_stop_signal.exchange(signal_number) != 0) {
    signal(signal_number, SIG_DFL);
    raise(signal_number);
    return;
  }
  TrainingLoop* loop = g_running_loop.load();
  if (loop != nullptr) loop->RequestStop();
}

std::atomic<bool> g_checkpoint_then_stop{false};
std::atomic<bool> g_checkpoint_pending{false};
std::atomic<int> g_checkpoint_signals{0};

void CheckpointOnSignal(int) {
  g_checkpoint_signals.fetch_add(1);
  TrainingLoop* loop = g_running_loop.load();
  if (loop != nullptr) {
    loop->RequestCheckpoint(g_checkpoint_then_stop.load());
  } else {
    g_checkpoint_pending.store(true);
  }
}

// Signals a cluster may send ahead of preemption, and that nothing else in
// a run uses; SIGINT and SIGTERM already stop with a checkpoint, SIGKILL and
// SIGSTOP cannot be caught, the rest report faults.
const std::vector<std::pair<std::string, int>>& CatchableSignals() {
  static const auto* signals = new std::vector<std::pair<std::string, int>>{
      {"SIGHUP", SIGHUP},   {"SIGUSR1", SIGUSR1}, {"SIGUSR2", SIGUSR2}, {"SIGALRM", SIGALRM},
      {"SIGCONT", SIGCONT}, {"SIGURG", SIGURG},   {"SIGXCPU", SIGXCPU}, {"SIGWINCH", SIGWINCH}};
  return *signals;
}

}  // namespace

absl::StatusOr<int> ParseCheckpointSignal(const std::string& name) {
  std::string spelled = absl::AsciiStrToUpper(name);
  if (!absl::StartsWith(spelled, "SIG")) spelled = "SIG" + spelled;
  int number = 0;
  const bool numeric = absl::SimpleAtoi(name, &number);
  std::vector<std::string> names;
  for (const auto& [known, value] : CatchableSignals()) {
    if ((numeric && value == number) || (!numeric && known == spelled)) return value;
    names.push_back(absl::StrCat(known, " (", value, ")"));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "'", name, "' is not a signal a run can take for a checkpoint; one of ",
      absl::StrJoin(names, ", "),
      " (SIGINT and SIGTERM already stop a run with a checkpoint)"));
}

void InstallCheckpointSignalHandler(int signal_number, bool then_stop) {
  g_checkpoint_then_stop.store(then_stop);
  struct sigaction action = {};
  action.sa_handler = CheckpointOnSignal;
  sigemptyset(&action.sa_mask);
  sigaction(signal_number, &action, nullptr);
}

int CheckpointSignalsReceived() { return g_checkpoint_signals.load(); }

void InstallStopSignalHandlers() {
  struct sigaction action = {};
  action.sa_handler = StopOnSignal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  // A write to a socket whose peer died (a data-parallel rank killed) must
  // fail as EPIPE, which the communicator reports naming the rank that is
  // gone, rather than end this process silently (exit 141).
  signal(SIGPIPE, SIG_IGN);
}

void SetLoopToStop(TrainingLoop* loop) {
  g_running_loop.store(loop);
  if (loop != nullptr && g_stop_signal.load() != 0) loop->RequestStop();
  if (loop != nullptr && g_checkpoint_pending.exchange(false)) {
    loop->RequestCheckpoint(g_checkpoint_then_stop.load());
  }
}

int StopSignal() { return g_stop_signal.load(); }

}  // namespace framework
