// ResNet-18 and ResNet-34 (He et al. 2015) exactly as torchvision builds them
// (torchvision/models/resnet.py: BasicBlock, batch norm, the same module
// names), so the state dict keys are torchvision's: `torchvision.models.
// resnet18()` loads weights exported from here (.pt or safetensors) and
// these models load torchvision's. Options: the ImageNet stem (7x7 stride-2
// convolution and a 3x3 max-pool) or, for small images such as CIFAR's and
// Fashion-MNIST's, a 3x3 stride-1 convolution without the pool (the keys
// stay the same; conv1's kernel is 3x3); any input channel count; and the
// base width (torchvision's is 64; a narrower one trains faster on a CPU but
// no longer fits torchvision's shapes).
#include <torch/nn/functional/pooling.h>
#include <torch/nn/init.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/pooling.h>

#include <memory>
#include <vector>

#include "framework/core/declared_options.h"
#include "framework/model/model.h"

namespace plugins {
namespace {

namespace F = torch::nn::functional;

torch::nn::Conv2d Conv(int64_t in, int64_t out, int64_t kernel, int64_t stride) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, kernel)
                               .stride(stride)
                               .padding(kernel / 2)
                               .bias(false));
}

// torchvision's BasicBlock: two 3x3 convolutions with batch norm, and a 1x1
// convolution with batch norm as "downsample" when the shape changes.
class BasicBlockImpl : public torch::nn::Module {
 public:
  BasicBlockImpl(int64_t in, int64_t planes, int64_t stride) {
    conv1_ = register_module("conv1", Conv(in, planes, 3, stride));
    bn1_ = register_module("bn1", torch::nn::BatchNorm2d(planes));
    conv2_ = register_module("conv2", Conv(planes, planes, 3, 1));
    bn2_ = register_module("bn2", torch::nn::BatchNorm2d(planes));
    if (stride != 1 || in != planes) {
      downsample_ = register_module(
          "downsample",
          torch::nn::Sequential(Conv(in, planes, 1, stride), torch::nn::BatchNorm2d(planes)));
    }
  }

  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor out = torch::relu(bn1_->forward(conv1_->forward(x)));
    out = bn2_->forward(conv2_->forward(out));
    out = out + (downsample_ ? downsample_->forward(x) : x);
    return torch::relu(out);
  }

 private:
  torch::nn::Conv2d conv1_{nullptr};
  torch::nn::BatchNorm2d bn1_{nullptr};
  torch::nn::Conv2d conv2_{nullptr};
  torch::nn::BatchNorm2d bn2_{nullptr};
  torch::nn::Sequential downsample_{nullptr};
};
TORCH_MODULE(BasicBlock);

class ResNet : public framework::Model {
 public:
  ResNet(const std::vector<int64_t>& blocks, int64_t channels, int64_t classes, bool small_stem,
         int64_t width) {
    small_stem_ = small_stem;
    conv1_ = register_module("conv1", small_stem ? Conv(channels, width, 3, 1)
                                                 : Conv(channels, width, 7, 2));
    bn1_ = register_module("bn1", torch::nn::BatchNorm2d(width));
    int64_t in = width;
    for (size_t stage = 0; stage < blocks.size(); ++stage) {
      const int64_t planes = width << stage;
      torch::nn::Sequential layer;
      for (int64_t b = 0; b < blocks[stage]; ++b) {
        layer->push_back(BasicBlock(in, planes, b == 0 && stage > 0 ? 2 : 1));
        in = planes;
      }
      layers_.push_back(register_module("layer" + std::to_string(stage + 1), layer));
    }
    fc_ = register_module("fc", torch::nn::Linear(in, classes));
    // torchvision's initialisation: He-normal (fan out) convolutions, batch
    // norm at 1 and 0, the classifier as nn.Linear's default.
    for (auto& module : modules(/*include_self=*/false)) {
      if (auto* conv = module->as<torch::nn::Conv2d>()) {
        torch::nn::init::kaiming_normal_(conv->weight, 0.0, torch::kFanOut, torch::kReLU);
      } else if (auto* norm = module->as<torch::nn::BatchNorm2d>()) {
        torch::nn::init::ones_(norm->weight);
        torch::nn::init::zeros_(norm->bias);
      }
    }
  }

  torch::Tensor forward(torch::Tensor x) override {
    x = torch::relu(bn1_->forward(conv1_->forward(x)));
    if (!small_stem_) x = F::max_pool2d(x, F::MaxPool2dFuncOptions(3).stride(2).padding(1));
    for (torch::nn::Sequential& layer : layers_) x = layer->forward(x);
    x = F::adaptive_avg_pool2d(x, F::AdaptiveAvgPool2dFuncOptions(1));
    return fc_->forward(x.flatten(1));
  }

 private:
  bool small_stem_ = false;
  torch::nn::Conv2d conv1_{nullptr};
  torch::nn::BatchNorm2d bn1_{nullptr};
  std::vector<torch::nn::Sequential> layers_;
  torch::nn::Linear fc_{nullptr};
};

framework::DeclaredOptions ResNetOptions() {
  return framework::WithImageInput(
      8, {framework::ClassesOption(10, 2),
          framework::ChoiceOption("stem", "imagenet", {"imagenet", "small"},
                                  "imagenet: 7x7 stride-2 convolution and max-pool, as "
                                  "torchvision; small: 3x3 stride-1 convolution, no pool (CIFAR, "
                                  "Fashion-MNIST)."),
          framework::IntOption("width", 64, "Channels of the first stage (torchvision: 64).")
              .AtLeast(1)});
}

std::function<absl::StatusOr<std::shared_ptr<framework::Model>>(const framework::OptionValues&)>
BuildResNet(std::vector<int64_t> blocks) {
  return [blocks](const framework::OptionValues& options)
             -> absl::StatusOr<std::shared_ptr<framework::Model>> {
    const framework::ImageInput input = framework::ImageInputOf(options);
    return std::shared_ptr<framework::Model>(std::make_shared<ResNet>(
        blocks, input.channels, options.Int(framework::kClassesKey),
        options.Choice("stem") == "small", options.Int("width")));
  };
}

}  // namespace

REGISTER_MODEL("resnet18", BuildResNet({2, 2, 2, 2}), ResNetOptions());
REGISTER_MODEL("resnet34", BuildResNet({3, 4, 6, 3}), ResNetOptions());

}  // namespace plugins
