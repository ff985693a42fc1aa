// Both trainer plugins, through the framework's loop on synthetic data.
#include <torch/types.h>

#include "framework/optim/optimizer.h"
#include "framework/core/random_state.h"
#include "framework/train/trainer.h"
#include "framework/data/builtin_datasets.h"
#include "framework/train/training_loop.h"
#include "gtest/gtest.h"

namespace plugins {
namespace {

using namespace framework;

TEST(TrainersTest, EveryTrainerIsRegistered) {
  EXPECT_EQ(TrainerRegistry().Names(),
            (std::vector<std::string>{"autoencoder", "classification"}));
  auto unknown = BuildTrainer("regression");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().message(),
            "unknown trainer 'regression'; registered trainers: autoencoder, classification");
}

// A model whose logits are its input, to check loss and accuracy by hand.
class Identity : public Model {
 public:
  torch::Tensor forward(torch::Tensor x) override { return x; }
};

TEST(TrainersTest, ClassificationLossAndAccuracy) {
  auto trainer = BuildTrainer("classification");
  ASSERT_TRUE(trainer.ok());
  Identity model;
  Batch batch{torch::tensor({{2.0f, 0.0f}, {0.0f, 1.0f}, {3.0f, 0.0f}}),
              torch::tensor({0, 1, 1}, torch::kInt64)};
  StepResult result = (*trainer)->EvalStep(model, batch);
  const double expected_loss =
      (std::log(1 + std::exp(-2.0)) + std::log(1 + std::exp(-1.0)) + std::log(1 + std::exp(3.0))) / 3;
  EXPECT_NEAR(result.loss.item<double>(), expected_loss, 1e-6);
  EXPECT_EQ(result.metric_sums, std::vector<double>{2.0});
  Dataset one_class;
  one_class.classes = 1;
  EXPECT_FALSE((*trainer)->CheckData(one_class).ok());
}

// Trains `model_name` with `trainer_name` for a few epochs.
std::vector<EpochRecord> Train(const std::string& trainer_name, const std::string& model_name) {
  SyntheticOptions data_options;
  data_options.train_size = 256;
  data_options.valid_size = 64;
  data_options.height = 12;
  data_options.width = 12;
  data_options.classes = 3;
  data_options.noise = 0.3;
  DataSplits data = MakeSyntheticDataset(data_options);
  data.train.inputs = data.train.inputs.clamp(-1, 1);
  data.valid.inputs = data.valid.inputs.clamp(-1, 1);
  SeedGlobalGenerator(1);
  auto trainer = BuildTrainer(trainer_name);
  auto model = BuildModel({model_name,
                           {{kInputChannelsKey, 1}, {kInputHeightKey, 12}, {kInputWidthKey, 12},
                            {kClassesKey, trainer_name == "autoencoder" ? 0 : 3}}});
  EXPECT_TRUE(model.ok()) << model.status();
  auto optimizer = BuildOptimizer("adam", {{"lr", 0.003}}, (*model)->parameters());
  LoopOptions options;
  options.epochs = 4;
  options.batch_size = 32;
  options.log_interval = 0;
  options.monitor = "valid_loss";
  TrainingLoop loop(options, **model, **trainer, **optimizer, nullptr, data.train, data.valid);
  absl::Status status = loop.Run();
  EXPECT_TRUE(status.ok()) << status;
  return loop.history();
}

TEST(TrainersTest, ClassificationLearnsSyntheticClasses) {
  auto history = Train("classification", "mlp");
  ASSERT_EQ(history.size(), 4u);
  EXPECT_GT(history.back().values.at("valid_acc"), 0.9);
  EXPECT_LT(history.back().values.at("train_loss"), history.front().values.at("train_loss"));
}

TEST(TrainersTest, AutoencoderReducesReconstructionError) {
  auto history = Train("autoencoder", "autoencoder");
  ASSERT_EQ(history.size(), 4u);
  EXPECT_EQ(history.back().values.count("valid_acc"), 0u);
  EXPECT_LT(history.back().values.at("valid_loss"), 0.8 * history.front().values.at("valid_loss"));
  EXPECT_GT(history.back().values.at("valid_psnr"), history.front().values.at("valid_psnr"));
}

TEST(TrainersTest, AutoencoderRejectsAClassifier) {
  auto trainer = BuildTrainer("autoencoder");
  Identity model;
  Batch batch{torch::zeros({2, 1, 4, 4}), torch::zeros({2}, torch::kInt64)};
  EXPECT_NO_THROW((*trainer)->EvalStep(model, batch));
  class Flat : public Model {
   public:
    torch::Tensor forward(torch::Tensor x) override { return x.flatten(1); }
  } flat;
  EXPECT_THROW((*trainer)->EvalStep(flat, batch), c10::Error);
}

}  // namespace
}  // namespace plugins
