#include "framework/core/env.h"

#include <sys/uio.h>

#include <filesystem>
#include <vector>
#include <string>

#include "framework/core/durable_file.h"
#include "gtest/gtest.h"

namespace framework {
namespace {

std::string Fresh(const std::string& name) {
  const std::string path = ::testing::TempDir() + "/env_test_" + name;
  std::filesystem::remove_all(path);
  return path;
}

TEST(PosixEnvTest, WritesAppendsAndReadsBack) {
  Env& env = *Env::Default();
  const std::string path = Fresh("file");
  {
    auto file = env.NewWritableFile(path);
    ASSERT_TRUE(file.ok()) << file.status();
    ASSERT_TRUE((*file)->Append("abc", 3).ok());
    struct iovec parts[2] = {{const_cast<char*>("de"), 2}, {const_cast<char*>("f"), 1}};
    ASSERT_TRUE((*file)->AppendGathered(parts, 2).ok());
    ASSERT_TRUE((*file)->Sync().ok());
    ASSERT_TRUE((*file)->Close().ok());
  }
  {
    auto file = env.NewAppendableFile(path);
    ASSERT_TRUE(file.ok()) << file.status();
    ASSERT_TRUE((*file)->Append("g", 1).ok());
  }
  EXPECT_EQ(*ReadFileToString(path), "abcdefg");
  EXPECT_EQ(*ReadFileHead(path, 2), "ab");
  auto file = env.NewRandomAccessFile(path, /*sequential=*/false);
  ASSERT_TRUE(file.ok());
  char middle[8] = {};
  EXPECT_EQ(*(*file)->Read(4, 8, middle), 3u);  // short only at the end
  EXPECT_EQ(std::string(middle, 3), "efg");
  EXPECT_EQ(*(*file)->Size(), 7u);
  // Truncated by a new writable file.
  ASSERT_TRUE(WriteStringToFile(path, "x", /*sync=*/false).ok());
  EXPECT_EQ(*ReadFileToString(path), "x");
}

TEST(PosixEnvTest, ErrorsNameThePathAndTheCause) {
  Env& env = *Env::Default();
  const std::string missing = Fresh("missing") + "/inside";
  absl::StatusOr<std::string> read = ReadFileToString(missing);
  EXPECT_TRUE(absl::IsNotFound(read.status())) << read.status();
  EXPECT_EQ(read.status().message(), "cannot open " + missing + ": No such file or directory");
  auto created = env.NewWritableFile(missing);
  EXPECT_EQ(created.status().message(), "cannot create " + missing + ": No such file or directory");
  absl::Status renamed = env.RenameFile(missing, missing + "2");
  EXPECT_NE(renamed.message().find("cannot rename " + missing), std::string::npos) << renamed;
  const std::string dir = Fresh("dir");
  ASSERT_TRUE(env.CreateDirectories(dir).ok());
  auto directory = ReadFileToString(dir);
  EXPECT_NE(directory.status().message().find("Is a directory"), std::string::npos)
      << directory.status();
  ASSERT_TRUE(WriteStringToFile(dir + "/file", "", false).ok());
  absl::Status under_file = env.CreateDirectories(dir + "/file/sub");
  EXPECT_FALSE(under_file.ok());
  EXPECT_NE(under_file.message().find(dir + "/file/sub"), std::string::npos) << under_file;
}

TEST(PosixEnvTest, RenamesRemovesAndReplaces) {
  Env& env = *Env::Default();
  const std::string dir = Fresh("tree");
  ASSERT_TRUE(env.CreateDirectories(dir + "/a/b").ok());
  ASSERT_TRUE(WriteStringToFile(dir + "/a/b/f", "1", false).ok());
  ASSERT_TRUE(RenameDurably(dir + "/a", dir + "/c").ok());
  EXPECT_EQ(*ReadFileToString(dir + "/c/b/f"), "1");
  ASSERT_TRUE(ReplaceFileContents(dir + "/c/b/f", "2").ok());
  EXPECT_EQ(*ReadFileToString(dir + "/c/b/f"), "2");
  EXPECT_FALSE(std::filesystem::exists(dir + "/c/b/f.tmp"));
  ASSERT_TRUE(env.RemoveTree(dir + "/c").ok());
  EXPECT_FALSE(std::filesystem::exists(dir + "/c"));
  EXPECT_TRUE(env.RemoveTree(dir + "/never").ok());  // nothing to remove is no error
}

// flock(2) locks belong to an open file, so a second lock fails even within
// one process, as it would from another.
TEST(PosixEnvTest, ALockIsExclusiveUntilReleased) {
  Env& env = *Env::Default();
  const std::string path = Fresh("LOCK");
  auto first = env.LockFile(path, "123\n");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(*ReadFileToString(path), "123\n");
  auto second = env.LockFile(path, "456\n");
  EXPECT_TRUE(absl::IsUnavailable(second.status())) << second.status();
  EXPECT_EQ(*ReadFileToString(path), "123\n");  // the holder's record is kept
  first->reset();
  auto third = env.LockFile(path, "789\n");
  EXPECT_TRUE(third.ok()) << third.status();
}

// An installed wrapper sees every operation; uninstalling restores POSIX.
class CountingEnv : public EnvWrapper {
 public:
  CountingEnv() : EnvWrapper(PosixEnv()) {}
  absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override {
    ++created;
    return EnvWrapper::NewWritableFile(path);
  }
  int created = 0;
};

// Pieces of any size (empty ones, more than one preadv takes, one past the
// end of the file) are filled in order, as one read of the same bytes.
TEST(PosixEnvTest, ScatteredReadsFillPiecesInOrder) {
  const std::string path = Fresh("scattered");
  std::string bytes;
  for (int i = 0; i < 5000; ++i) bytes.push_back(static_cast<char>(i * 7 + i / 256));
  ASSERT_TRUE(WriteStringToFile(path, bytes, /*sync=*/false).ok());
  auto file = Env::Default()->NewRandomAccessFile(path, /*sequential=*/true);
  ASSERT_TRUE(file.ok()) << file.status();
  // 3000 one-byte pieces (over IOV_MAX, 1024), an empty one, 900 bytes,
  // then 1200 of which the file holds 1095.
  std::vector<std::string> memory;
  for (int i = 0; i < 3000; ++i) memory.emplace_back(1, '?');
  memory.emplace_back();
  memory.emplace_back(900, '?');
  memory.emplace_back(1200, '?');
  std::vector<iovec> pieces;
  for (std::string& piece : memory) pieces.push_back({piece.data(), piece.size()});
  auto read = (*file)->ReadScattered(5, pieces.data(), pieces.size());
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, bytes.size() - 5);
  std::string joined;
  for (const std::string& piece : memory) joined += piece;
  EXPECT_EQ(joined.substr(0, *read), bytes.substr(5));
  EXPECT_EQ(joined.substr(*read), std::string(1200 - 1095, '?'));  // past the end: untouched
}

TEST(EnvTest, TheDefaultIsWhatATestInstalled) {
  EXPECT_EQ(Env::Default(), PosixEnv());
  CountingEnv counting;
  SetDefaultEnv(&counting);
  const absl::Status written = WriteStringToFile(Fresh("counted"), "x", false);
  SetDefaultEnv(nullptr);
  EXPECT_TRUE(written.ok()) << written;
  EXPECT_EQ(counting.created, 1);
  EXPECT_EQ(Env::Default(), PosixEnv());
}

}  // namespace
}  // namespace framework
