#include "framework/core/user_path.h"
#include "framework/experiment/flag_file.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"

namespace framework {
namespace {

absl::Status CheckFile(const std::string& contents) {
  const std::string path = testing::TempDir() + "/test.flags";
  std::ofstream(path) << contents;
  std::string flag = "--flagfile=" + path;
  char program[] = "experiment";
  char* argv[] = {program, flag.data()};
  return CheckFlagFiles(2, argv);
}

TEST(CheckFlagFilesTest, AcceptsKnownFlagsCommentsAndNegatedBooleans) {
  EXPECT_TRUE(CheckFile("# LeNet\n--lr=0.1\n\n  --model=lenet\n--nonesterov\n-epochs=3\n").ok());
}

TEST(CheckFlagFilesTest, UnknownFlagNamesFileAndLine) {
  absl::Status status = CheckFile("--lr=0.1\n--lernrate=0.1\n");
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.message(), testing::TempDir() + "/test.flags:2: unknown flag --lernrate "
                                                   "(run with --helpshort to list the flags)");
  // "no" only negates booleans.
  EXPECT_FALSE(CheckFile("--nolr\n").ok());
  EXPECT_FALSE(CheckFile("lr=0.1\n").ok());
}

TEST(ResolveUserPathTest, RelativePathsFollowBazelsWorkingDirectory) {
  setenv("BUILD_WORKING_DIRECTORY", "/home/me/project", 1);
  EXPECT_EQ(ResolveUserPath("runs/lenet"), "/home/me/project/runs/lenet");
  EXPECT_EQ(ResolveUserPath("../other/./x"), "/home/me/other/x");
  EXPECT_EQ(ResolveUserPath("/abs/dir/"), "/abs/dir/");
  unsetenv("BUILD_WORKING_DIRECTORY");
  EXPECT_EQ(ResolveUserPath("runs"), (std::filesystem::current_path() / "runs").string());
}

}  // namespace
}  // namespace framework
