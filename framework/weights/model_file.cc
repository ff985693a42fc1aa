#include "framework/weights/model_file.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "framework/formats/safetensors.h"
#include "framework/model/state_dict.h"
#include "nlohmann/json.hpp"

namespace framework {

const std::vector<std::string>& InputPipelineFlags() {
  static const auto* flags =
      new std::vector<std::string>{"dataset", "dataset_options", "valid_transforms"};
  return *flags;
}

nlohmann::json InputPipelineOf(const std::map<std::string, std::string>& run_flags) {
  nlohmann::json pipeline = nlohmann::json::object();
  for (const std::string& flag : InputPipelineFlags()) {
    auto it = run_flags.find(flag);
    if (it != run_flags.end()) pipeline[flag] = it->second;
  }
  return pipeline;
}

absl::StatusOr<nlohmann::json> ReadModelFileInputPipeline(const std::string& path) {
  absl::StatusOr<SafetensorsHeader> header = ReadSafetensorsHeader(path);
  if (!header.ok()) return header.status();
  auto it = header->metadata.find("input_pipeline");
  if (it == header->metadata.end()) return nlohmann::json::object();
  nlohmann::json pipeline = nlohmann::json::parse(it->second, nullptr, false);
  if (!pipeline.is_object()) return absl::DataLossError(absl::StrCat(path, ": corrupt input_pipeline"));
  return pipeline;
}

absl::Status SaveModelFile(const std::string& path, const ModelSpec& spec, const Model& model,
                           const nlohmann::json& input_pipeline) {
  std::map<std::string, std::string> metadata = {
      {"format", kModelFileFormat},
      {"format_version", "1"},
      {"model_spec", spec.ToJson().dump()},
      {"plugin", ModelRegistry().Source(spec.name)}};
  if (!input_pipeline.empty()) metadata["input_pipeline"] = input_pipeline.dump();
  return WriteSafetensors(path, StateDict(model), metadata, /*sync=*/true).status();
}

absl::StatusOr<ModelSpec> ReadModelFileSpec(const std::string& path) {
  absl::StatusOr<SafetensorsHeader> header = ReadSafetensorsHeader(path);
  if (!header.ok()) return header.status();
  auto format = header->metadata.find("format");
  auto spec_text = header->metadata.find("model_spec");
  if (format == header->metadata.end() || format->second != kModelFileFormat ||
      spec_text == header->metadata.end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, " is a safetensors file of weights only, not a whole-model file (no model_spec); "
              "build the model yourself and load the weights, e.g. with --init_from"));
  }
  const nlohmann::json json = nlohmann::json::parse(spec_text->second, nullptr, false);
  if (json.is_discarded()) return absl::DataLossError(absl::StrCat(path, ": corrupt model_spec"));
  absl::StatusOr<ModelSpec> spec = ModelSpec::FromJson(json);
  if (!spec.ok()) return absl::DataLossError(absl::StrCat(path, ": ", spec.status().message()));
  if (!ModelRegistry().Contains(spec->name)) {
    auto plugin = header->metadata.find("plugin");
    const std::string from = plugin != header->metadata.end() && !plugin->second.empty()
                                 ? absl::StrCat(" (registered by ", plugin->second, ")")
                                 : "";
    return absl::FailedPreconditionError(absl::StrCat(
        path, " holds model '", spec->name, "'", from,
        ", whose plugin is not linked into this binary; add that plugin library to its deps "
        "(linked models: ", absl::StrJoin(ModelRegistry().Names(), ", "), ")"));
  }
  return spec;
}

absl::StatusOr<LoadedModel> LoadModelFile(const std::string& path, const DeviceMap& devices) {
  absl::StatusOr<ModelSpec> spec = ReadModelFileSpec(path);
  if (!spec.ok()) return spec.status();
  absl::StatusOr<std::shared_ptr<Model>> model = BuildModel(*spec);
  if (!model.ok()) return model.status();
  absl::StatusOr<SafetensorsContents> contents = ReadSafetensors(path);
  if (!contents.ok()) return contents.status();
  absl::StatusOr<c10::Device> device = devices.Map("cpu");
  if (!device.ok()) return device.status();
  (*model)->to(*device);
  if (absl::Status s = LoadStateDict(**model, contents->tensors, /*strict=*/true, path); !s.ok()) {
    return s;
  }
  return LoadedModel{*spec, *model};
}

}  // namespace framework
