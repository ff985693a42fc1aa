#include "framework/core/config_reader.h"

#include "gtest/gtest.h"

namespace framework {
namespace {

TEST(ConfigReaderTest, ReadsValuesAndDefaults) {
  const nlohmann::json config = {{"width", 4}, {"rate", 0.5}, {"sizes", {3, 2}}};
  ConfigReader reader(config, "model 'm'");
  EXPECT_EQ(*reader.Int("width", 1, 1), 4);
  EXPECT_EQ(*reader.Int("depth", 7, 1), 7);
  EXPECT_EQ(*reader.Double("rate", 0.1, 0.0, 1.0), 0.5);
  EXPECT_EQ(*reader.IntList("sizes", {}, 1), (std::vector<int64_t>{3, 2}));
  EXPECT_TRUE(reader.Finish().ok());
}

TEST(ConfigReaderTest, UnreadKeyIsAnErrorNamingIt) {
  const nlohmann::json config = {{"dropuot", 0.5}};
  ConfigReader reader(config, "model 'mlp'");
  ASSERT_TRUE(reader.Double("dropout", 0.2, 0, 1).ok());
  absl::Status status = reader.Finish();
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.message(),
            "model 'mlp': unknown option(s) dropuot; known options: dropout");
}

TEST(ConfigReaderTest, OutOfRangeAndWrongTypeAreErrors) {
  const nlohmann::json config = {{"classes", 1}, {"rate", "high"}, {"sizes", {1, -2}}};
  ConfigReader reader(config, "model 'lenet'");
  auto classes = reader.Int("classes", 10, 2);
  ASSERT_FALSE(classes.ok());
  EXPECT_EQ(classes.status().message(), "model 'lenet': option 'classes' is 1, must be >= 2");
  auto rate = reader.Double("rate", 0.1, 0, 1);
  ASSERT_FALSE(rate.ok());
  EXPECT_NE(rate.status().message().find("'rate' must be a number"), std::string::npos);
  EXPECT_FALSE(reader.IntList("sizes", {}, 1).ok());
}

TEST(ConfigReaderTest, NonObjectIsAnError) {
  ConfigReader reader(nlohmann::json::array(), "model 'm'");
  EXPECT_FALSE(reader.Int("x", 1, 0).ok());
  EXPECT_FALSE(reader.Finish().ok());
}

}  // namespace
}  // namespace framework
