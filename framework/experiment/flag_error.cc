#include "framework/experiment/flag_error.h"

#include "absl/strings/str_cat.h"

namespace framework {

absl::Status FlagError(absl::string_view flag, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat("--", flag, ": ", problem));
}

absl::StatusOr<nlohmann::json> ParseJsonObjectFlag(absl::string_view flag,
                                                   const std::string& text) {
  if (text.empty()) return nlohmann::json::object();
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    return FlagError(flag, absl::StrCat("'", text, "' is not a JSON object (", e.what(), ")"));
  }
  if (!json.is_object()) {
    return FlagError(flag, absl::StrCat("'", text, "' is not a JSON object (it is a JSON ",
                                        json.type_name(), ")"));
  }
  return json;
}

}  // namespace framework
