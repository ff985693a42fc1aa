#include "framework/experiment/flag_error.h"

#include "gtest/gtest.h"

namespace framework {
namespace {

TEST(FlagErrorTest, NamesTheFlag) {
  const absl::Status error = FlagError("epochs", "must be >= 1, got 0");
  EXPECT_TRUE(absl::IsInvalidArgument(error));
  EXPECT_EQ(error.message(), "--epochs: must be >= 1, got 0");
}

TEST(ParseJsonObjectFlagTest, AcceptsObjectsAndEmptyText) {
  EXPECT_EQ(*ParseJsonObjectFlag("model_options", R"({"hidden": [8]})"),
            nlohmann::json({{"hidden", {8}}}));
  EXPECT_EQ(*ParseJsonObjectFlag("model_options", ""), nlohmann::json::object());
}

TEST(ParseJsonObjectFlagTest, RefusesOtherJsonAndBrokenTextNamingFlagAndPlace) {
  const absl::Status array = ParseJsonObjectFlag("optimizer_options", "[1]").status();
  EXPECT_EQ(array.message(),
            "--optimizer_options: '[1]' is not a JSON object (it is a JSON array)");
  const absl::Status broken = ParseJsonObjectFlag("model_options", R"({"hidden": [8})").status();
  EXPECT_TRUE(absl::IsInvalidArgument(broken));
  EXPECT_NE(broken.message().find("--model_options: '{\"hidden\": [8}' is not a JSON object ("),
            std::string::npos) << broken;
  EXPECT_NE(broken.message().find("column"), std::string::npos) << broken;
}

}  // namespace
}  // namespace framework
