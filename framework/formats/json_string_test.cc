#include "framework/formats/json_string.h"

#include <string>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace framework {
namespace {

// nlohmann-json, an independent reader, reads back what was written.
TEST(AppendJsonStringTest, IndependentReaderReadsEveryCharacterBack) {
  std::string all;
  for (int c = 1; c < 0x80; ++c) all.push_back(static_cast<char>(c));
  all += "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";  // é € 😀
  all.push_back('\0');
  all += "end";
  std::string text = "[";
  ASSERT_TRUE(AppendJsonString(all, &text).ok());
  text += "]";
  const nlohmann::json parsed = nlohmann::json::parse(text);
  EXPECT_EQ(parsed.at(0).get<std::string>(), all);
}

TEST(AppendJsonStringTest, PlainTextIsCopiedAsIs) {
  std::string text;
  ASSERT_TRUE(AppendJsonString("layer1.0.conv1.weight", &text).ok());
  EXPECT_EQ(text, "\"layer1.0.conv1.weight\"");
}

TEST(AppendJsonStringTest, InvalidUtf8IsRefusedAndNothingAppended) {
  std::string text = "x";
  const absl::Status status = AppendJsonString("bad\xff", &text);
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("not valid UTF-8"), std::string::npos) << status;
  EXPECT_EQ(text, "x");
}

}  // namespace
}  // namespace framework
