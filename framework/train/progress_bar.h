// A one-line terminal progress bar with rate and ETA, redrawn in place.
//
// Only meant for interactive terminals (the caller checks isatty); log lines
// written between redraws should call Clear() first so they are not mixed
// with the bar.
#ifndef FRAMEWORK_TRAIN_PROGRESS_BAR_H_
#define FRAMEWORK_TRAIN_PROGRESS_BAR_H_

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace framework {

class ProgressBar {
 public:
  explicit ProgressBar(std::FILE* out = stderr) : out_(out) {}

  // Starts a new bar of `total` units, `done` of them already done.
  void Start(const std::string& label, int64_t total, int64_t done = 0);
  void Update(int64_t done, const std::string& suffix);
  // Erases the bar (before a log line, or when the epoch ends).
  void Clear();

  // The line Update() would draw; exposed for tests.
  static std::string Render(const std::string& label, int64_t done,
                            int64_t total, double units_per_second,
                            const std::string& suffix, int width = 30);

 private:
  std::FILE* out_;
  std::string label_;
  int64_t total_ = 0;
  int64_t start_done_ = 0;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
  bool drawn_ = false;
};

}  // namespace framework

#endif  // FRAMEWORK_TRAIN_PROGRESS_BAR_H_
