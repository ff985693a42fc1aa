#include "framework/core/crc32c.h"

#include <string>

#include "gtest/gtest.h"

namespace framework {
namespace {

TEST(Crc32cTest, KnownValues) {
  // RFC 3720 (iSCSI) test vectors.
  const std::string zeros(32, '\0');
  EXPECT_EQ(Crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);
  const std::string ones(32, '\xff');
  EXPECT_EQ(Crc32c(ones.data(), ones.size()), 0x62A8AB43u);
  EXPECT_EQ(Crc32c("123456789", 9), 0xE3069283u);
}

TEST(Crc32cTest, ContinuesAcrossPieces) {
  EXPECT_EQ(Crc32c("6789", 4, Crc32c("12345", 5)), Crc32c("123456789", 9));
}

TEST(Crc32cTest, MaskIsTensorFlows) {
  // masked = rotate_right(crc, 15) + 0xa282ead8
  EXPECT_EQ(MaskCrc32c(0), 0xa282ead8u);
  EXPECT_EQ(MaskCrc32c(0x8000u), 1u + 0xa282ead8u);
}

}  // namespace
}  // namespace framework
