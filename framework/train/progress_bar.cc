#include "framework/train/progress_bar.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace framework {

void ProgressBar::Start(const std::string& label, int64_t total, int64_t done) {
  label_ = label;
  total_ = total;
  start_done_ = done;
  start_ = std::chrono::steady_clock::now();
  last_draw_ = start_ - std::chrono::seconds(1);
  drawn_ = false;
}

std::string ProgressBar::Render(const std::string& label, int64_t done,
                                int64_t total, double units_per_second,
                                const std::string& suffix, int width) {
  const double fraction =
      total > 0 ? static_cast<double>(done) / static_cast<double>(total) : 1.0;
  const int filled = static_cast<int>(std::floor(fraction * width));
  std::string bar(filled, '=');
  if (filled < width) bar += '>';
  bar.resize(width, ' ');
  std::string eta = "--:--";
  if (units_per_second > 0 && done <= total) {
    const int64_t seconds = static_cast<int64_t>(
        std::llround(static_cast<double>(total - done) / units_per_second));
    eta = absl::StrFormat("%02d:%02d", seconds / 60, seconds % 60);
  }
  return absl::StrFormat("%s [%s] %d/%d %.1f it/s ETA %s %s", label, bar, done,
                         total, units_per_second, eta, suffix);
}

void ProgressBar::Update(int64_t done, const std::string& suffix) {
  const auto now = std::chrono::steady_clock::now();
  // Redrawing costs a write(2); ten times a second is smooth enough.
  if (done < total_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double rate =
      elapsed > 0 ? static_cast<double>(done - start_done_) / elapsed : 0.0;
  std::fprintf(out_, "\r\033[K%s",
               Render(label_, done, total_, rate, suffix).c_str());
  std::fflush(out_);
  drawn_ = true;
}

void ProgressBar::Clear() {
  if (!drawn_) return;
  std::fprintf(out_, "\r\033[K");
  std::fflush(out_);
  drawn_ = false;
}

}  // namespace framework
