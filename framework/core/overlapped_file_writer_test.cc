#include "framework/core/overlapped_file_writer.h"

#include <atomic>
#include <cerrno>
#include <cstring>
#include <random>
#include <memory>
#include <string>
#include <vector>

#include "framework/core/durable_file.h"
#include "framework/testing/fault_injecting_env.h"
#include "gtest/gtest.h"

namespace framework {
namespace {

std::string Temp(const std::string& name) { return ::testing::TempDir() + "/" + name; }

// Regions of random sizes (many tiny, some larger than a write call), some
// handed over with an owner, written with small limits so that every path
// (gathering, splitting, waiting for owned bytes) is taken.
TEST(OverlappedFileWriterTest, WritesEveryRegionInOrder) {
  const unsigned seed = std::random_device()();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 random(seed);
  for (bool sync : {false, true}) {
    OverlappedFileWriter::Options options;
    options.sync = sync;
    options.call_bytes = 4096;
    options.writeback_bytes = 8192;
    options.max_owned_bytes = 10000;
    const std::string path = Temp(sync ? "synced" : "unsynced");
    auto file = OverlappedFileWriter::Create(path, options);
    ASSERT_TRUE(file.ok()) << file.status();
    std::string expected;
    std::vector<std::string> borrowed;
    borrowed.reserve(3000);
    for (int i = 0; i < 3000; ++i) {
      const size_t size = random() % 4 == 0 ? random() % 20000 : random() % 40;
      std::string bytes(size, '\0');
      for (char& c : bytes) c = static_cast<char>(random());
      expected += bytes;
      if (random() % 2 == 0) {
        auto owned = std::make_shared<std::string>(std::move(bytes));
        (*file)->Append(owned->data(), owned->size(), owned);
      } else {
        borrowed.push_back(std::move(bytes));
        (*file)->Append(borrowed.back().data(), borrowed.back().size());
      }
    }
    ASSERT_TRUE((*file)->Finish().ok());
    EXPECT_EQ((*file)->bytes_written(), expected.size());
    absl::StatusOr<std::string> contents = ReadFileToString(path);
    ASSERT_TRUE(contents.ok());
    EXPECT_TRUE(*contents == expected) << "contents differ, sync " << sync;
  }
}

TEST(OverlappedFileWriterTest, AFailedWriteIsReportedAndReleasesOwners) {
  std::atomic<int> writes{0};
  auto faults = std::make_unique<ScopedFaultInjection>([&](const char* operation, const std::string&) {
    return std::strcmp(operation, "write") == 0 && ++writes == 3 ? ENOSPC : 0;
  });
  OverlappedFileWriter::Options options;
  options.call_bytes = 1000;
  options.max_owned_bytes = 3000;
  auto file = OverlappedFileWriter::Create(Temp("failing"), options);
  ASSERT_TRUE(file.ok());
  auto owned = std::make_shared<std::string>(2000, 'x');
  std::weak_ptr<std::string> watch = owned;
  // More owned bytes than the limit: would block forever if a failed write
  // kept its owners.
  for (int i = 0; i < 10; ++i) (*file)->Append(owned->data(), owned->size(), owned);
  owned.reset();
  absl::Status status = (*file)->Finish();
  faults.reset();
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted) << status;
  EXPECT_NE(status.message().find("failing"), std::string::npos) << status;
  EXPECT_GE(writes.load(), 3);
  EXPECT_TRUE(watch.expired());
}

TEST(OverlappedFileWriterTest, AFailedSyncIsReported) {
  auto faults = std::make_unique<ScopedFaultInjection>([](const char* operation, const std::string&) {
    return std::strcmp(operation, "sync") == 0 ? EIO : 0;
  });
  auto file = OverlappedFileWriter::Create(Temp("unsyncable"), {});
  ASSERT_TRUE(file.ok());
  (*file)->Append("abc", 3);
  absl::Status status = (*file)->Finish();
  faults.reset();
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("fsync"), std::string::npos) << status;
}

}  // namespace
}  // namespace framework
