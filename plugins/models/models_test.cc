// Shapes, parameter names and configuration errors of every model plugin.
#include <torch/types.h>

#include "framework/model/model.h"
#include "gtest/gtest.h"

namespace plugins {
namespace {

using framework::BuildModel;
using framework::ModelSpec;

nlohmann::json ImageConfig(int64_t channels, int64_t height, int64_t width, int64_t classes) {
  return {{framework::kInputChannelsKey, channels},
          {framework::kInputHeightKey, height},
          {framework::kInputWidthKey, width},
          {framework::kClassesKey, classes}};
}

TEST(ModelsTest, EveryModelIsRegistered) {
  EXPECT_EQ(framework::ModelRegistry().Names(),
            (std::vector<std::string>{"autoencoder", "lenet", "mlp", "small_cnn"}));
}

TEST(ModelsTest, ClassifiersMapImagesToLogits) {
  for (const std::string name : {"lenet", "mlp", "small_cnn"}) {
    for (int64_t classes : {2, 10, 37}) {
      auto model = BuildModel({name, ImageConfig(1, 28, 28, classes)});
      ASSERT_TRUE(model.ok()) << name << ": " << model.status();
      (*model)->eval();
      EXPECT_EQ((*model)->forward(torch::randn({5, 1, 28, 28})).sizes(),
                torch::IntArrayRef({5, classes}))
          << name;
    }
    // Other image sizes and channel counts.
    auto color = BuildModel({name, ImageConfig(3, 32, 32, 10)});
    ASSERT_TRUE(color.ok()) << name << ": " << color.status();
    (*color)->eval();
    EXPECT_EQ((*color)->forward(torch::randn({2, 3, 32, 32})).sizes(),
              torch::IntArrayRef({2, 10}))
        << name;
  }
}

TEST(ModelsTest, LeNetHasTheTutorialsParameterNamesAndShapes) {
  auto model = BuildModel({"lenet", ImageConfig(1, 28, 28, 10)});
  ASSERT_TRUE(model.ok());
  std::map<std::string, std::vector<int64_t>> shapes;
  for (const auto& item : (*model)->named_parameters()) {
    shapes[item.key()] = item.value().sizes().vec();
  }
  const std::map<std::string, std::vector<int64_t>> expected = {
      {"conv1.weight", {6, 1, 5, 5}}, {"conv1.bias", {6}},
      {"conv2.weight", {16, 6, 5, 5}}, {"conv2.bias", {16}},
      {"fc1.weight", {120, 256}},      {"fc1.bias", {120}},
      {"fc2.weight", {84, 120}},       {"fc2.bias", {84}},
      {"fc3.weight", {10, 84}},        {"fc3.bias", {10}}};
  EXPECT_EQ(shapes, expected);
  EXPECT_EQ(framework::CountParameters(**model), 44426);
}

TEST(ModelsTest, SmallCnnHasBatchNormBuffers) {
  auto model = BuildModel({"small_cnn", ImageConfig(1, 28, 28, 10)});
  ASSERT_TRUE(model.ok());
  std::set<std::string> buffers;
  for (const auto& item : (*model)->named_buffers()) buffers.insert(item.key());
  EXPECT_EQ(buffers.count("bn1.running_mean"), 1u);
  EXPECT_EQ(buffers.count("bn2.num_batches_tracked"), 1u);
  // Training mode updates the running statistics.
  torch::Tensor before = (*model)->named_buffers()["bn1.running_mean"].clone();
  (*model)->train();
  (*model)->forward(torch::randn({4, 1, 28, 28}));
  EXPECT_FALSE((*model)->named_buffers()["bn1.running_mean"].equal(before));
}

TEST(ModelsTest, MlpDropoutDependsOnTheGlobalGenerator) {
  auto model = BuildModel({"mlp", ImageConfig(1, 8, 8, 3)});
  ASSERT_TRUE(model.ok());
  (*model)->train();
  const torch::Tensor input = torch::ones({2, 1, 8, 8});
  torch::manual_seed(4);
  const torch::Tensor a = (*model)->forward(input);
  torch::manual_seed(4);
  EXPECT_TRUE((*model)->forward(input).equal(a));
  EXPECT_FALSE((*model)->forward(input).equal(a));
}

TEST(ModelsTest, AutoencoderReconstructsItsInputShape) {
  auto model = BuildModel({"autoencoder", {{"input_height", 12}, {"input_width", 10}, {"code", 4}}});
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->forward(torch::randn({3, 1, 12, 10})).sizes(),
            torch::IntArrayRef({3, 1, 12, 10}));
}

TEST(ModelsTest, BadConfigurationsNameModelAndOption) {
  auto one_class = BuildModel({"lenet", ImageConfig(1, 28, 28, 1)});
  ASSERT_FALSE(one_class.ok());
  EXPECT_EQ(one_class.status().message(),
            "'classes': option 'classes' of model 'lenet' must be >= 2, got 1");

  auto typo = BuildModel({"mlp", {{"dropuot", 0.5}}});
  ASSERT_FALSE(typo.ok());
  EXPECT_NE(typo.status().message().find("model 'mlp' has no option 'dropuot'; its options are "),
            std::string::npos)
      << typo.status();

  auto too_small = BuildModel({"lenet", ImageConfig(1, 8, 8, 10)});
  ASSERT_FALSE(too_small.ok());
  EXPECT_EQ(too_small.status().message(),
            "'input_height': option 'input_height' of model 'lenet' must be >= 16, got 8");

  auto unknown = BuildModel({"resnet", {}});
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().message(),
            "unknown model 'resnet'; registered models: autoencoder, lenet, mlp, small_cnn");
}

// Each built-in model declares its options once; the framework fills in the
// defaults it declares.
TEST(ModelsTest, BuiltInModelsDeclareTheirOptions) {
  for (const std::string& name : framework::ModelRegistry().Names()) {
    absl::StatusOr<framework::ModelEntry> entry = framework::ModelRegistry().Find(name);
    ASSERT_TRUE(entry.ok());
    EXPECT_TRUE(entry->declares_options()) << name;
    EXPECT_NE(framework::FindOption(entry->options, framework::kInputChannelsKey), nullptr) << name;
  }
  absl::StatusOr<framework::OptionValues> mlp = framework::ResolveModelOptions(
      "mlp", {{"hidden", {8}}}, [](const std::string& key) { return key; });
  ASSERT_TRUE(mlp.ok()) << mlp.status();
  EXPECT_EQ(mlp->IntList("hidden"), std::vector<int64_t>({8}));
  EXPECT_DOUBLE_EQ(mlp->Double("dropout"), 0.2);
  EXPECT_EQ(mlp->Int(framework::kClassesKey), 10);
}

TEST(ModelsTest, SpecRoundTripsThroughJson) {
  ModelSpec spec{"lenet", ImageConfig(1, 28, 28, 10)};
  auto parsed = ModelSpec::FromJson(nlohmann::json::parse(spec.ToJson().dump()));
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->name, "lenet");
  EXPECT_EQ(parsed->config, spec.config);
  EXPECT_FALSE(ModelSpec::FromJson({{"config", {}}}).ok());
}

}  // namespace
}  // namespace plugins
