// Training throughput of the framework's TrainingLoop against a bare LibTorch
// loop of the same model, batch size and thread count; and of the loop with
// each technique on (steps.jsonl and TensorBoard events every step, clipping
// the gradients by norm, 4 accumulated micro-batches per batch, the weights'
// moving average, bf16 autocast) against the plain loop, measured side by
// side in one process so machine noise hits all alike: rounds run every
// variant in a rotated order, and the ratios are medians of each round's own
// ratio.
//
//   bazel run -c opt //benchmarks:training_throughput -- --threads=2
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cmath>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <cstdio>
#include <vector>

#include <ATen/Parallel.h>
#include <torch/nn/functional/loss.h>
#include <torch/optim/sgd.h>

#include "framework/core/blas_report.h"
#include "framework/data/builtin_datasets.h"
#include "framework/data/dataset.h"
#include "framework/model/model.h"
#include "framework/optim/optimizer.h"
#include "framework/core/random_state.h"
#include "framework/metrics/training_events.h"
#include "framework/train/callback.h"
#include "framework/train/mixed_precision.h"
#include "framework/train/trainer.h"
#include "framework/train/training_loop.h"
#include "gflags/gflags.h"
#include "nlohmann/json.hpp"
#include "glog/logging.h"

DEFINE_string(model, "lenet", "Registered model: lenet, or mlp (with --model_options such as "
              "{\"hidden\":[8],\"dropout\":0} and --batch_size=1, a step with almost no compute: "
              "the difference of the loops is then the framework's own cost per step).");
DEFINE_string(model_options, "{}", "The model's options, a JSON object.");
DEFINE_int64(batch_size, 64, "Batch size.");
DEFINE_int32(threads, 2, "Intra-op threads for both loops.");
DEFINE_int64(samples, 20000, "Training samples per round (from Fashion-MNIST).");
DEFINE_int32(rounds, 3, "Alternating rounds of each loop.");

namespace {

using Clock = std::chrono::steady_clock;

std::shared_ptr<framework::Model> MakeModel(const framework::Dataset& data) {
  framework::SeedGlobalGenerator(1);
  nlohmann::json options = nlohmann::json::parse(FLAGS_model_options);
  options[framework::kInputChannelsKey] = data.inputs.size(1);
  options[framework::kInputHeightKey] = data.inputs.size(2);
  options[framework::kInputWidthKey] = data.inputs.size(3);
  options[framework::kClassesKey] = data.classes;
  auto model = framework::BuildModel({FLAGS_model, options});
  CHECK(model.ok()) << model.status();
  return *model;
}

// The loop a LibTorch user writes by hand: shuffle, slice, step.
double BareLoopSeconds(const framework::Dataset& data) {
  auto model = MakeModel(data);
  torch::optim::SGD optimizer(model->parameters(),
                              torch::optim::SGDOptions(0.01).momentum(0.9));
  model->train();
  const auto start = Clock::now();
  torch::Tensor order = torch::randperm(data.size(), torch::kInt64);
  double loss_sum = 0;
  int64_t correct = 0;
  for (int64_t begin = 0; begin < data.size(); begin += FLAGS_batch_size) {
    const int64_t length = std::min(FLAGS_batch_size, data.size() - begin);
    torch::Tensor indices = order.narrow(0, begin, length);
    torch::Tensor inputs = data.inputs.index_select(0, indices);
    torch::Tensor targets = data.targets.index_select(0, indices);
    optimizer.zero_grad();
    torch::Tensor logits = model->forward(inputs);
    torch::Tensor loss = torch::nn::functional::cross_entropy(logits, targets);
    loss.backward();
    optimizer.step();
    loss_sum += loss.item<double>() * length;
    correct += logits.argmax(1).eq(targets).sum().item<int64_t>();
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  CHECK_GT(loss_sum + correct, 0);
  return seconds;
}

// What the framework's loop runs with; the default is the plain loop.
struct Techniques {
  std::string events_dir;  // non-empty: per-step curves written there
  framework::GradientClipping clipping;
  int64_t accumulate_batches = 1;
  framework::Precision precision = framework::Precision::kFp32;
  double ema_decay = 0;  // > 0: the weights' moving average
  int64_t batch_size = 0;  // 0: --batch_size
};

double FrameworkLoopSeconds(const framework::Dataset& data,
                            const framework::Dataset& no_validation,
                            const Techniques& techniques = {}) {
  auto model = MakeModel(data);
  auto optimizer =
      framework::BuildOptimizer("sgd", {{"lr", 0.01}, {"momentum", 0.9}}, model->parameters());
  CHECK(optimizer.ok());
  auto trainer = framework::BuildTrainer("classification");
  CHECK(trainer.ok());
  framework::LoopOptions options;
  options.epochs = 1;
  options.batch_size = techniques.batch_size > 0 ? techniques.batch_size : FLAGS_batch_size;
  options.log_interval = 100;
  options.clipping = techniques.clipping;
  options.accumulate_batches = techniques.accumulate_batches;
  options.precision = techniques.precision;
  framework::TrainingLoop loop(options, *model, **trainer, **optimizer, nullptr, data,
                               no_validation);
  std::unique_ptr<framework::Callback> ema;
  if (techniques.ema_decay > 0) {
    framework::CallbackContext context;
    context.name = "ema";
    context.options = *framework::ResolveCallbackOptions(
        "ema", {{"decay", techniques.ema_decay}}, [](const std::string& key) { return key; });
    context.build_model = [&data]() -> absl::StatusOr<std::shared_ptr<framework::Model>> {
      return MakeModel(data);
    };
    auto built = framework::BuildCallback(context);
    CHECK(built.ok()) << built.status();
    ema = *std::move(built);
    loop.AddCallback("ema", ema.get());
  }
  std::unique_ptr<framework::TrainingEvents> events;
  const auto start = Clock::now();
  if (!techniques.events_dir.empty()) {
    auto opened = framework::TrainingEvents::Open(techniques.events_dir, /*every_steps=*/1, 0);
    CHECK(opened.ok()) << opened.status();
    events = *std::move(opened);
    loop.AddObserver(events.get());
  }
  CHECK(loop.Run().ok());
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  FLAGS_logtostderr = true;
  FLAGS_minloglevel = 1;  // the loop's own log lines would flood the report
  google::InitGoogleLogging(argv[0]);
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  at::set_num_threads(FLAGS_threads);
  // Its INFO line is below this binary's log level; its warnings are not.
  std::printf("BLAS: %s\n", framework::DescribeBlas(framework::LogBlasAtStartup()).c_str());

  auto data = framework::LoadFashionMnist(framework::kFashionMnistDefaultDir);
  CHECK(data.ok()) << data.status();
  const framework::Dataset train = data->train.Head(FLAGS_samples);
  const framework::Dataset no_validation = data->valid.Head(1);

  char events_template[] = "/tmp/training_throughput_XXXXXX";
  CHECK(mkdtemp(events_template) != nullptr);
  const std::string events_dir = events_template;
  struct Variant {
    std::string name;
    std::function<double()> run;
    double target;  // of the ratio to its reference (bare for the loop, else the loop)
    std::vector<double> seconds, ratios;
  };
  Techniques curves, clipped, accumulated, micro, averaged, bf16;
  curves.events_dir = events_dir;
  clipped.clipping.max_norm = 0.01;  // binds at every step: the multiplications run
  accumulated.accumulate_batches = 4;
  // What accumulation's micro-batches cost by themselves: the plain loop at
  // their size (4x the optimizer steps of accumulation).
  micro.batch_size = FLAGS_batch_size / 4;
  averaged.ema_decay = 0.999;
  bf16.precision = framework::Precision::kBf16;
  std::vector<Variant> variants = {
      {"bare LibTorch loop", [&] { return BareLoopSeconds(train); }, 0, {}, {}},
      {"framework TrainingLoop", [&] { return FrameworkLoopSeconds(train, no_validation); }, 1.0,
       {}, {}},
      {"curves every step", [&] { return FrameworkLoopSeconds(train, no_validation, curves); },
       0.98, {}, {}},
      {"clip_grad_norm 0.01", [&] { return FrameworkLoopSeconds(train, no_validation, clipped); },
       0.97, {}, {}},
      {"accumulate_batches 4",
       [&] { return FrameworkLoopSeconds(train, no_validation, accumulated); }, 0.97, {}, {}},
      {"plain, batch / 4", [&] { return FrameworkLoopSeconds(train, no_validation, micro); }, 0,
       {}, {}},
      {"ema_decay 0.999", [&] { return FrameworkLoopSeconds(train, no_validation, averaged); },
       0.95, {}, {}},
      {"precision bf16", [&] { return FrameworkLoopSeconds(train, no_validation, bf16); }, 0, {},
       {}},
  };
  BareLoopSeconds(train.Head(2000));  // warm-up: allocator, thread pool
  // Each round runs every variant in a rotated order, so that none always
  // runs first or after another (the allocator's and the caches' state carry
  // from one to the next).
  const size_t n = variants.size();
  for (int round = 0; round < FLAGS_rounds; ++round) {
    for (size_t i = 0; i < n; ++i) {
      Variant& variant = variants[(round + i) % n];
      variant.seconds.push_back(variant.run());
    }
    variants[1].ratios.push_back(variants[0].seconds.back() / variants[1].seconds.back());
    for (size_t v = 2; v < n; ++v) {
      variants[v].ratios.push_back(variants[1].seconds.back() / variants[v].seconds.back());
    }
  }
  std::filesystem::remove_all(events_dir);
  auto median = [](std::vector<double> values) {
    std::sort(values.begin(), values.end());
    const size_t n = values.size();
    return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
  };
  std::printf("model %s, batch %lld, %d thread(s), %lld samples x %d rounds (median)\n",
              FLAGS_model.c_str(), static_cast<long long>(FLAGS_batch_size), FLAGS_threads,
              static_cast<long long>(train.size()), FLAGS_rounds);
  std::printf("%-24s %10s %12s %8s %15s %8s\n", "loop", "samples/s", "us per step", "ratio",
              "(range)", "target");
  const double steps = std::ceil(static_cast<double>(train.size()) / FLAGS_batch_size);
  for (size_t v = 0; v < n; ++v) {
    const Variant& variant = variants[v];
    const double seconds = median(variant.seconds);
    std::printf("%-24s %10.0f %12.1f", variant.name.c_str(), train.size() / seconds,
                1e6 * seconds / steps);
    if (!variant.ratios.empty()) {
      const auto [low, high] = std::minmax_element(variant.ratios.begin(), variant.ratios.end());
      std::printf(" %8.3f %7.3f-%-7.3f", median(variant.ratios), *low, *high);
      if (variant.target > 0) {
        std::printf(" >= %.2f", variant.target);
      } else {
        std::printf(" %8s", "-");
      }
    }
    std::printf("\n");
  }
  std::printf("ratio: the framework's loop / bare, and each technique / the framework's plain "
              "loop (throughput), the median of the rounds' own ratios\n");
  std::vector<double> accumulation_vs_micro;
  for (int round = 0; round < FLAGS_rounds; ++round) {
    accumulation_vs_micro.push_back(variants[5].seconds[round] / variants[4].seconds[round]);
  }
  std::printf("accumulate_batches 4 / the plain loop at the micro-batches' size (same forward "
              "and backward passes): %.3f\n", median(accumulation_vs_micro));
  return 0;
}
