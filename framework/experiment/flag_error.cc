#include "framework/experiment/flag_error.h"

#include <map>

#include "absl/strings/str_cat.h"

namespace framework {

namespace {

std::map<std::string, std::string>& Locations() {
  static auto* locations = new std::map<std::string, std::string>();
  return *locations;
}

}  // namespace

absl::Status FlagError(absl::string_view flag, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(FlagName(flag), ": ", problem));
}

std::string FlagName(absl::string_view flag) {
  auto it = Locations().find(std::string(flag));
  if (it == Locations().end()) return absl::StrCat("--", flag);
  return absl::StrCat("--", flag, " (", it->second, ")");
}

void NoteFlagLocation(const std::string& flag, const std::string& location) {
  Locations()[flag] = location;
}

void ClearFlagLocation(const std::string& flag) { Locations().erase(flag); }

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
