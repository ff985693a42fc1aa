#include "framework/experiment/stop_signals.h"

#include <signal.h>

#include <atomic>

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

}  // namespace

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
}

int StopSignal() { return g_stop_signal.load(); }

}  // namespace framework
