// Runs a shell command from a test (Python PyTorch as a reference client,
// mostly) and returns what it printed; a non-zero exit fails the test.
#ifndef FRAMEWORK_TESTING_TEST_COMMAND_H_
#define FRAMEWORK_TESTING_TEST_COMMAND_H_

#include <cstdio>
#include <string>

#include "gtest/gtest.h"

namespace framework {

inline std::string RunCommandForTest(const std::string& command) {
  std::FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  EXPECT_NE(pipe, nullptr) << command;
  if (pipe == nullptr) return "";
  std::string output;
  char buffer[4096];
  size_t read = 0;
  while ((read = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) output.append(buffer, read);
  EXPECT_EQ(pclose(pipe), 0) << command << "\n" << output;
  return output;
}

}  // namespace framework

#endif  // FRAMEWORK_TESTING_TEST_COMMAND_H_
