#include "framework/core/user_path.h"
#include "framework/experiment/experiment_flags.h"
#include "framework/experiment/flag_file.h"
#include "framework/experiment/resume_policy.h"

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
  // gflags would print and exit on these (found by fuzzing).
  absl::Status version = CheckFile("--lr=0.1\n-version\n");
  EXPECT_NE(version.message().find("test.flags:2: --version does not belong in a flag file"),
            std::string::npos) << version;
  EXPECT_FALSE(CheckFile("--helpshort\n").ok());
  // A directory given as a flag file, hidden behind a vertical tab that
  // gflags and a whitespace strip read differently (found by fuzzing).
  EXPECT_NE(CheckFile("--flagfile=/\v\v\n").message().find("control character 0x0b"),
            std::string::npos);
  EXPECT_NE(CheckFile("--flagfile=/\n").message().find("flag file / is not a regular file"),
            std::string::npos);
  // gflags ends a line at '\r' too, so this "comment" hid a --helpfull.
  EXPECT_NE(CheckFile("# L\r-helpfull\n").message().find("test.flags:1: --helpfull does not belong"),
            std::string::npos);
  EXPECT_TRUE(CheckFile("--lr=0.1\r\n--epochs=2\r\n").ok());  // CRLF files are fine
  // An empty --flagfile= made gflags open a file named "" and exit.
  EXPECT_NE(CheckFile("\t--flagfile=\n").message().find("test.flags:1: --flagfile needs a path"),
            std::string::npos);
  EXPECT_NE(CheckFile("-flagfile=,\n").message().find("--flagfile needs a path"), std::string::npos);
  EXPECT_NE(CheckFile("#\n-tryfromenv=-bld\n").message().find("test.flags:2: --tryfromenv is not allowed"),
            std::string::npos);
}

TEST(CheckFlagFilesTest, IncludedFlagFilesAreCheckedTooAndCyclesRefused) {
  const std::string dir = testing::TempDir();
  std::ofstream(dir + "/base.flags") << "--lr=0.5\n";
  EXPECT_TRUE(CheckFile("--flagfile=" + dir + "/base.flags\n--epochs=2\n").ok());
  // gflags itself would exit the process on this one (found by fuzzing).
  absl::Status missing = CheckFile("--epochs=2\n--flagfile=" + dir + "/missing.flags\n");
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.message().find("test.flags:2: flag file: cannot open " + dir + "/missing.flags"),
            std::string::npos) << missing;
  std::ofstream(dir + "/bad.flags") << "--lernrate=1\n";
  absl::Status bad = CheckFile("--flagfile=" + dir + "/base.flags," + dir + "/bad.flags\n");
  EXPECT_NE(bad.message().find("bad.flags:1: unknown flag --lernrate"), std::string::npos) << bad;
  std::ofstream(dir + "/loop.flags") << "--flagfile=" + dir + "/loop.flags\n";
  absl::Status loop = CheckFile("--flagfile=" + dir + "/loop.flags\n");
  EXPECT_NE(loop.message().find("nests flag files more than 8 deep"), std::string::npos) << loop;
}

TEST(ResumePolicyTest, RunDefiningFlagsMustMatchOthersMayChange) {
  std::map<std::string, std::string> saved = EffectiveFlags();
  std::map<std::string, std::string> current = saved;
  current["epochs"] = "30";
  current["resume"] = "true";
  std::vector<std::string> changed;
  EXPECT_TRUE(CheckResumeFlags("ckpt", saved, current, &changed).ok());
  // (--resume is a start-up flag: not a change worth a line.)
  EXPECT_EQ(changed, std::vector<std::string>{"--epochs: checkpoint '" + saved["epochs"] +
                                              "', now '30'"});
  // A flag that only sets an option is not compared; the option is.
  current["lr"] = "0.5";
  EXPECT_TRUE(CheckResumeFlags("ckpt", saved, current).ok());
  saved["optimizer.lr"] = "0.01";
  current["optimizer.lr"] = "0.5";
  current["seed"] = "7";
  absl::Status status = CheckResumeFlags("ckpt", saved, current);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find(
                "option optimizer.lr: checkpoint '0.01', now '0.5'; --seed: checkpoint '1', now '7'"),
            std::string::npos)
      << status.message();
}

TEST(ResumePolicyTest, AFlagAnOlderCheckpointLacksComparesAsItsDefault) {
  std::map<std::string, std::string> saved = EffectiveFlags();
  saved.erase("warmup_epochs");
  std::map<std::string, std::string> current = EffectiveFlags();
  EXPECT_TRUE(CheckResumeFlags("ckpt", saved, current).ok());
  current["warmup_epochs"] = "2";
  EXPECT_FALSE(CheckResumeFlags("ckpt", saved, current).ok());
}

TEST(ExperimentFlagsTest, EveryFlagIsListedInHelpUnderAGroup) {
  const std::string help = ExperimentFlagsHelp(/*with_policies=*/true);
  for (const ExperimentFlag& flag : ExperimentFlags()) {
    EXPECT_NE(help.find("  --" + flag.name + "="), std::string::npos) << flag.name;
  }
  EXPECT_NE(help.find("  --epochs=15 *"), std::string::npos) << help;
  // Unset: the selected optimizer's declared default applies.
  EXPECT_NE(help.find("  --lr=\n"), std::string::npos) << help;
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
