#include "tools/model_spec_flags.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "framework/experiment/flag_error.h"
#include "framework/experiment/plugin_option_flags.h"

namespace framework {

absl::StatusOr<ModelSpec> ModelSpecFromFlags(const std::string& path, const WeightsFormat& format,
                                             const std::string& model,
                                             const std::string& model_options) {
  if (!model.empty()) {
    ModelSpec spec;
    spec.name = model;
    absl::StatusOr<nlohmann::json> config = ParseJsonObjectFlag("model_options", model_options);
    if (!config.ok()) return config.status();
    spec.config = *std::move(config);
    if (absl::Status checked = CheckModelOptionsFlag(spec.name, spec.config, "model_options");
        !checked.ok()) {
      return checked;
    }
    return spec;
  }
  if (!format.read_model_spec) {
    return FlagError("model", absl::StrCat("a ", format.description, " file (", path,
                                           ") does not name its model; give --model"));
  }
  return format.read_model_spec(path);
}

}  // namespace framework
