#include "framework/formats/event_file.h"

#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace framework {
namespace {

std::string TempPath(const std::string& name) { return testing::TempDir() + "/" + name; }

TEST(EventFileTest, WritesRecordsThatReadBackWithTheirSteps) {
  const std::string path = TempPath("events.out.tfevents.1");
  auto writer = EventFileWriter::Create(path, 1.5);
  ASSERT_TRUE(writer.ok()) << writer.status();
  ASSERT_TRUE((*writer)->Append(EncodeScalarsEvent(2.0, 300, {{"train/loss", 0.5f}})).ok());
  ASSERT_TRUE((*writer)->Append(EncodeSessionStartEvent(3.0, 1ll << 40)).ok());
  auto records = ReadRecords(path);
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(records->size(), 3u);
  EXPECT_NE((*records)[0].find(kEventFileVersion), std::string::npos);
  EXPECT_EQ(EventStep((*records)[0]).value(), 0);
  EXPECT_EQ(EventStep((*records)[1]).value(), 300);
  EXPECT_EQ(EventStep((*records)[2]).value(), 1ll << 40);
  EXPECT_NE((*records)[1].find("train/loss"), std::string::npos);
}

TEST(EventFileTest, FramingMatchesTfRecord) {
  // length 3, masked CRC-32C of the length, the data, masked CRC of the data.
  const std::string record = FrameRecord("abc");
  ASSERT_EQ(record.size(), 8u + 4u + 3u + 4u);
  EXPECT_EQ(record.substr(0, 8), std::string("\x03\0\0\0\0\0\0\0", 8));
  EXPECT_EQ(record.substr(12, 3), "abc");
}

TEST(EventFileTest, DamageIsAnErrorOrTheEndOfTheIntactPrefix) {
  const std::string path = TempPath("damaged");
  {
    std::ofstream out(path, std::ios::binary);
    out << FrameRecord(EncodeFileVersionEvent(1.0)) << FrameRecord("second");
    std::string third = FrameRecord("third");
    third[14] ^= 1;  // a flipped bit in the data
    out << third << "\x01\x02";  // and a tail cut short
  }
  auto strict = ReadRecords(path);
  ASSERT_FALSE(strict.ok());
  EXPECT_NE(strict.status().message().find(path + ": record at offset "), std::string::npos)
      << strict.status();
  EXPECT_NE(strict.status().message().find("data checksum mismatch"), std::string::npos);
  auto prefix = ReadRecords(path, /*keep_intact_prefix=*/true);
  ASSERT_TRUE(prefix.ok());
  EXPECT_EQ(prefix->size(), 2u);
}

TEST(EventFileTest, MalformedEventsAreErrors) {
  EXPECT_FALSE(EventStep(std::string("\x12\x80", 2)).ok());  // field 2, unterminated varint
  EXPECT_FALSE(EventStep(std::string("\x2a\x05" "ab", 4)).ok());  // length past the end
}

}  // namespace
}  // namespace framework
