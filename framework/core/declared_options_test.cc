#include "framework/core/declared_options.h"

#include "gtest/gtest.h"

namespace framework {
namespace {

const DeclaredOptions& Declared() {
  static const auto* declared = new DeclaredOptions{
      DoubleOption("lr", 0.01, "Learning rate.").Above(0).PyTorchKey("lr"),
      DoubleOption("beta1", 0.9, "First moment decay.").AtLeast(0).Below(1),
      IntOption("t_max", 0, "Period.").AtLeast(0),
      BoolOption("nesterov", false, "Nesterov momentum."),
      ChoiceOption("threshold_mode", "rel", {"rel", "abs"}, "How to compare."),
      IntListOption("milestones", {}, "Epochs.").AtLeast(1),
  };
  return *declared;
}

std::string Where(const std::string& key) { return "key '" + key + "'"; }

TEST(DeclaredOptionsTest, DefaultsFillWhatIsNotGiven) {
  absl::StatusOr<OptionValues> values =
      ResolveOptions(Declared(), {{"beta1", 0.5}, {"milestones", {3, 6}}}, "optimizer 'x'", Where);
  ASSERT_TRUE(values.ok()) << values.status();
  EXPECT_EQ(values->Double("lr"), 0.01);
  EXPECT_EQ(values->Double("beta1"), 0.5);
  EXPECT_EQ(values->Int("t_max"), 0);
  EXPECT_FALSE(values->Bool("nesterov"));
  EXPECT_EQ(values->Choice("threshold_mode"), "rel");
  EXPECT_EQ(values->IntList("milestones"), (std::vector<int64_t>{3, 6}));
  EXPECT_EQ(values->Text("milestones"), "[3,6]");
  EXPECT_EQ(values->Text("threshold_mode"), "rel");
}

TEST(DeclaredOptionsTest, AnIntegerIsANumber) {
  absl::StatusOr<OptionValues> values = ResolveOptions(Declared(), {{"lr", 1}}, "o", Where);
  ASSERT_TRUE(values.ok()) << values.status();
  EXPECT_EQ(values->Double("lr"), 1.0);
}

TEST(DeclaredOptionsTest, EveryRangeIsEnforcedAndNamed) {
  struct Case {
    nlohmann::json given;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{{"lr", 0}}, "key 'lr': option 'lr' of o must be > 0, got 0.0"},
      {{{"beta1", 1.0}}, "key 'beta1': option 'beta1' of o must be in [0, 1), got 1.0"},
      {{{"t_max", -3}}, "key 't_max': option 't_max' of o must be >= 0, got -3"},
      {{{"t_max", 1.5}}, "key 't_max': option 't_max' of o must be an integer, got 1.5"},
      {{{"nesterov", 1}}, "key 'nesterov': option 'nesterov' of o must be true or false, got 1"},
      {{{"threshold_mode", "relative"}},
       "key 'threshold_mode': option 'threshold_mode' of o must be one of rel, abs, got "
       "\"relative\""},
      {{{"milestones", {0, 5}}},
       "key 'milestones': option 'milestones' of o must hold integers >= 1, got [0,5]"},
      {{{"lr_decay", 0.1}},
       "key 'lr_decay': o has no option 'lr_decay'; its options are lr, beta1, t_max, nesterov, "
       "threshold_mode, milestones"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<OptionValues> values = ResolveOptions(Declared(), c.given, "o", Where);
    ASSERT_FALSE(values.ok()) << c.given.dump();
    EXPECT_EQ(values.status().message(), c.message);
  }
  EXPECT_FALSE(ResolveOptions(Declared(), nlohmann::json::array(), "o", Where).ok());
}

TEST(DeclaredOptionsTest, FlagTextParsesByType) {
  EXPECT_EQ(*ParseOptionText(*FindOption(Declared(), "milestones"), "10, 15"),
            nlohmann::json({10, 15}));
  EXPECT_EQ(*ParseOptionText(*FindOption(Declared(), "nesterov"), "true"), nlohmann::json(true));
  EXPECT_EQ(*ParseOptionText(*FindOption(Declared(), "t_max"), "-3"), nlohmann::json(-3));
  EXPECT_EQ(*ParseOptionText(*FindOption(Declared(), "lr"), "1e-3"), nlohmann::json(1e-3));
  EXPECT_EQ(ParseOptionText(*FindOption(Declared(), "t_max"), "x").status().message(),
            "'x' is not an integer");
  EXPECT_EQ(FindOption(Declared(), "nope"), nullptr);
}

TEST(DeclaredOptionsTest, DescriptionShowsEffectiveValuesAndRanges) {
  absl::StatusOr<OptionValues> values = ResolveOptions(Declared(), {{"lr", 0.1}}, "o", Where);
  ASSERT_TRUE(values.ok());
  const std::string text = DescribeOptions(Declared(), *values, [](const std::string& name) {
    return name == "lr" ? std::string("--lr") : std::string();
  });
  EXPECT_NE(text.find("  lr=0.1  (or --lr)\n      Learning rate. Range: > 0. (default: 0.01) "
                      "PyTorch: param_groups[].lr.\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("  threshold_mode=rel\n      How to compare. Range: one of rel, abs.\n"),
            std::string::npos)
      << text;
}

TEST(DeclaredOptionsTest, NumberListsTakeIntegersAndCheckEachElement) {
  const DeclaredOptions declared = {
      DoubleListOption("std", {1.0}, "Per channel.").Above(0).NonEmpty()};
  absl::StatusOr<OptionValues> values =
      ResolveOptions(declared, {{"std", {0.229, 1, 0.225}}}, "transform 'normalize'", Where);
  ASSERT_TRUE(values.ok()) << values.status();
  EXPECT_EQ(values->DoubleList("std"), (std::vector<double>{0.229, 1.0, 0.225}));
  EXPECT_EQ(ResolveOptions(declared, nlohmann::json::object(), "t", Where)->DoubleList("std"),
            (std::vector<double>{1.0}));
  absl::StatusOr<OptionValues> zero = ResolveOptions(declared, {{"std", {0.5, 0}}}, "t", Where);
  ASSERT_FALSE(zero.ok());
  EXPECT_NE(zero.status().message().find("must hold numbers > 0, got [0.5,0.0]"), std::string::npos)
      << zero.status();
  EXPECT_FALSE(ResolveOptions(declared, {{"std", {"a"}}}, "t", Where).ok());
  EXPECT_FALSE(ResolveOptions(declared, {{"std", nlohmann::json::array()}}, "t", Where).ok());
  EXPECT_EQ(*ParseOptionText(declared[0], "0.5, 2"), nlohmann::json({0.5, 2.0}));
  EXPECT_FALSE(ParseOptionText(declared[0], "0.5,x").ok());
}

}  // namespace
}  // namespace framework
