#include "framework/experiment/run_directory.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "gtest/gtest.h"

namespace framework {
namespace {

std::string FreshDir(const std::string& name) {
  const std::string dir = ::testing::TempDir() + "/" + name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

TEST(RunDirectoryLockTest, ASecondProcessIsRefusedUntilTheFirstDies) {
  const std::string dir = FreshDir("lock");
  auto lock = RunDirectoryLock::Acquire(dir);
  ASSERT_TRUE(lock.ok());
  const pid_t child = fork();
  if (child == 0) {
    auto second = RunDirectoryLock::Acquire(dir);
    _exit(!second.ok() && second.status().message().find("in use by another process (pid " +
                                                         std::to_string(getppid())) !=
                                 std::string::npos
              ? 0
              : 1);
  }
  int wait_status = 0;
  waitpid(child, &wait_status, 0);
  EXPECT_EQ(WEXITSTATUS(wait_status), 0);
  // A holder killed with SIGKILL releases the lock.
  lock->reset();
  const pid_t holder = fork();
  if (holder == 0) {
    auto held = RunDirectoryLock::Acquire(dir);
    if (!held.ok()) _exit(1);
    pause();
  }
  usleep(200000);
  EXPECT_FALSE(RunDirectoryLock::Acquire(dir).ok());
  kill(holder, SIGKILL);
  waitpid(holder, &wait_status, 0);
  EXPECT_TRUE(RunDirectoryLock::Acquire(dir).ok());
}

}  // namespace
}  // namespace framework
