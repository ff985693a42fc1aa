// bf16 autocast on the CPU: the forward passes really compute in bfloat16,
// a weight changed in place between two forward passes is seen by the second
// (the cast cache is cleared when the scope ends), the autocast state is
// restored after it, and training in bf16 ends within a stated tolerance of
// fp32.
#include "framework/train/mixed_precision.h"

#include <cmath>
#include <cstdio>

#include <ATen/autocast_mode.h>
#include <torch/nn/modules/linear.h>
#include <torch/types.h>

#include "framework/optim/optimizer.h"
#include "framework/testing/test_task.h"
#include "framework/train/training_loop.h"
#include "gtest/gtest.h"

namespace framework {
namespace {

TEST(MixedPrecisionTest, ParsesAndRefusesFp16OnTheCpu) {
  EXPECT_EQ(*ParsePrecision("bf16"), Precision::kBf16);
  EXPECT_EQ(*ParsePrecision("fp32"), Precision::kFp32);
  EXPECT_FALSE(ParsePrecision("half").ok());
  EXPECT_FALSE(CheckPrecisionOnDevice(Precision::kFp16, torch::kCPU).ok());
  EXPECT_TRUE(CheckPrecisionOnDevice(Precision::kBf16, torch::kCPU).ok());
  EXPECT_TRUE(CheckPrecisionOnDevice(Precision::kFp16, torch::Device("cuda:0")).ok());
}

TEST(MixedPrecisionTest, Bf16ScopeComputesInBf16AndSeesChangedWeights) {
  torch::manual_seed(5);
  torch::nn::Linear linear(8, 4);
  const torch::Tensor x = torch::randn({3, 8});
  torch::Tensor first;
  {
    AutocastScope scope(Precision::kBf16, torch::kCPU);
    first = linear->forward(x);
    EXPECT_EQ(first.scalar_type(), torch::kBFloat16);
  }
  EXPECT_FALSE(at::autocast::is_cpu_enabled());  // restored
  {
    torch::NoGradGuard no_grad;
    linear->weight.add_(1.0);  // as an optimizer step does, in place
  }
  torch::Tensor second;
  {
    AutocastScope scope(Precision::kBf16, torch::kCPU);
    second = linear->forward(x);
  }

  // Python's torch.autocast (the same LibTorch) reuses the cast of a weight
  // changed in place inside one autocast region; the scope's end clears that
  // cache so each forward pass casts the weights it is given.
  EXPECT_FALSE(second.equal(first)) << "the second forward pass used the old weights";
}

TEST(MixedPrecisionTest, Bf16TrainingEndsNearFp32) {
  const DataSplits data = testing_task::TinyData();
  std::map<Precision, double> loss;
  std::map<Precision, at::Tensor> weights;
  for (Precision precision : {Precision::kFp32, Precision::kBf16}) {
    testing_task::TinyRun run(data, /*epochs=*/3);
    LoopOptions options = run.loop->options();
    options.precision = precision;
    TrainingLoop loop(options, *run.model, run.trainer, *run.optimizer, run.scheduler.get(),
                      data.train, data.valid);
    ASSERT_TRUE(loop.Run().ok());
    loss[precision] = loop.history().back().values.at("train_loss");
    weights[precision] = run.model->parameters()[0].detach().clone();
  }
  const double relative =
      std::abs(loss[Precision::kBf16] - loss[Precision::kFp32]) / loss[Precision::kFp32];
  std::printf("the last epoch's train_loss after 39 steps: fp32 %.6f, bf16 %.6f (relative difference %.4f)\n",
              loss[Precision::kFp32], loss[Precision::kBf16], relative);
  // bfloat16 keeps 8 bits of mantissa: 3 epochs end within 5% of fp32.
  EXPECT_LT(relative, 0.05);
  EXPECT_FALSE(weights[Precision::kBf16].equal(weights[Precision::kFp32]))
      << "bf16 trained exactly as fp32: autocast did nothing";
}

}  // namespace
}  // namespace framework
