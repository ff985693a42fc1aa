#include "framework/formats/tar_archive.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <string>

#include <gtest/gtest.h>

#include "framework/core/durable_file.h"
#include "framework/testing/test_command.h"

namespace framework {
namespace {

std::string TempDir() { return std::getenv("TEST_TMPDIR"); }

std::string ReadAt(const std::string& path, const TarMember& member) {
  std::string bytes(member.size, '\0');
  const int fd = open(path.c_str(), O_RDONLY);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(pread(fd, bytes.data(), bytes.size(), member.offset), static_cast<ssize_t>(bytes.size()));
  close(fd);
  return bytes;
}

// Python's tarfile (an independent writer) in three dialects, with a long
// name (pax or GNU headers), an empty member and a directory.
TEST(TarArchiveTest, IndexFindsEveryMembersBytesInEachDialect) {
  for (const std::string dialect : {"USTAR_FORMAT", "GNU_FORMAT", "PAX_FORMAT"}) {
    const std::string path = TempDir() + "/python-" + dialect + ".tar";
    const std::string long_name = std::string(120, 'd') + "/" + std::string(110, 'n') + ".png";
    RunCommandForTest("/usr/bin/python3 -c '"
                      "import io, tarfile, sys\n"
                      "t = tarfile.open(sys.argv[1], \"w\", format=tarfile." + dialect + ")\n"
                      "def add(name, data):\n"
                      "  info = tarfile.TarInfo(name); info.size = len(data)\n"
                      "  t.addfile(info, io.BytesIO(data))\n"
                      "add(\"a.cls\", b\"7\")\n"
                      "d = tarfile.TarInfo(\"dir\"); d.type = tarfile.DIRTYPE; t.addfile(d)\n"
                      "add(\"empty.txt\", b\"\")\n"
                      "add(sys.argv[2] if sys.argv[3] != \"USTAR_FORMAT\" else \"b.png\", bytes(range(256)) * 5)\n"
                      "t.close()' " + path + " " + long_name + " " + dialect);
    absl::StatusOr<std::vector<TarMember>> members = IndexTarFile(path);
    ASSERT_TRUE(members.ok()) << dialect << ": " << members.status();
    ASSERT_EQ(members->size(), 3u) << dialect << " (the directory is not a member file)";
    EXPECT_EQ((*members)[0].name, "a.cls");
    EXPECT_EQ(ReadAt(path, (*members)[0]), "7");
    EXPECT_EQ((*members)[1].size, 0);
    std::string expected;
    for (int i = 0; i < 5; ++i) {
      for (int b = 0; b < 256; ++b) expected.push_back(static_cast<char>(b));
    }
    EXPECT_EQ((*members)[2].name, dialect == "USTAR_FORMAT" ? "b.png" : long_name);
    EXPECT_EQ(ReadAt(path, (*members)[2]), expected) << dialect;
  }
}

TEST(TarArchiveTest, WrittenArchivesReadInPythonAndAreReproducible) {
  const std::string path = TempDir() + "/ours.tar";
  for (int round = 0; round < 2; ++round) {
    absl::StatusOr<std::unique_ptr<TarWriter>> writer =
        TarWriter::Create(path + (round == 0 ? "" : ".again"));
    ASSERT_TRUE(writer.ok()) << writer.status();
    ASSERT_TRUE((*writer)->Add("000001.png", std::string(1000, 'x')).ok());
    ASSERT_TRUE((*writer)->Add("000001.cls", "3").ok());
    ASSERT_TRUE((*writer)->Close().ok());
  }
  EXPECT_EQ(*ReadFileToString(path), *ReadFileToString(path + ".again"));
  const std::string listing = RunCommandForTest(
      "/usr/bin/python3 -c 'import tarfile, sys\n"
      "for m in tarfile.open(sys.argv[1]):\n"
      "  print(m.name, m.size, tarfile.open(sys.argv[1]).extractfile(m.name).read()[:3])' " + path);
  EXPECT_EQ(listing, "000001.png 1000 b'xxx'\n000001.cls 1 b'3'\n");
  absl::StatusOr<std::vector<TarMember>> members = IndexTarFile(path);
  ASSERT_TRUE(members.ok()) << members.status();
  EXPECT_EQ(ReadAt(path, (*members)[1]), "3");
}

TEST(TarArchiveTest, TruncatedAndCompressedArchivesAreNamedErrors) {
  const std::string path = TempDir() + "/whole.tar";
  {
    absl::StatusOr<std::unique_ptr<TarWriter>> writer = TarWriter::Create(path);
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->Add("one.png", std::string(5000, 'a')).ok());
    ASSERT_TRUE((*writer)->Add("two.png", std::string(5000, 'b')).ok());
    ASSERT_TRUE((*writer)->Close().ok());
  }
  const std::string whole = *ReadFileToString(path);
  const std::string truncated = TempDir() + "/truncated.tar";
  ASSERT_TRUE(WriteStringToFile(truncated, whole.substr(0, 8000), false).ok());
  absl::StatusOr<std::vector<TarMember>> members = IndexTarFile(truncated);
  ASSERT_FALSE(members.ok());
  EXPECT_NE(members.status().message().find(truncated), std::string::npos) << members.status();
  EXPECT_NE(members.status().message().find("truncated"), std::string::npos) << members.status();

  RunCommandForTest("gzip -k -c " + path + " > " + path + ".gz");
  members = IndexTarFile(path + ".gz");
  ASSERT_FALSE(members.ok());
  EXPECT_NE(members.status().message().find("compressed (gzip)"), std::string::npos)
      << members.status();
  EXPECT_FALSE(IndexTarFile(TempDir() + "/missing.tar").ok());
}

}  // namespace
}  // namespace framework
