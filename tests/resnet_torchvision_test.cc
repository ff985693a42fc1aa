// The resnet18 and resnet34 plugins against torchvision's own models
// (Debian's python3-torchvision), both ways and in both formats: weights
// exported from here (.pt and safetensors) load strictly into
// torchvision.models.resnet18/34 and give the same logits within 1e-5, and
// torchvision's weights (random batch-norm statistics included) load
// strictly here and give torchvision's logits; for the ImageNet stem and for
// the small-image stem (torchvision with the usual CIFAR change).
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include <torch/types.h>

#include "framework/core/device_map.h"
#include "framework/core/random_state.h"
#include "framework/formats/pytorch_file.h"
#include "framework/formats/safetensors.h"
#include "framework/model/model.h"
#include "framework/model/state_dict.h"
#include "framework/testing/test_command.h"
#include "framework/weights/weights_file.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace framework {
namespace {

std::shared_ptr<Model> Build(const std::string& arch, const std::string& stem) {
  absl::StatusOr<std::shared_ptr<Model>> model = BuildModel(
      {arch,
       {{kInputChannelsKey, 3}, {kInputHeightKey, 32}, {kInputWidthKey, 32}, {kClassesKey, 10},
        {"stem", stem}}});
  EXPECT_TRUE(model.ok()) << model.status();
  return *model;
}

std::map<std::string, at::Tensor> ByName(const std::vector<NamedTensor>& tensors) {
  std::map<std::string, at::Tensor> named;
  for (const NamedTensor& tensor : tensors) named[tensor.name] = tensor.tensor;
  return named;
}

void ExpectTorchvisionAgrees(const std::string& arch, const std::string& stem) {
  SCOPED_TRACE(arch + ", stem " + stem);
  const uint64_t seed = 20261201;
  std::printf("%s (%s stem): weights and inputs drawn with seed %llu\n", arch.c_str(),
              stem.c_str(), static_cast<unsigned long long>(seed));
  const std::string dir = ::testing::TempDir() + "/" + arch + "_" + stem;
  const std::string script = "/usr/bin/python3 tests/torchvision_resnet.py ";

  // Ours -> torchvision.
  SeedGlobalGenerator(seed);
  std::shared_ptr<Model> ours = Build(arch, stem);
  {
    torch::NoGradGuard no_grad;
    for (auto& buffer : ours->named_buffers()) {
      if (buffer.key().find("running_mean") != std::string::npos) buffer.value().normal_(0, 0.1);
      if (buffer.key().find("running_var") != std::string::npos) buffer.value().uniform_(0.5, 2);
    }
  }
  ours->eval();
  const torch::Tensor x = torch::randn({2, 3, 32, 32});
  torch::Tensor logits;
  {
    torch::NoGradGuard no_grad;
    logits = ours->forward(x);
  }
  ASSERT_TRUE(WritePyTorchStateDict(dir + ".pt", StateDict(*ours)).ok());
  ASSERT_TRUE(WriteSafetensors(dir + ".safetensors", StateDict(*ours), {}, false).ok());
  ASSERT_TRUE(WritePyTorchStateDict(dir + "_io.pt", {{"x", x}, {"logits", logits}}).ok());
  for (const std::string& file : {dir + ".pt", dir + ".safetensors"}) {
    const nlohmann::json result = nlohmann::json::parse(RunCommandForTest(
        script + "load " + arch + " " + stem + " " + file + " " + dir + "_io.pt"));
    std::printf("  ours -> torchvision (%s): max |logits difference| %g\n", file.c_str(),
                result["max_abs_diff"].get<double>());
    EXPECT_LE(result["max_abs_diff"].get<double>(), 1e-5) << file;
  }

  // torchvision -> ours.
  const std::string theirs = dir + "_torchvision";
  RunCommandForTest(script + "save " + arch + " " + stem + " " + std::to_string(seed) + " " +
                    theirs);
  absl::StatusOr<std::vector<NamedTensor>> io =
      ReadWeights(theirs + "_io.pt", DeviceMap(torch::kCPU));
  ASSERT_TRUE(io.ok()) << io.status();
  for (const std::string& file : {theirs + ".pt", theirs + ".safetensors"}) {
    absl::StatusOr<std::vector<NamedTensor>> weights = ReadWeights(file, DeviceMap(torch::kCPU));
    ASSERT_TRUE(weights.ok()) << weights.status();
    std::shared_ptr<Model> loaded = Build(arch, stem);
    ASSERT_TRUE(LoadStateDict(*loaded, *weights, /*strict=*/true, file).ok());
    loaded->eval();
    torch::NoGradGuard no_grad;
    const torch::Tensor ours_logits = loaded->forward(ByName(*io).at("x"));
    const double difference = (ours_logits - ByName(*io).at("logits")).abs().max().item<double>();
    std::printf("  torchvision -> ours (%s): max |logits difference| %g\n", file.c_str(),
                difference);
    EXPECT_LE(difference, 1e-5) << file;
  }
}

TEST(ResNetTorchvisionTest, ResNet18ImageNetStem) { ExpectTorchvisionAgrees("resnet18", "imagenet"); }
TEST(ResNetTorchvisionTest, ResNet18SmallStem) { ExpectTorchvisionAgrees("resnet18", "small"); }
TEST(ResNetTorchvisionTest, ResNet34ImageNetStem) { ExpectTorchvisionAgrees("resnet34", "imagenet"); }

TEST(ResNetTorchvisionTest, KeysAreTorchvisions) {
  std::shared_ptr<Model> model = Build("resnet18", "imagenet");
  const std::map<std::string, at::Tensor> keys = ByName(StateDict(*model));
  for (const char* key : {"conv1.weight", "bn1.num_batches_tracked", "layer1.1.conv2.weight",
                          "layer2.0.downsample.0.weight", "layer2.0.downsample.1.running_var",
                          "layer4.1.bn2.bias", "fc.weight"}) {
    EXPECT_EQ(keys.count(key), 1u) << key;
  }
  EXPECT_EQ(keys.count("layer1.0.downsample.0.weight"), 0u);
  EXPECT_EQ(keys.at("conv1.weight").sizes(), (std::vector<int64_t>{64, 3, 7, 7}));
  EXPECT_EQ(keys.size(), 122u);  // torchvision's resnet18 state dict
}

}  // namespace
}  // namespace framework
