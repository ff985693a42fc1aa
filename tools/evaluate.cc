// evaluate: a saved model's loss and metrics on a data set's validation split,
// without training, and (for classifiers) the accuracy of every class.
//
//   bazel run //tools:evaluate -- --weights=runs/lenet/checkpoints/step-0000014070
//   bazel run //tools:evaluate -- --weights=lenet.pt --model=lenet
//   bazel run //tools:evaluate -- --weights=tiny.safetensors --model=tiny --plugins=libexample_tiny.so
//
// --weights may be a checkpoint, a whole-model file, a PyTorch .pt state dict
// or a safetensors file (recognised by content). A checkpoint or whole-model
// file names its model; the others need --model (and --model_options). A
// checkpoint also supplies its run's --dataset, --data_dir, --trainer, --seed,
// --valid_transforms and --eval_batch_size unless given here (a whole-model
// file exported from a checkpoint its --dataset, --dataset_options and
// --valid_transforms), so on a run's final checkpoint this
// prints the numbers of that run's last validation line.
#include <cstdio>
#include <string>
#include <vector>

#include <torch/nn/functional.h>
#include <torch/types.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "framework/core/blas_report.h"
#include "framework/checkpoint/checkpoint.h"
#include "framework/experiment/flag_error.h"
#include "framework/experiment/plugin_option_flags.h"
#include "framework/core/device_map.h"
#include "framework/core/plugin_library.h"
#include "framework/core/user_path.h"
#include "framework/data/dataset.h"
#include "framework/model/model.h"
#include "framework/model/state_dict.h"
#include "framework/train/trainer.h"
#include "framework/train/evaluation.h"
#include "framework/weights/model_file.h"
#include "framework/weights/weights_file.h"
#include "gflags/gflags.h"
#include "tools/model_spec_flags.h"
#include "tools/tool_help.h"
#include "glog/logging.h"
#include "nlohmann/json.hpp"

DEFINE_string(weights, "", "The file to evaluate: checkpoint, whole-model, .pt or safetensors.");
DEFINE_bool(ema, false,
            "Evaluate the weights' average that a checkpoint of a run with --ema_decay holds, "
            "instead of its trained weights.");
DEFINE_string(model, "", "Registered model (needed for .pt and safetensors files).");
DEFINE_string(model_options, "{}", "JSON object of the model's options, with --model.");
DEFINE_string(dataset, "fashion_mnist", "Registered data set whose validation split is used.");
DEFINE_string(dataset_options, "{}", "JSON object of the data set's options (default: the run's).");
DEFINE_string(data_dir, "", "Directory of the data set's files (default: its Debian package's).");
DEFINE_string(trainer, "classification", "Registered trainer: how a batch becomes loss and metrics.");
DEFINE_uint64(seed, 1, "Seed of generated data sets (synthetic) and of random validation transforms.");
DEFINE_string(valid_transforms, "",
              "JSON list of transforms for the validation samples (default: the checkpoint's run's).");
DEFINE_int32(data_workers, -1,
             "Threads that decode batches ahead (-1: none for data in memory, else a quarter of "
             "the cores); never changes the numbers.");
DEFINE_int64(eval_batch_size, 1000, "Evaluation batch size (>= 1).");
DEFINE_string(device, "cpu", "Device: cpu, cuda or cuda:N.");
DEFINE_string(plugins, "", "Comma-separated plugin shared objects (.so) to load first.");

namespace framework {
namespace {

// A flag not given on the command line takes the checkpoint's run's value.
void DefaultFromCheckpoint(const std::map<std::string, std::string>& run_flags) {
  for (const char* name :
       {"dataset", "dataset_options", "data_dir", "trainer", "eval_batch_size", "seed",
        "valid_transforms"}) {
    gflags::CommandLineFlagInfo info;
    auto it = run_flags.find(name);
    if (it != run_flags.end() && gflags::GetCommandLineFlagInfo(name, &info) && info.is_default) {
      gflags::SetCommandLineOption(name, it->second.c_str());
    }
  }
}

// Per-class accuracy of a classifier: outputs [N, classes], integer targets.
void PrintPerClassAccuracy(Model& model, const Dataset& valid, const torch::Device& device) {
  if (valid.classes < 2) return;  // not labelled
  torch::NoGradGuard no_grad;
  model.eval();
  std::vector<int64_t> correct(valid.classes, 0), total(valid.classes, 0);
  for (int64_t start = 0; start < valid.size(); start += FLAGS_eval_batch_size) {
    const int64_t length = std::min(FLAGS_eval_batch_size, valid.size() - start);
    const auto [inputs, targets] = valid.Gather(
        torch::arange(start, start + length, torch::TensorOptions().dtype(torch::kInt64)), 0);
    torch::Tensor output = model.forward(inputs.to(device));
    if (output.dim() != 2 || output.size(1) != valid.classes) return;  // not a classifier
    if (targets.dim() != 1) return;
    torch::Tensor predicted = output.argmax(1).cpu();
    auto p = predicted.accessor<int64_t, 1>();
    auto t = targets.accessor<int64_t, 1>();
    for (int64_t i = 0; i < length; ++i) {
      ++total[t[i]];
      if (p[i] == t[i]) ++correct[t[i]];
    }
  }
  std::printf("\n%-6s %8s %8s %9s\n", "class", "correct", "samples", "accuracy");
  for (int64_t c = 0; c < valid.classes; ++c) {
    std::printf("%-6lld %8lld %8lld %8.2f%%\n", static_cast<long long>(c),
                static_cast<long long>(correct[c]), static_cast<long long>(total[c]),
                total[c] > 0 ? 100.0 * static_cast<double>(correct[c]) / total[c] : 0.0);
  }
}

absl::Status Evaluate() {
  if (FLAGS_weights.empty()) return FlagError("weights", "is required (the file to evaluate)");
  if (absl::Status status = LoadPluginLibraryList(FLAGS_plugins); !status.ok()) {
    return FlagError("plugins", status.message());
  }
  const std::string path = ResolveUserPath(FLAGS_weights);
  absl::StatusOr<std::string> format_name = DetectWeightsFormat(path);
  if (!format_name.ok()) return FlagError("weights", format_name.status().message());
  absl::StatusOr<WeightsFormat> format = WeightsFormatRegistry().Find(*format_name);
  if (!format.ok()) return format.status();
  if (*format_name == "checkpoint") {
    absl::StatusOr<CheckpointManifest> manifest = ReadCheckpointManifest(path);
    if (!manifest.ok()) return manifest.status();
    DefaultFromCheckpoint(manifest->flags);
  } else if (absl::StatusOr<nlohmann::json> pipeline = ReadModelFileInputPipeline(path);
             pipeline.ok() && !pipeline->empty()) {
    // A whole-model file exported from a checkpoint records its input pipeline.
    std::map<std::string, std::string> recorded;
    for (auto it = pipeline->begin(); it != pipeline->end(); ++it) {
      if (it->is_string()) recorded[it.key()] = it->get<std::string>();
    }
    DefaultFromCheckpoint(recorded);
  }
  if (FLAGS_eval_batch_size < 1) return FlagError("eval_batch_size", "must be >= 1");
  absl::StatusOr<torch::Device> device = ParseUsableDevice(FLAGS_device);
  if (!device.ok()) return FlagError("device", device.status().message());
  absl::StatusOr<std::unique_ptr<Trainer>> trainer = BuildTrainer(FLAGS_trainer);
  if (!trainer.ok()) return FlagError("trainer", trainer.status().message());
  absl::StatusOr<ModelSpec> spec =
      ModelSpecFromFlags(path, *format, FLAGS_model, FLAGS_model_options);
  if (!spec.ok()) return spec.status();

  DataOptions data_options;
  data_options.data_dir = FLAGS_data_dir.empty() ? "" : ResolveUserPath(FLAGS_data_dir);
  data_options.seed = FLAGS_seed;
  absl::StatusOr<nlohmann::json> dataset_options =
      ParseJsonObjectFlag("dataset_options", FLAGS_dataset_options);
  if (!dataset_options.ok()) return dataset_options.status();
  absl::StatusOr<OptionValues> resolved = ResolveDatasetOptions(
      FLAGS_dataset, *dataset_options,
      [](const std::string& key) { return absl::StrCat("--dataset_options '", key, "'"); });
  if (!resolved.ok()) return resolved.status();
  data_options.options = *std::move(resolved);
  absl::StatusOr<DataSplits> data = LoadDataset(FLAGS_dataset, data_options);
  if (!data.ok()) return data.status();
  absl::StatusOr<std::shared_ptr<const SampleTransforms>> transforms =
      SampleTransforms::ParseText(FLAGS_valid_transforms, "valid_transforms");
  if (!transforms.ok()) return transforms.status();
  if (FLAGS_data_workers < -1) return FlagError("data_workers", "must be >= 0 (or -1: auto)");
  absl::StatusOr<Dataset> transformed = data->valid.WithTransforms(
      *transforms, TransformSeed(FLAGS_seed, /*training=*/false), "valid_transforms");
  if (!transformed.ok()) return transformed.status();
  const Dataset& valid = *transformed;
  // What the experiment fills in from the data, unless the file recorded it.
  const nlohmann::json facts = valid.ModelFacts();
  for (auto fact = facts.begin(); fact != facts.end(); ++fact) {
    if (!spec->config.contains(fact.key())) spec->config[fact.key()] = fact.value();
  }
  absl::StatusOr<std::shared_ptr<Model>> model = BuildModel(*spec);
  if (!model.ok()) return model.status();
  if (FLAGS_ema && *format_name != "checkpoint") {
    return FlagError("ema", absl::StrCat("needs a checkpoint directory; ", path, " is a ",
                                         format->description, " file"));
  }
  absl::StatusOr<std::vector<NamedTensor>> weights =
      FLAGS_ema ? ReadCheckpointCallbackTensors(path, "ema", DeviceMap(*device))
                : ReadWeights(path, DeviceMap(*device));
  if (!weights.ok()) return FlagError(FLAGS_ema ? "ema" : "weights", weights.status().message());
  if (absl::Status status = LoadStateDict(**model, *weights, /*strict=*/true, path); !status.ok()) {
    return FlagError("weights", status.message());
  }
  (*model)->to(*device);

  // The training loop's own evaluation, so the numbers are the run's.
  EvaluationOptions options;
  options.batch_size = FLAGS_eval_batch_size;
  options.device = *device;
  options.prefetch.workers = WorkersFor(valid, FLAGS_data_workers);
  absl::StatusOr<std::map<std::string, double>> values =
      EvaluateModel(**model, **trainer, valid, options);
  if (!values.ok()) return values.status();
  const std::vector<MetricSpec> metrics = (*trainer)->Metrics();
  std::vector<double> means;
  for (const MetricSpec& metric : metrics) means.push_back(values->at(metric.name));
  std::printf("%s (%s%s), model %s, %lld validation samples of %s\n", path.c_str(),
              format->description.c_str(), FLAGS_ema ? ", the weights' average" : "", spec->ToJson().dump().c_str(),
              static_cast<long long>(valid.size()), FLAGS_dataset.c_str());
  std::printf("Validation: %s\n", FormatMetrics(values->at("loss"), metrics, means).c_str());
  PrintPerClassAccuracy(**model, valid, *device);
  return absl::OkStatus();
}

}  // namespace
}  // namespace framework

int main(int argc, char** argv) {
  FLAGS_logtostderr = true;
  FLAGS_minloglevel = 1;
  google::InitGoogleLogging(argv[0]);
  static const char kUsage[] =
      "usage: evaluate --weights=FILE [--ema] [--model=NAME --model_options=JSON] [--dataset=NAME]\n"
      "Evaluates saved weights on a data set's validation split.\n";
  return framework::RunFlagsOnlyTool(argc, argv, "evaluate", kUsage, __FILE__, [] {
    framework::LogBlasAtStartup();
    return framework::Evaluate();
  });
}
