// ckpt: inspect, verify and compare checkpoints without the model's code.
//
//   bazel run //tools:ckpt -- list RUN_DIR          checkpoints of a run
//   bazel run //tools:ckpt -- show CHECKPOINT       metadata and tensor table
//   bazel run //tools:ckpt -- verify CHECKPOINT...  checksums; exit 1 if corrupt
//   bazel run //tools:ckpt -- diff A B              which tensors differ, how much
//   bazel run //tools:ckpt -- export IN OUT [--format=pt|pytorch_checkpoint|safetensors|model]
//       a checkpoint's (or any weights file's) model as a PyTorch .pt state
//       dict, a safetensors file or a whole-model file; a checkpoint as
//       PyTorch's training-checkpoint dict (model, optimizer, scheduler, and
//       epoch as the recipe's index of the last finished epoch; see
//       --pytorch_epoch)
//   bazel run //tools:ckpt -- import IN OUT --model=NAME [--model_config=JSON]
//       weights from a .pt, safetensors file or checkpoint into a whole-model
//       file, checked strictly against the named model
//
// Options are gflags (unknown ones are errors; --help lists them) and may
// come anywhere on the line; --plugins=a.so,b.so loads plugin libraries, for
// models or weights formats this binary does not link. Inputs are recognised
// by content, not name. Paths are relative to the directory bazel was run
// from.
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <torch/types.h>

#include "absl/strings/str_cat.h"
#include "framework/core/blas_report.h"
#include "framework/core/plugin_library.h"
#include "framework/experiment/flag_error.h"
#include "framework/experiment/plugin_option_flags.h"
#include "tools/tool_help.h"
#include "gflags/gflags.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "framework/checkpoint/checkpoint.h"
#include "framework/checkpoint/checkpoint_manager.h"
#include "framework/checkpoint/pytorch_training_checkpoint.h"
#include "framework/core/user_path.h"
#include "framework/weights/model_file.h"
#include "framework/formats/pytorch_file.h"
#include "framework/formats/safetensors.h"
#include "framework/model/state_dict.h"
#include "framework/weights/weights_file.h"
#include "nlohmann/json.hpp"
#include "glog/logging.h"

DEFINE_string(format, "",
              "export: pt (a state dict), pytorch_checkpoint (PyTorch's training-checkpoint dict "
              "with optimizer and scheduler state), safetensors or model (a whole-model file); "
              "default: from OUT's extension (.pt/.pth: pt, else safetensors).");
DEFINE_string(map_location, "", "export: where loaded tensors go (cpu, cuda:N, or pairs).");
DEFINE_string(pytorch_epoch, "index",
              "export --format=pytorch_checkpoint: what 'epoch' holds: index (the tutorial "
              "recipe's, the 0-based index of the last finished epoch, so that its resume loop "
              "range(start_epoch + 1, ...) continues with the next) or count (epochs finished).");
DEFINE_string(weights, "trained",
              "export: trained (the model's weights) or ema (the weights' average a checkpoint "
              "of a run with --ema_decay holds).");
DEFINE_string(model, "", "import: the registered model the weights are for.");
DEFINE_string(model_options, "{}",
              "import: the model's options, a JSON object (as the experiments' --model_options).");
DEFINE_string(model_config, "", "Old name of --model_options.");
DEFINE_string(plugins, "", "Comma-separated plugin shared objects (.so) to load first.");

namespace {

namespace fs = std::filesystem;
using framework::CheckpointInfo;
using framework::CheckpointManifest;

constexpr char kUsage[] =
    "usage: ckpt list RUN_DIR | show CHECKPOINT | verify CHECKPOINT... | diff A B\n"
    "       ckpt export IN OUT [--format=pt|pytorch_checkpoint|safetensors|model]\n"
    "                          [--map_location=DEV] [--pytorch_epoch=index|count]\n"
    "                          [--weights=trained|ema]\n"
    "       ckpt import IN OUT --model=NAME [--model_options=JSON]\n"
    "       (any command) --plugins=a.so,b.so loads plugin libraries first\n";

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "ckpt: %s\n", std::string(status.message()).c_str());
  return 1;
}

// A weights file's format (recognised by content) and tensors.
struct WeightsFileContents {
  framework::WeightsFormat format;
  std::vector<framework::NamedTensor> tensors;
};

// With `average`, the tensors are the weights' average that a checkpoint of
// a run with --ema_decay holds (the callback "ema"), read instead of the
// trained weights.
absl::StatusOr<WeightsFileContents> ReadWeightsFile(const std::string& path,
                                                    const framework::DeviceMap& devices,
                                                    bool average = false) {
  absl::StatusOr<std::string> name = framework::DetectWeightsFormat(path);
  if (!name.ok()) return name.status();
  absl::StatusOr<framework::WeightsFormat> format = framework::WeightsFormatRegistry().Find(*name);
  if (!format.ok()) return format.status();
  if (average) {
    absl::StatusOr<std::vector<framework::NamedTensor>> tensors =
        framework::ReadCheckpointCallbackTensors(path, "ema", devices);
    if (!tensors.ok()) {
      return framework::FlagError(
          "weights", absl::StrCat("ema: ", tensors.status().message(),
                                  "; a checkpoint of a run with --ema_decay holds one"));
    }
    return WeightsFileContents{*std::move(format), *std::move(tensors)};
  }
  absl::StatusOr<std::vector<framework::NamedTensor>> tensors = framework::ReadWeights(path, devices);
  if (!tensors.ok()) return tensors.status();
  return WeightsFileContents{*std::move(format), *std::move(tensors)};
}

// --format, or from the output's extension.
std::string OutputFormat(const std::string& out) {
  if (!FLAGS_format.empty()) return FLAGS_format;
  const std::string extension = fs::path(out).extension().string();
  if (extension == ".pt" || extension == ".pth") return "pt";
  return "safetensors";
}

int Export(const std::string& in, const std::string& out) {
  absl::StatusOr<framework::DeviceMap> devices =
      framework::DeviceMap::Parse(FLAGS_map_location, torch::kCPU);
  if (!devices.ok()) return Fail(devices.status());
  const std::string target = OutputFormat(out);
  if (FLAGS_weights != "trained" && FLAGS_weights != "ema") {
    return Fail(framework::FlagError(
        "weights", absl::StrCat("must be trained or ema, got '", FLAGS_weights, "'")));
  }
  if (FLAGS_weights == "ema" && target == "pytorch_checkpoint") {
    return Fail(framework::FlagError(
        "weights", "ema exports the average alone, without the optimizer state it did not "
                   "train with: use --format=pt, safetensors or model"));
  }
  absl::StatusOr<WeightsFileContents> contents =
      ReadWeightsFile(in, *devices, /*average=*/FLAGS_weights == "ema");
  if (!contents.ok()) return Fail(contents.status());
  const framework::WeightsFormat* format = &contents->format;
  const std::vector<framework::NamedTensor>* tensors = &contents->tensors;
  absl::Status status;
  if (target == "pytorch_checkpoint") {
    absl::StatusOr<framework::PyTorchEpoch> convention =
        framework::ParsePyTorchEpoch(FLAGS_pytorch_epoch);
    if (!convention.ok()) {
      return Fail(framework::FlagError("pytorch_epoch", convention.status().message()));
    }
    absl::StatusOr<framework::TrainingState> state = framework::ReadCheckpoint(in, *devices);
    if (!state.ok()) return Fail(state.status());
    absl::StatusOr<framework::PyTorchTrainingCheckpoint> dict =
        framework::ToPyTorchTrainingCheckpoint(
            *state, framework::OptimisationRecordOf(state->flags), in, *convention);
    if (!dict.ok()) return Fail(dict.status());
    status = framework::WritePyTorchTrainingCheckpoint(out, *dict);
    if (status.ok()) {
      std::printf("epoch: %s\n",
                  framework::DescribePyTorchEpoch(*dict->epoch, *convention).c_str());
    }
  } else if (target == "pt") {
    status = framework::WritePyTorchStateDict(out, *tensors);
  } else if (target == "safetensors") {
    status = framework::WriteSafetensors(out, *tensors, {}, true).status();
  } else if (target == "model") {
    absl::StatusOr<framework::ModelSpec> spec =
        format->read_model_spec
            ? format->read_model_spec(in)
            : absl::InvalidArgumentError(
                  absl::StrCat("a ", format->description, " file names no model"));
    if (!spec.ok()) {
      return Fail(absl::InvalidArgumentError(absl::StrCat(
          "--format=model needs a checkpoint or whole-model input; for ", in,
          " use 'ckpt import' with --model (", spec.status().message(), ")")));
    }
    absl::StatusOr<std::shared_ptr<framework::Model>> model = framework::BuildModel(*spec);
    if (!model.ok()) return Fail(model.status());
    status = framework::LoadStateDict(**model, *tensors, true, in);
    // What the checkpoint's run read, so evaluating the file needs nothing else.
    nlohmann::json pipeline = nlohmann::json::object();
    if (absl::StatusOr<CheckpointManifest> manifest = framework::ReadCheckpointManifest(in);
        manifest.ok()) {
      pipeline = framework::InputPipelineOf(manifest->flags);
    } else if (absl::StatusOr<nlohmann::json> recorded = framework::ReadModelFileInputPipeline(in);
               recorded.ok()) {
      pipeline = *recorded;
    }
    if (status.ok()) status = framework::SaveModelFile(out, *spec, **model, pipeline);
  } else {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat("--format must be pt, pytorch_checkpoint, safetensors or model, got '",
                     target, "'")));
  }
  if (!status.ok()) return Fail(status);
  std::printf("exported %zu tensors from %s (%s%s) to %s (%s)\n", tensors->size(), in.c_str(),
              format->description.c_str(),
              FLAGS_weights == "ema" ? ", the weights' average" : "", out.c_str(),
              target.c_str());
  return 0;
}

int Import(const std::string& in, const std::string& out) {
  if (FLAGS_model.empty()) {
    return Fail(absl::InvalidArgumentError("import needs --model=NAME (the registered model)"));
  }
  framework::ModelSpec spec;
  spec.name = FLAGS_model;
  const bool old_name = !FLAGS_model_config.empty();
  if (old_name) {
    std::fprintf(stderr, "ckpt: --model_config is the old name of --model_options\n");
  }
  const std::string& text = old_name ? FLAGS_model_config : FLAGS_model_options;
  absl::StatusOr<nlohmann::json> config =
      framework::ParseJsonObjectFlag(old_name ? "model_config" : "model_options", text);
  if (!config.ok()) return Fail(config.status());
  spec.config = *std::move(config);
  if (absl::Status checked = framework::CheckModelOptionsFlag(
          spec.name, spec.config, old_name ? "model_config" : "model_options");
      !checked.ok()) {
    return Fail(checked);
  }
  absl::StatusOr<std::shared_ptr<framework::Model>> model = framework::BuildModel(spec);
  if (!model.ok()) return Fail(model.status());
  absl::StatusOr<std::vector<framework::NamedTensor>> tensors =
      framework::ReadWeights(in, framework::DeviceMap(torch::kCPU));
  if (!tensors.ok()) return Fail(tensors.status());
  if (absl::Status s = framework::LoadStateDict(**model, *tensors, true, in); !s.ok()) return Fail(s);
  if (absl::Status s = framework::SaveModelFile(out, spec, **model); !s.ok()) return Fail(s);
  std::printf("imported %zu tensors from %s into whole-model file %s (model %s)\n", tensors->size(),
              in.c_str(), out.c_str(), spec.ToJson().dump().c_str());
  return 0;
}

std::string HumanSize(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 4) {
    value /= 1024;
    ++unit;
  }
  return unit == 0 ? absl::StrCat(bytes, " B") : absl::StrFormat("%.1f %s", value, units[unit]);
}

std::string Shape(c10::IntArrayRef shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

int List(const std::string& run_dir) {
  std::string directory = run_dir;
  if (fs::is_directory(run_dir + "/checkpoints")) directory = run_dir + "/checkpoints";
  if (!fs::is_directory(directory)) {
    std::fprintf(stderr, "ckpt: %s is not a directory\n", directory.c_str());
    return 2;
  }
  std::vector<CheckpointInfo> infos = framework::ListCheckpoints(directory);
  if (infos.empty()) {
    std::printf("no checkpoints in %s\n", directory.c_str());
    return 0;
  }
  std::printf("%-20s %10s %6s %7s %11s %11s %10s %5s %-9s  %s\n", "checkpoint", "step", "epoch",
              "batch", "valid_loss", "valid_acc", "size", "seq", "line", "valid?");
  // In commit order; "current" marks the line --resume continues, "abandoned"
  // the newer checkpoints a --resume_from an older one left behind.
  const std::set<std::string> current_line = framework::CheckpointsOnCurrentLine(infos);
  int invalid = 0;
  for (const CheckpointInfo& info : infos) {
    absl::Status status = framework::VerifyCheckpoint(info.path);
    if (!status.ok()) ++invalid;
    std::string loss = "-", acc = "-", epoch = "-", batch = "-";
    if (info.manifest.has_value()) {
      epoch = absl::StrCat(info.manifest->position.epoch);
      batch = absl::StrCat(info.manifest->position.batch);
      if (!info.manifest->history.empty()) {
        const auto& values = info.manifest->history.back().values;
        if (values.count("valid_loss")) loss = absl::StrFormat("%.4f", values.at("valid_loss"));
        if (values.count("valid_acc")) acc = absl::StrFormat("%.2f%%", 100 * values.at("valid_acc"));
      }
    }
    std::string sequence = "-", line = "-";
    if (info.manifest.has_value() && info.manifest->commit_sequence > 0) {
      sequence = absl::StrCat(info.manifest->commit_sequence);
      line = current_line.count(info.path) > 0 ? "current" : "abandoned";
    }
    std::printf("%-20s %10lld %6s %7s %11s %11s %10s %5s %-9s  %s\n", info.name.c_str(),
                static_cast<long long>(info.step), epoch.c_str(), batch.c_str(), loss.c_str(),
                acc.c_str(), HumanSize(framework::CheckpointSizeBytes(info.path)).c_str(),
                sequence.c_str(), line.c_str(),
                status.ok() ? "yes" : absl::StrCat("NO: ", status.message()).c_str());
  }
  return invalid == 0 ? 0 : 1;
}

// A weights file that is not a checkpoint (.pt, safetensors, whole-model
// file): its format, the model it names if any, and its tensors.
int ShowWeightsFile(const std::string& path) {
  absl::StatusOr<WeightsFileContents> contents =
      ReadWeightsFile(path, framework::DeviceMap(torch::kCPU));
  if (!contents.ok()) return Fail(contents.status());
  const framework::WeightsFormat* format = &contents->format;
  const std::vector<framework::NamedTensor>* tensors = &contents->tensors;
  std::printf("weights file    %s\n", path.c_str());
  std::printf("format          %s\n", format->description.c_str());
  if (format->read_model_spec) {
    absl::StatusOr<framework::ModelSpec> spec = format->read_model_spec(path);
    if (spec.ok()) std::printf("model           %s\n", spec->ToJson().dump().c_str());
  }
  std::printf("\n%-40s %-9s %-18s\n", "tensor", "dtype", "shape");
  for (const framework::NamedTensor& named : *tensors) {
    std::printf("%-40s %-9s %-18s\n", named.name.c_str(),
                std::string(c10::toString(named.tensor.scalar_type())).c_str(),
                Shape(named.tensor.sizes()).c_str());
  }
  return 0;
}

int Show(const std::string& path) {
  std::error_code error;
  if (fs::is_regular_file(path, error)) return ShowWeightsFile(path);
  absl::StatusOr<CheckpointManifest> manifest = framework::ReadCheckpointManifest(path);
  if (!manifest.ok()) {
    std::fprintf(stderr, "ckpt: %s\n", std::string(manifest.status().message()).c_str());
    return 1;
  }
  std::printf("checkpoint      %s\n", path.c_str());
  std::printf("format version  %d (torch %s), created %s\n", manifest->format_version,
              manifest->torch_version.c_str(), manifest->created.c_str());
  std::printf("model           %s\n", manifest->model_spec.ToJson().dump().c_str());
  std::printf("position        epoch %lld, batch %lld, global step %lld\n",
              static_cast<long long>(manifest->position.epoch),
              static_cast<long long>(manifest->position.batch),
              static_cast<long long>(manifest->position.global_step));
  if (!manifest->history.empty()) {
    std::printf("last epoch      %s\n", manifest->history.back().ToJson().dump().c_str());
  }
  std::printf("world size      %lld rank(s)\n", static_cast<long long>(manifest->world_size));
  std::printf("scheduler       %s\n", manifest->scheduler.dump().c_str());
  std::vector<std::string> flags;
  for (const auto& [name, value] : manifest->flags) flags.push_back(absl::StrCat("--", name, "=", value));
  std::printf("flags           %s\n", absl::StrJoin(flags, " ").c_str());
  std::printf("\n%-40s %-18s %-5s %-18s %-8s %16s\n", "tensor", "file", "dtype", "shape", "device",
              framework::ChecksumName(manifest->checksum));
  for (const auto& [name, t] : manifest->tensors) {
    std::printf("%-40s %-18s %-5s %-18s %-8s %16s\n", name.c_str(), manifest->tensors.file(t).c_str(), t.dtype.c_str(),
                Shape(c10::IntArrayRef(t.shape.data(), t.shape.size())).c_str(), t.device.c_str(),
                framework::FormatChecksum(manifest->checksum, t.checksum).c_str());
  }
  return 0;
}

int Verify(const std::vector<std::string>& paths) {
  int corrupt = 0;
  for (const std::string& path : paths) {
    std::error_code error;
    absl::Status status =
        fs::is_regular_file(path, error)
            ? absl::FailedPreconditionError(
                  "a file, not a checkpoint: only checkpoints carry checksums (ckpt show lists "
                  "its tensors)")
            : framework::VerifyCheckpoint(path);
    if (status.ok()) {
      std::printf("%s: ok\n", path.c_str());
    } else {
      ++corrupt;
      std::printf("%s: CORRUPT: %s\n", path.c_str(), std::string(status.message()).c_str());
    }
  }
  return corrupt == 0 ? 0 : 1;
}

int Diff(const std::string& a, const std::string& b) {
  const framework::DeviceMap cpu(torch::kCPU);
  absl::StatusOr<framework::TrainingState> left = framework::ReadCheckpoint(a, cpu);
  absl::StatusOr<framework::TrainingState> right = framework::ReadCheckpoint(b, cpu);
  for (const auto* state : {&left, &right}) {
    if (!state->ok()) {
      std::fprintf(stderr, "ckpt: %s\n", std::string(state->status().message()).c_str());
      return 2;
    }
  }
  auto all = [](const framework::TrainingState& s) {
    std::map<std::string, at::Tensor> tensors;
    for (const auto* group : {&s.model, &s.optimizer, &s.rng}) {
      for (const auto& named : *group) tensors[named.name] = named.tensor;
    }
    return tensors;
  };
  const auto l = all(*left), r = all(*right);
  int differing = 0;
  std::printf("%-40s %s\n", "tensor", "difference");
  for (const auto& [name, tensor] : l) {
    auto it = r.find(name);
    std::string verdict;
    if (it == r.end()) {
      verdict = "only in " + a;
    } else if (tensor.sizes() != it->second.sizes() || tensor.scalar_type() != it->second.scalar_type()) {
      verdict = absl::StrCat("shape/dtype ", Shape(tensor.sizes().vec()), " ",
                             c10::toString(tensor.scalar_type()), " vs ",
                             Shape(it->second.sizes().vec()), " ",
                             c10::toString(it->second.scalar_type()));
    } else if (tensor.equal(it->second)) {
      continue;
    } else {
      const at::Tensor delta = (tensor.to(torch::kDouble) - it->second.to(torch::kDouble)).abs();
      verdict = absl::StrFormat("max abs %.6g, mean abs %.6g, %lld of %lld elements differ",
                                delta.max().item<double>(), delta.mean().item<double>(),
                                static_cast<long long>(delta.ne(0).sum().item<int64_t>()),
                                static_cast<long long>(delta.numel()));
    }
    ++differing;
    std::printf("%-40s %s\n", name.c_str(), verdict.c_str());
  }
  for (const auto& [name, tensor] : r) {
    if (l.count(name) == 0) {
      ++differing;
      std::printf("%-40s only in %s\n", name.c_str(), b.c_str());
    }
  }
  std::printf("%d of %zu tensors differ\n", differing, std::max(l.size(), r.size()));
  return differing == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  FLAGS_logtostderr = true;
  FLAGS_minloglevel = 1;
  google::InitGoogleLogging(argv[0]);
  gflags::SetUsageMessage(kUsage);
  gflags::ParseCommandLineNonHelpFlags(&argc, &argv, /*remove_flags=*/true);
  if (framework::HandleToolHelp(kUsage, __FILE__)) return 0;
  gflags::HandleCommandLineHelpFlags();
  if (argc < 2) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  framework::LogBlasAtStartup();
  if (absl::Status status = framework::LoadPluginLibraryList(FLAGS_plugins); !status.ok()) {
    return Fail(status);
  }
  const std::string command = argv[1];
  std::vector<std::string> paths;
  for (int i = 2; i < argc; ++i) paths.push_back(framework::ResolveUserPath(argv[i]));
  if (command == "list" && paths.size() == 1) return List(paths[0]);
  if (command == "show" && paths.size() == 1) return Show(paths[0]);
  if (command == "verify" && !paths.empty()) return Verify(paths);
  if (command == "diff" && paths.size() == 2) return Diff(paths[0], paths[1]);
  if (command == "export" && paths.size() == 2) return Export(paths[0], paths[1]);
  if (command == "import" && paths.size() == 2) return Import(paths[0], paths[1]);
  std::fputs(kUsage, stderr);
  return 2;
}
