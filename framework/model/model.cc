#include "framework/model/model.h"

#include <exception>

#include "absl/strings/str_cat.h"

namespace framework {

absl::StatusOr<ImageInput> ReadImageInput(ConfigReader& reader, int64_t min_side) {
  ImageInput input;
  absl::StatusOr<int64_t> channels = reader.Int(kInputChannelsKey, input.channels, 1);
  if (!channels.ok()) return channels.status();
  absl::StatusOr<int64_t> height = reader.Int(kInputHeightKey, input.height, min_side);
  if (!height.ok()) return height.status();
  absl::StatusOr<int64_t> width = reader.Int(kInputWidthKey, input.width, min_side);
  if (!width.ok()) return width.status();
  input.channels = *channels;
  input.height = *height;
  input.width = *width;
  return input;
}

nlohmann::json ModelSpec::ToJson() const {
  return nlohmann::json{{"name", name}, {"config", config}};
}

absl::StatusOr<ModelSpec> ModelSpec::FromJson(const nlohmann::json& json) {
  if (!json.is_object() || !json.contains("name") ||
      !json.at("name").is_string()) {
    return absl::InvalidArgumentError(
        absl::StrCat("model spec must be an object with a string 'name', got ",
                     json.dump()));
  }
  ModelSpec spec;
  spec.name = json.at("name").get<std::string>();
  if (json.contains("config")) spec.config = json.at("config");
  return spec;
}

Registry<ModelFactory>& ModelRegistry() {
  static auto* registry = new Registry<ModelFactory>("model");
  return *registry;
}

absl::StatusOr<std::shared_ptr<Model>> BuildModel(const ModelSpec& spec) {
  absl::StatusOr<ModelFactory> factory = ModelRegistry().Find(spec.name);
  if (!factory.ok()) return factory.status();
  try {
    absl::StatusOr<std::shared_ptr<Model>> model = (*factory)(spec.config);
    if (!model.ok()) return model.status();
    return model;
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        "building model '", spec.name, "' with ", spec.config.dump(),
        " failed: ", e.what()));
  }
}

int64_t CountParameters(const torch::nn::Module& module) {
  int64_t count = 0;
  for (const torch::Tensor& parameter : module.parameters()) {
    count += parameter.numel();
  }
  return count;
}

}  // namespace framework
