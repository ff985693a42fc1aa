// sample: text from a trained language model (a checkpoint directory or a
// model file), as nanoGPT's sample.py makes it: the model reads the last
// block_size tokens, its last position's logits divided by --temperature
// and cut to the --top_k most likely give the distribution of the next
// token, drawn with a generator seeded by --seed. The same file, flags and
// seed give the same text.
//
//   tools/bazel run //tools:sample -- --weights=runs/char_gpt/checkpoints/step-0000001200
//       --prompt="The " --tokens=300
//
// The vocabulary is meta.json of the run's --data_dir (recorded in a
// checkpoint), or of --data_dir.
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include <torch/csrc/autograd/grad_mode.h>
#include <torch/types.h>

#include "absl/strings/str_cat.h"
#include "framework/checkpoint/checkpoint.h"
#include "framework/core/device_map.h"
#include "framework/core/plugin_library.h"
#include "framework/core/random_state.h"
#include "framework/core/user_path.h"
#include "framework/experiment/flag_error.h"
#include "framework/model/model.h"
#include "framework/model/state_dict.h"
#include "framework/weights/weights_file.h"
#include "gflags/gflags.h"
#include "glog/logging.h"
#include "plugins/datasets/token_vocabulary.h"
#include "tools/model_spec_flags.h"
#include "tools/tool_help.h"

DEFINE_string(weights, "", "Checkpoint directory or model file of a language model (required).");
DEFINE_string(model, "", "Registered model, for files that do not name theirs (.pt, safetensors).");
DEFINE_string(model_options, "{}", "JSON object of the model's options, with --model.");
DEFINE_string(data_dir, "", "Token data set whose meta.json holds the vocabulary (default: the run's).");
DEFINE_string(prompt, "\n", "Text the sample continues.");
DEFINE_int64(tokens, 200, "Tokens to generate (>= 1).");
DEFINE_double(temperature, 0.8, "Divides the logits: below 1 sharper, above 1 flatter (> 0).");
DEFINE_int64(top_k, 200, "Draw from the k most likely tokens only (0: from all).");
DEFINE_uint64(seed, 1337, "Seed of the draws.");
DEFINE_string(device, "cpu", "Device: cpu, cuda or cuda:N.");
DEFINE_string(plugins, "", "Comma-separated plugin shared objects (.so) to load first.");

namespace framework {
namespace {

absl::Status Sample() {
  if (FLAGS_weights.empty()) return FlagError("weights", "is required (the model to sample)");
  if (FLAGS_tokens < 1) return FlagError("tokens", absl::StrCat("must be >= 1, got ", FLAGS_tokens));
  if (!(FLAGS_temperature > 0)) {
    return FlagError("temperature", absl::StrCat("must be > 0, got ", FLAGS_temperature));
  }
  if (FLAGS_top_k < 0) return FlagError("top_k", absl::StrCat("must be >= 0, got ", FLAGS_top_k));
  if (absl::Status status = LoadPluginLibraryList(FLAGS_plugins); !status.ok()) {
    return FlagError("plugins", status.message());
  }
  const std::string path = ResolveUserPath(FLAGS_weights);
  absl::StatusOr<std::string> format_name = DetectWeightsFormat(path);
  if (!format_name.ok()) return FlagError("weights", format_name.status().message());
  absl::StatusOr<WeightsFormat> format = WeightsFormatRegistry().Find(*format_name);
  if (!format.ok()) return format.status();
  std::string data_dir = FLAGS_data_dir.empty() ? "" : ResolveUserPath(FLAGS_data_dir);
  if (data_dir.empty() && *format_name == "checkpoint") {
    absl::StatusOr<CheckpointManifest> manifest = ReadCheckpointManifest(path);
    if (!manifest.ok()) return manifest.status();
    auto recorded = manifest->flags.find("data_dir");
    if (recorded != manifest->flags.end()) data_dir = recorded->second;
  }
  if (data_dir.empty()) {
    return FlagError("data_dir", "is required: the token data set whose meta.json holds the "
                                 "vocabulary (a checkpoint records its run's)");
  }
  absl::StatusOr<plugins::TokenVocabulary> vocabulary = plugins::TokenVocabulary::Read(data_dir);
  if (!vocabulary.ok()) return FlagError("data_dir", vocabulary.status().message());

  absl::StatusOr<ModelSpec> read = ModelSpecFromFlags(path, *format, FLAGS_model, FLAGS_model_options);
  if (!read.ok()) return read.status();
  const ModelSpec spec = *std::move(read);
  if (!spec.config.contains("block_size") || !spec.config["block_size"].is_number_integer()) {
    return FlagError("weights", absl::StrCat("model '", spec.name, "' has no integer option "
                                             "'block_size': not a language model"));
  }
  const int64_t block_size = spec.config["block_size"].get<int64_t>();
  absl::StatusOr<torch::Device> device = ParseUsableDevice(FLAGS_device);
  if (!device.ok()) return FlagError("device", device.status().message());
  absl::StatusOr<std::shared_ptr<Model>> model = BuildModel(spec);
  if (!model.ok()) return model.status();
  absl::StatusOr<std::vector<NamedTensor>> weights = ReadWeights(path, DeviceMap(*device));
  if (!weights.ok()) return FlagError("weights", weights.status().message());
  if (absl::Status status = LoadStateDict(**model, *weights, /*strict=*/true, path); !status.ok()) {
    return FlagError("weights", status.message());
  }
  (*model)->to(*device);
  (*model)->eval();

  absl::StatusOr<std::vector<uint16_t>> prompt = vocabulary->Encode(FLAGS_prompt, "--prompt");
  if (!prompt.ok()) return prompt.status();
  if (prompt->empty()) return FlagError("prompt", "is empty; give at least one character");
  std::vector<int64_t> ids(prompt->begin(), prompt->end());
  at::Generator generator = MakeGenerator(FLAGS_seed);
  torch::NoGradGuard no_grad;
  try {
    for (int64_t n = 0; n < FLAGS_tokens; ++n) {
      const int64_t start = std::max<int64_t>(0, static_cast<int64_t>(ids.size()) - block_size);
      torch::Tensor context =
          torch::tensor(std::vector<int64_t>(ids.begin() + start, ids.end()), torch::kInt64)
              .unsqueeze(0)
              .to(*device);
      torch::Tensor logits = (*model)->forward(context).select(1, -1).to(torch::kFloat).cpu();
      logits = logits / FLAGS_temperature;
      if (FLAGS_top_k > 0 && FLAGS_top_k < logits.size(-1)) {
        const torch::Tensor kth = std::get<0>(logits.topk(FLAGS_top_k, -1)).select(-1, -1);
        logits = logits.masked_fill(logits < kth.unsqueeze(-1),
                                    -std::numeric_limits<float>::infinity());
      }
      const torch::Tensor probabilities = logits.softmax(-1);
      ids.push_back(probabilities.multinomial(1, /*replacement=*/false, generator).item<int64_t>());
    }
  } catch (const c10::Error& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("sampling ", path, " failed: ", e.what_without_backtrace()));
  }
  const std::string text = vocabulary->Decode(ids);
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fputc('\n', stdout);
  return absl::OkStatus();
}

}  // namespace
}  // namespace framework

int main(int argc, char** argv) {
  FLAGS_logtostderr = true;
  FLAGS_minloglevel = 1;
  google::InitGoogleLogging(argv[0]);
  static const char kUsage[] =
      "usage: sample --weights=FILE [--prompt=TEXT] [--tokens=N] [--temperature=T] [--top_k=K] "
      "[--seed=S]\n"
      "Generates text from a trained language model.\n";
  return framework::RunFlagsOnlyTool(argc, argv, "sample", kUsage, __FILE__, framework::Sample);
}
