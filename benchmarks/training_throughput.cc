// Training throughput of the framework's TrainingLoop against a bare LibTorch
// loop of the same model, batch size and thread count, and of the loop writing
// steps.jsonl and TensorBoard events every step, and of the loop clipping
// the gradients by norm, against the loop without,
// measured side by side in one process so machine noise hits all alike:
// rounds alternate the four in a rotated order, and the ratios are medians
// of each round's own ratio.
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

// `events_dir` non-empty: with per-step curves written there.
double FrameworkLoopSeconds(const framework::Dataset& data,
                            const framework::Dataset& no_validation,
                            const std::string& events_dir = "",
                            const framework::GradientClipping& clipping = {}) {
  auto model = MakeModel(data);
  auto optimizer =
      framework::BuildOptimizer("sgd", {{"lr", 0.01}, {"momentum", 0.9}}, model->parameters());
  CHECK(optimizer.ok());
  auto trainer = framework::BuildTrainer("classification");
  CHECK(trainer.ok());
  framework::LoopOptions options;
  options.epochs = 1;
  options.batch_size = FLAGS_batch_size;
  options.log_interval = 100;
  options.clipping = clipping;
  framework::TrainingLoop loop(options, *model, **trainer, **optimizer, nullptr, data,
                               no_validation);
  std::unique_ptr<framework::TrainingEvents> events;
  const auto start = Clock::now();
  if (!events_dir.empty()) {
    auto opened = framework::TrainingEvents::Open(events_dir, /*every_steps=*/1, 0);
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
  std::vector<double> bare, loop, logged, clipped;
  framework::GradientClipping clip_by_norm;
  clip_by_norm.max_norm = 0.01;  // binds at every step: the multiplications run
  BareLoopSeconds(train.Head(2000));  // warm-up: allocator, thread pool
  // Each round runs the four in a rotated order, so that none always runs
  // first or after another (the allocator's and the caches' state carry
  // from one to the next).
  const std::function<void()> runs[] = {
      [&] { bare.push_back(BareLoopSeconds(train)); },
      [&] { loop.push_back(FrameworkLoopSeconds(train, no_validation)); },
      [&] { logged.push_back(FrameworkLoopSeconds(train, no_validation, events_dir)); },
      [&] { clipped.push_back(FrameworkLoopSeconds(train, no_validation, "", clip_by_norm)); }};
  std::vector<double> loop_ratios, logged_ratios, clipped_ratios;  // paired within a round
  for (int round = 0; round < FLAGS_rounds; ++round) {
    for (int i = 0; i < 4; ++i) runs[(round + i) % 4]();
    loop_ratios.push_back(bare.back() / loop.back());
    logged_ratios.push_back(loop.back() / logged.back());
    clipped_ratios.push_back(loop.back() / clipped.back());
  }
  std::filesystem::remove_all(events_dir);
  auto median = [](std::vector<double> values) {
    std::sort(values.begin(), values.end());
    const size_t n = values.size();
    return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
  };
  auto range = [](const std::vector<double>& values) {
    const auto [low, high] = std::minmax_element(values.begin(), values.end());
    return std::make_pair(*low, *high);
  };
  const double bare_rate = train.size() / median(bare);
  const double loop_rate = train.size() / median(loop);
  const double logged_rate = train.size() / median(logged);
  std::printf("model %s, batch %lld, %d thread(s), %lld samples x %d rounds (median)\n",
              FLAGS_model.c_str(), static_cast<long long>(FLAGS_batch_size), FLAGS_threads,
              static_cast<long long>(train.size()), FLAGS_rounds);
  std::printf("%-28s %12s %14s\n", "loop", "samples/s", "us per step");
  const double steps = std::ceil(static_cast<double>(train.size()) / FLAGS_batch_size);
  std::printf("%-28s %12.0f %14.1f\n", "bare LibTorch loop", bare_rate, 1e6 * median(bare) / steps);
  std::printf("%-28s %12.0f %14.1f\n", "framework TrainingLoop", loop_rate, 1e6 * median(loop) / steps);
  std::printf("%-28s %12.0f %14.1f\n", "framework, curves every step", logged_rate,
              1e6 * median(logged) / steps);
  std::printf("%-28s %12.0f %14.1f\n", "framework, clip_grad_norm 0.01",
              train.size() / median(clipped), 1e6 * median(clipped) / steps);
  const auto [loop_low, loop_high] = range(loop_ratios);
  const auto [logged_low, logged_high] = range(logged_ratios);
  std::printf("ratio framework / bare: %.3f, median of the rounds' ratios (range %.3f-%.3f; "
              "target >= 1.0)\n", median(loop_ratios), loop_low, loop_high);
  std::printf("ratio with curves / without: %.3f, median of the rounds' ratios (range "
              "%.3f-%.3f; target >= 0.98)\n", median(logged_ratios), logged_low, logged_high);
  const auto [clipped_low, clipped_high] = range(clipped_ratios);
  std::printf("ratio clipping by norm / without: %.3f, median of the rounds' ratios (range "
              "%.3f-%.3f; target >= 0.97)\n", median(clipped_ratios), clipped_low, clipped_high);
  return 0;
}
