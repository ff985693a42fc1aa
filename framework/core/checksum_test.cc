#include "framework/core/checksum.h"

#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace framework {
namespace {

TEST(ChecksumTest, KnownValues) {
  // zlib's CRC-32 check value, and XXH3-64 of "" and "abc" (xxHash's tests).
  EXPECT_EQ(Checksum(ChecksumKind::kCrc32, "123456789", 9), 0xcbf43926u);
  EXPECT_EQ(Checksum(ChecksumKind::kXxh3, "", 0), 0x2d06800538d394c2ull);
  EXPECT_EQ(Checksum(ChecksumKind::kXxh3, "abc", 3), 0x78af5f94892f3950ull);
}

TEST(ChecksumTest, StreamingEqualsOneShotForAnySplit) {
  const unsigned seed = std::random_device()();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 random(seed);
  std::vector<unsigned char> data(1 << 20);
  for (auto& byte : data) byte = static_cast<unsigned char>(random());
  for (ChecksumKind kind : {ChecksumKind::kCrc32, ChecksumKind::kXxh3}) {
    const uint64_t whole = Checksum(kind, data.data(), data.size());
    StreamingChecksum sum(kind);
    size_t done = 0;
    while (done < data.size()) {
      const size_t size = std::min<size_t>(data.size() - done, random() % 300000);
      sum.Update(data.data() + done, size);
      done += size;
    }
    EXPECT_EQ(sum.Digest(), whole) << ChecksumName(kind);
    sum.Reset();
    sum.Update("abc", 3);
    EXPECT_EQ(sum.Digest(), Checksum(kind, "abc", 3)) << ChecksumName(kind);
    data[random() % data.size()] ^= 1;
    EXPECT_NE(Checksum(kind, data.data(), data.size()), whole) << ChecksumName(kind);
  }
}

TEST(ChecksumTest, TextRoundTripsAndRefusesMalformed) {
  EXPECT_EQ(FormatChecksum(ChecksumKind::kCrc32, 0xcbf43926u), "cbf43926");
  EXPECT_EQ(FormatChecksum(ChecksumKind::kXxh3, 0x78af5f94892f3950ull), "78af5f94892f3950");
  EXPECT_EQ(ParseChecksum(ChecksumKind::kXxh3, "78af5f94892f3950"), 0x78af5f94892f3950ull);
  EXPECT_EQ(ParseChecksum(ChecksumKind::kCrc32, "cbf43926"), 0xcbf43926u);
  for (const char* bad : {"", "78af5f94892f395", "78af5f94892f39500", "78AF5F94892F3950",
                          "78af5f94892f395g", " 8af5f94892f3950"}) {
    EXPECT_EQ(ParseChecksum(ChecksumKind::kXxh3, bad), std::nullopt) << bad;
  }
}

}  // namespace
}  // namespace framework
