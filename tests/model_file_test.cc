// Whole-model files: saved with the model's registry name and
// configuration, rebuilt without the caller naming the class.
#include "framework/weights/model_file.h"

#include <torch/types.h>

#include "framework/formats/safetensors.h"
#include "framework/model/state_dict.h"
#include "gtest/gtest.h"

namespace {

using namespace framework;

TEST(ModelFileTest, RebuildsTheModelThroughTheRegistry) {
  ModelSpec spec{"small_cnn", {{"classes", 7}, {"filters", 4}, {"input_height", 16}, {"input_width", 16}}};
  auto model = BuildModel(spec);
  ASSERT_TRUE(model.ok());
  (*model)->train();
  (*model)->forward(torch::randn({8, 1, 16, 16}));  // moves the batch-norm statistics
  (*model)->eval();
  const std::string path = ::testing::TempDir() + "/cnn.model";
  ASSERT_TRUE(SaveModelFile(path, spec, **model).ok());

  auto loaded = LoadModelFile(path, DeviceMap(torch::kCPU));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->spec.name, "small_cnn");
  EXPECT_EQ(loaded->spec.config, spec.config);
  loaded->model->eval();
  const torch::Tensor input = torch::randn({3, 1, 16, 16});
  EXPECT_TRUE(loaded->model->forward(input).equal((*model)->forward(input)));
  // A plain safetensors reader sees the state dict.
  auto header = ReadSafetensorsHeader(path);
  ASSERT_TRUE(header.ok());
  EXPECT_EQ(header->metadata.at("plugin"), "plugins/models/small_cnn.cc");
}

TEST(ModelFileTest, AModelWhosePluginIsNotLinkedNamesThePlugin) {
  const std::string path = ::testing::TempDir() + "/resnet.model";
  ASSERT_TRUE(WriteSafetensors(path, {{"w", torch::zeros({1})}},
                               {{"format", kModelFileFormat},
                                {"model_spec", R"({"name":"resnet","config":{}})"},
                                {"plugin", "plugins/models/resnet.cc"}},
                               false)
                  .ok());
  auto loaded = LoadModelFile(path, DeviceMap(torch::kCPU));
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.status().message().find(
                "holds model 'resnet' (registered by plugins/models/resnet.cc), whose plugin is not "
                "linked into this binary"),
            std::string::npos)
      << loaded.status();
}

TEST(ModelFileTest, PlainWeightsAreNotAWholeModelFile) {
  const std::string path = ::testing::TempDir() + "/weights.safetensors";
  ASSERT_TRUE(WriteSafetensors(path, {{"w", torch::zeros({1})}}, {}, false).ok());
  auto loaded = LoadModelFile(path, DeviceMap(torch::kCPU));
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.status().message().find("weights only, not a whole-model file"), std::string::npos);
}

TEST(ModelFileTest, StrictLoadingListsEveryProblemAndNonStrictLoadsWhatMatches) {
  auto model = BuildModel({"lenet", nlohmann::json::object()});
  ASSERT_TRUE(model.ok());
  std::vector<NamedTensor> weights = StateDict(**model);
  const torch::Tensor original_fc1 = weights[4].tensor.clone();
  std::vector<NamedTensor> changed;
  for (const NamedTensor& named : weights) {
    if (named.name == "conv1.weight") continue;                                   // missing
    if (named.name == "fc3.weight") { changed.push_back({named.name, torch::zeros({5, 84})}); continue; }
    changed.push_back({named.name, torch::ones_like(named.tensor)});
  }
  changed.push_back({"fc4.weight", torch::zeros({1})});                          // unexpected
  absl::Status strict = LoadStateDict(**model, changed, true, "file.pt");
  ASSERT_FALSE(strict.ok());
  EXPECT_EQ(strict.message(),
            "file.pt does not fit the model; missing keys: conv1.weight; unexpected keys: "
            "fc4.weight; mis-shaped keys: fc3.weight (file [5, 84], model [10, 84])");
  // Strict failure changes nothing.
  EXPECT_FALSE((*model)->named_parameters()["fc1.weight"].equal(torch::ones({120, 256})));

  ASSERT_TRUE(LoadStateDict(**model, changed, false, "file.pt").ok());
  EXPECT_TRUE((*model)->named_parameters()["fc1.weight"].equal(torch::ones({120, 256})));
  EXPECT_FALSE((*model)->named_parameters()["conv1.weight"].equal(torch::ones({6, 1, 5, 5})));
  EXPECT_FALSE((*model)->named_parameters()["fc3.weight"].equal(torch::ones({10, 84})));
}

}  // namespace
