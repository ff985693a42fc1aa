// LeNet weights travel between Python PyTorch (python3-torch) and the
// framework in both directions with the same logits and test accuracy.
#include <cstdio>
#include <fstream>

#include <ATen/Parallel.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/types.h>

#include "framework/data/builtin_datasets.h"
#include "framework/data/dataset.h"
#include "framework/core/device_map.h"
#include "framework/model/model.h"
#include "framework/optim/optimizer.h"
#include "framework/formats/pytorch_file.h"
#include "framework/core/blas_report.h"
#include "framework/core/random_state.h"
#include "framework/model/state_dict.h"
#include "framework/train/trainer.h"
#include "framework/train/training_loop.h"
#include "framework/weights/weights_file.h"
#include "framework/testing/test_command.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace {

using namespace framework;

constexpr int kThreads = 2;

std::string RunPython(const std::string& arguments) {
  return RunCommandForTest("/usr/bin/python3 tests/pytorch_lenet.py " + arguments);
}

double PythonAccuracy(const std::string& output) {
  return nlohmann::json::parse(output.substr(output.find('{'))).at("accuracy").get<double>();
}

torch::Tensor ReadLogits(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<float> values(1000 * 10);
  in.read(reinterpret_cast<char*>(values.data()), values.size() * sizeof(float));
  EXPECT_TRUE(in.good()) << path;
  return torch::from_blob(values.data(), {1000, 10}, torch::kFloat32).clone();
}

class PyTorchInteropTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // As pytorch_lenet.py: OpenBLAS splits a product among threads in ways
    // that change its rounding (with the Haswell kernels, 1 thread against
    // 2 moved logits by 1.9e-6), so both sides use the same count and the
    // logits must be equal, not close.
    at::set_num_threads(kThreads);
    LogBlasAtStartup();
    auto data = LoadFashionMnist(kFashionMnistDefaultDir);
    ASSERT_TRUE(data.ok()) << data.status();
    data_ = new DataSplits(*std::move(data));
  }

  static std::shared_ptr<Model> NewLeNet() {
    auto model = BuildModel({"lenet", nlohmann::json::object()});
    EXPECT_TRUE(model.ok()) << model.status();
    return *model;
  }

  // Logits of the first 1000 test images and accuracy on all 10000.
  static std::pair<torch::Tensor, double> Evaluate(Model& model) {
    torch::NoGradGuard no_grad;
    model.eval();
    std::vector<torch::Tensor> logits;
    for (int64_t start = 0; start < data_->valid.size(); start += 1000) {
      logits.push_back(model.forward(data_->valid.inputs.narrow(0, start, 1000)));
    }
    const torch::Tensor all = torch::cat(logits);
    const double accuracy = all.argmax(1).eq(data_->valid.targets).to(torch::kDouble).mean().item<double>();
    return {all.narrow(0, 0, 1000), accuracy};
  }

  static DataSplits* data_;
};

DataSplits* PyTorchInteropTest::data_ = nullptr;

TEST_F(PyTorchInteropTest, PythonTrainedStateDictGivesTheSameLogitsAndAccuracy) {
  const std::string dir = ::testing::TempDir();
  const double python_accuracy = PythonAccuracy(RunPython("train " + dir));
  EXPECT_GT(python_accuracy, 0.8);  // one epoch of the tutorial recipe

  auto weights = ReadWeights(dir + "/lenet.pt", DeviceMap(torch::kCPU));
  ASSERT_TRUE(weights.ok()) << weights.status();
  auto model = NewLeNet();
  ASSERT_TRUE(LoadStateDict(*model, *weights, /*strict=*/true, "lenet.pt").ok());
  auto [logits, accuracy] = Evaluate(*model);
  const double max_difference = (logits - ReadLogits(dir + "/logits.bin")).abs().max().item<double>();
  std::printf("Python-trained weights: logits max |difference| %g\n", max_difference);
  EXPECT_EQ(max_difference, 0);
  EXPECT_EQ(accuracy, python_accuracy);

  // The tutorial's checkpoint dict: the model part is taken by key.
  auto from_checkpoint = ReadWeights(dir + "/lenet_checkpoint.pt", DeviceMap(torch::kCPU));
  ASSERT_TRUE(from_checkpoint.ok()) << from_checkpoint.status();
  auto model2 = NewLeNet();
  ASSERT_TRUE(LoadStateDict(*model2, *from_checkpoint, true, "lenet_checkpoint.pt").ok());
  EXPECT_TRUE(Evaluate(*model2).first.equal(logits));
}

TEST_F(PyTorchInteropTest, FrameworkTrainedWeightsLoadInPythonWithTheSameResults) {
  // One epoch on 10,000 samples through the framework's loop.
  SeedGlobalGenerator(3);
  auto model = NewLeNet();
  auto optimizer = BuildOptimizer("sgd", {{"lr", 0.01}, {"momentum", 0.9}}, model->parameters());
  auto trainer = BuildTrainer("classification");
  LoopOptions options;
  options.epochs = 1;
  options.log_interval = 0;
  const Dataset train = data_->train.Head(10000);
  TrainingLoop loop(options, *model, **trainer, **optimizer, nullptr, train, data_->valid);
  ASSERT_TRUE(loop.Run().ok());
  auto [logits, accuracy] = Evaluate(*model);
  EXPECT_GT(accuracy, 0.6);  // a sanity bound: it learned something

  const std::string path = ::testing::TempDir() + "/from_cpp.pt";
  ASSERT_TRUE(WritePyTorchStateDict(path, StateDict(*model)).ok());
  const std::string logits_path = ::testing::TempDir() + "/logits_from_cpp.bin";
  const double python_accuracy = PythonAccuracy(RunPython("evaluate " + path + " " + logits_path));
  EXPECT_EQ(python_accuracy, accuracy);
  const double max_difference = (ReadLogits(logits_path) - logits).abs().max().item<double>();
  std::printf("C++-trained weights: logits max |difference| %g\n", max_difference);
  EXPECT_EQ(max_difference, 0);
}

}  // namespace
