#include "framework/experiment/plugin_option_flags.h"

#include <map>
#include <string>

#include <torch/optim/sgd.h>

#include "framework/optim/optimizer.h"
#include "gtest/gtest.h"

namespace framework {
namespace {

// An optimizer as a plugin registers one, with an option of its own.
const DeclaredOptions& PluginOptions() {
  static const auto* options = new DeclaredOptions{
      DoubleOption("lr", 0.01, "Learning rate.").Above(0).PyTorchKey("lr"),
      DoubleOption("lr_decay", 0.0, "Decay.").AtLeast(0).PyTorchKey("lr_decay"),
      DoubleOption("eps", 1e-10, "Epsilon.").Above(0).PyTorchKey("eps"),
  };
  return *options;
}

absl::StatusOr<std::unique_ptr<torch::optim::Optimizer>> BuildPluginSgd(
    const OptionValues& options, std::vector<torch::Tensor> parameters) {
  return std::unique_ptr<torch::optim::Optimizer>(
      new torch::optim::SGD(std::move(parameters), torch::optim::SGDOptions(options.Double("lr"))));
}

REGISTER_OPTIMIZER("test_plugin_sgd", BuildPluginSgd,
                   (StateCodec<torch::optim::SGD, torch::optim::SGDParamState>(
                       [](torch::optim::SGDParamState& s) {
                         return ParamStateFields{{{"momentum_buffer", &s.momentum_buffer(), true}}};
                       })),
                   PluginOptions());

// The effective flags of a run, with nothing set but `set` (option flags
// empty when not given, as ReadExperimentSettings passes them).
std::map<std::string, std::string> Flags(const std::map<std::string, std::string>& set) {
  std::map<std::string, std::string> flags = {{"optimizer", "sgd"}, {"optimizer_options", "{}"},
                                              {"scheduler", "none"}, {"scheduler_options", "{}"},
                                              {"epochs", "15"}, {"warmup_epochs", "0"}};
  for (const OptionFlag& option_flag : OptionFlags()) flags[option_flag.flag] = "";
  for (const auto& [name, value] : set) flags[name] = value;
  return flags;
}

TEST(PluginOptionFlagsTest, FlagsAndJsonSetTheSelectedPluginsOptions) {
  absl::StatusOr<OptionValues> sgd = ResolveSelectedOptions(
      OptionOwner::kOptimizer, Flags({{"lr", "0.05"}, {"optimizer_options", "{\"nesterov\":true}"},
                                      {"momentum", "0.9"}}));
  ASSERT_TRUE(sgd.ok()) << sgd.status();
  EXPECT_EQ(sgd->Double("lr"), 0.05);
  EXPECT_EQ(sgd->Double("momentum"), 0.9);
  EXPECT_TRUE(sgd->Bool("nesterov"));
  EXPECT_EQ(sgd->Double("weight_decay"), 0.0);  // the declared default

  absl::StatusOr<OptionValues> plateau = ResolveSelectedOptions(
      OptionOwner::kScheduler, Flags({{"scheduler", "plateau"}, {"plateau_factor", "0.5"}}));
  ASSERT_TRUE(plateau.ok()) << plateau.status();
  EXPECT_EQ(plateau->Double("factor"), 0.5);  // the old spelling's new home
}

TEST(PluginOptionFlagsTest, ErrorsNameWhereTheValueWasSet) {
  EXPECT_EQ(ResolveSelectedOptions(OptionOwner::kScheduler,
                                   Flags({{"scheduler", "cosine"}, {"t_max", "-3"}}))
                .status()
                .message(),
            "--t_max: option 't_max' of scheduler 'cosine' must be >= 0, got -3");
  EXPECT_EQ(ResolveSelectedOptions(OptionOwner::kOptimizer,
                                   Flags({{"optimizer_options", "{\"beta1\":0.5}"}}))
                .status()
                .message(),
            "--optimizer_options key \"beta1\": optimizer 'sgd' has no option 'beta1'; its "
            "options are lr, momentum, dampening, weight_decay, nesterov");
  EXPECT_EQ(ResolveSelectedOptions(OptionOwner::kOptimizer, Flags({{"optimizer_options", "[1]"}}))
                .status()
                .message(),
            "--optimizer_options: '[1]' is not a JSON object (it is a JSON array)");
}

TEST(PluginOptionFlagsTest, ARecordFromBeforeDeclaredOptionsReadsAsIfItHadThem) {
  // What a run recorded before options were declared: every flag with its
  // value, the options under their own names.
  const std::map<std::string, std::string> old = {
      {"optimizer", "sgd"},   {"optimizer_options", "{}"}, {"lr", "0.01"},
      {"momentum", "0.9"},    {"dampening", "0"},          {"nesterov", "false"},
      {"weight_decay", "0"},  {"beta1", "0.9"},            {"eps", "1e-08"},
      {"scheduler", "step"},  {"step_size", "10"},         {"gamma", "0.1"},
      {"t_max", "0"},         {"plateau_factor", "0.1"},   {"epochs", "15"}};
  const std::map<std::string, std::string> upgraded = WithOptionRecords(old);
  EXPECT_EQ(upgraded.at("optimizer.lr"), "0.01");
  EXPECT_EQ(upgraded.at("optimizer.momentum"), "0.9");
  EXPECT_EQ(upgraded.at("optimizer.nesterov"), "false");
  EXPECT_EQ(upgraded.count("optimizer.beta1"), 0u);  // not sgd's
  EXPECT_EQ(upgraded.at("scheduler.step_size"), "10");
  EXPECT_EQ(upgraded.at("scheduler.gamma"), "0.1");

  // ... and compares equal to what this version records for the same run.
  std::map<std::string, std::string> now = Flags({{"lr", "0.01"}, {"momentum", "0.9"},
                                                  {"scheduler", "step"}, {"step_size", "10"},
                                                  {"gamma", "0.1"}});
  absl::StatusOr<OptionValues> optimizer = ResolveSelectedOptions(OptionOwner::kOptimizer, now);
  absl::StatusOr<OptionValues> scheduler = ResolveSelectedOptions(OptionOwner::kScheduler, now);
  ASSERT_TRUE(optimizer.ok() && scheduler.ok());
  std::map<std::string, std::string> record;
  RecordOptions(OptionOwner::kOptimizer, *optimizer, record);
  RecordOptions(OptionOwner::kScheduler, *scheduler, record);
  for (const auto& [key, value] : record) {
    ASSERT_EQ(upgraded.count(key), 1u) << key;
    EXPECT_EQ(upgraded.at(key), value) << key;
  }

  // An old plugin optimizer's JSON options and the flags it read.
  const std::map<std::string, std::string> plugin = WithOptionRecords(
      {{"optimizer", "test_plugin_sgd"}, {"optimizer_options", "{\"lr_decay\":0.01}"}, {"lr", "0.05"},
       {"eps", "1e-08"}, {"weight_decay", "0"}, {"momentum", "0"}, {"scheduler", "none"}});
  EXPECT_EQ(plugin.at("optimizer.lr_decay"), "0.01");
  EXPECT_EQ(plugin.at("optimizer.eps"), "1e-08");  // what the old run used
  EXPECT_EQ(plugin.at("optimizer.lr"), "0.05");

  // A record that has them is left as it is.
  EXPECT_EQ(WithOptionRecords(record), record);
}

TEST(PluginOptionFlagsTest, TheRecordReadsBackAsTheOptionsPyTorchExportWrites) {
  std::map<std::string, std::string> record = {{"optimizer", "adam"}, {"scheduler", "cosine"},
                                               {"epochs", "20"}, {"warmup_epochs", "0"}};
  absl::StatusOr<OptionValues> adam = ResolveSelectedOptions(
      OptionOwner::kOptimizer, Flags({{"optimizer", "adam"}, {"beta2", "0.99"}}));
  ASSERT_TRUE(adam.ok());
  RecordOptions(OptionOwner::kOptimizer, *adam, record);
  const OptimisationRecord run = OptimisationRecordOf(record);
  EXPECT_EQ(run.optimizer, "adam");
  EXPECT_EQ(run.optimizer_options.at("beta2"), 0.99);
  EXPECT_EQ(run.optimizer_options.at("amsgrad"), false);
  EXPECT_EQ(run.epochs, 20);
}

}  // namespace
}  // namespace framework
