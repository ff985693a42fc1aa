#include "framework/train/progress_bar.h"

#include <cstdio>

#include "gtest/gtest.h"

namespace framework {
namespace {

TEST(ProgressBarTest, RendersBarRateAndEta) {
  EXPECT_EQ(ProgressBar::Render("Epoch[001/015]", 50, 100, 10.0, "loss 0.5", 10),
            "Epoch[001/015] [=====>    ] 50/100 10.0 it/s ETA 00:05 loss 0.5");
  EXPECT_EQ(ProgressBar::Render("E", 100, 100, 4.0, "", 4), "E [====] 100/100 4.0 it/s ETA 00:00 ");
  EXPECT_EQ(ProgressBar::Render("E", 0, 938, 0.0, "", 4), "E [>   ] 0/938 0.0 it/s ETA --:-- ");
  EXPECT_NE(ProgressBar::Render("E", 1, 6001, 1.0, "", 2).find("ETA 100:00"), std::string::npos);
}

TEST(ProgressBarTest, DrawsInPlaceAndClears) {
  std::FILE* out = std::tmpfile();
  ASSERT_NE(out, nullptr);
  ProgressBar bar(out);
  bar.Start("E", 2);
  bar.Update(2, "done");
  bar.Clear();
  std::rewind(out);
  char buffer[256] = {};
  const size_t read = std::fread(buffer, 1, sizeof(buffer) - 1, out);
  const std::string written(buffer, read);
  EXPECT_EQ(written.rfind("\r\033[KE [", 0), 0u) << written;
  EXPECT_NE(written.find("2/2"), std::string::npos);
  EXPECT_EQ(written.substr(written.size() - 4), "\r\033[K");
  std::fclose(out);
}

}  // namespace
}  // namespace framework
