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

DeclaredOptions WithImageInput(int64_t min_side, DeclaredOptions own) {
  const ImageInput defaults;
  DeclaredOptions declared = {
      IntOption(kInputChannelsKey, defaults.channels, "Input channels (from the data set).")
          .AtLeast(1),
      IntOption(kInputHeightKey, defaults.height, "Input height (from the data set).")
          .AtLeast(static_cast<double>(min_side)),
      IntOption(kInputWidthKey, defaults.width, "Input width (from the data set).")
          .AtLeast(static_cast<double>(min_side)),
  };
  declared.insert(declared.end(), own.begin(), own.end());
  return declared;
}

OptionSpec ClassesOption(int64_t default_value, int64_t min) {
  return IntOption(kClassesKey, default_value, "Classes (from the data set, or --classes).")
      .AtLeast(static_cast<double>(min));
}

ImageInput ImageInputOf(const OptionValues& options) {
  ImageInput input;
  input.channels = options.Int(kInputChannelsKey);
  input.height = options.Int(kInputHeightKey);
  input.width = options.Int(kInputWidthKey);
  return input;
}

bool IsDataSetOption(const std::string& name) {
  return name == kInputChannelsKey || name == kInputHeightKey || name == kInputWidthKey ||
         name == kClassesKey;
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

Registry<ModelEntry>& ModelRegistry() {
  static auto* registry = new Registry<ModelEntry>("model");
  return *registry;
}

absl::StatusOr<OptionValues> ResolveModelOptions(
    const std::string& name, const nlohmann::json& config,
    const std::function<std::string(const std::string& key)>& where) {
  absl::StatusOr<ModelEntry> entry = ModelRegistry().Find(name);
  if (!entry.ok()) return entry.status();
  if (!entry->declares_options()) {
    return absl::FailedPreconditionError(
        absl::StrCat("model '", name, "' reads its own configuration (declares no options)"));
  }
  return ResolveOptions(entry->options, config, absl::StrCat("model '", name, "'"), where);
}

absl::StatusOr<std::shared_ptr<Model>> BuildModel(const ModelSpec& spec) {
  absl::StatusOr<ModelEntry> entry = ModelRegistry().Find(spec.name);
  if (!entry.ok()) return entry.status();
  try {
    if (!entry->declares_options()) return entry->reads_own_config(spec.config);
    absl::StatusOr<OptionValues> options = ResolveModelOptions(
        spec.name, spec.config, [](const std::string& key) { return "'" + key + "'"; });
    if (!options.ok()) return options.status();
    return entry->build(*options);
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
