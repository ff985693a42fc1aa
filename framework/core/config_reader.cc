#include "framework/core/config_reader.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace framework {

ConfigReader::ConfigReader(const nlohmann::json& config, std::string what)
    : config_(config), what_(std::move(what)) {
  if (!config_.is_object() && !config_.is_null()) {
    object_status_ = absl::InvalidArgumentError(
        absl::StrCat(what_, ": configuration must be a JSON object, got ",
                     config_.dump()));
  }
}

absl::Status ConfigReader::TypeError(const std::string& key,
                                     const char* expected) const {
  return absl::InvalidArgumentError(absl::StrCat(
      what_, ": option '", key, "' must be ", expected, ", got ",
      config_.at(key).dump()));
}

absl::Status ConfigReader::RangeError(const std::string& key,
                                      const std::string& value,
                                      const std::string& range) const {
  return absl::InvalidArgumentError(absl::StrCat(
      what_, ": option '", key, "' is ", value, ", must be ", range));
}

absl::StatusOr<int64_t> ConfigReader::Int(const std::string& key,
                                          int64_t default_value,
                                          int64_t min_value,
                                          int64_t max_value) {
  if (!object_status_.ok()) return object_status_;
  read_keys_.insert(key);
  int64_t value = default_value;
  if (config_.is_object() && config_.contains(key)) {
    const nlohmann::json& item = config_.at(key);
    if (!item.is_number_integer()) return TypeError(key, "an integer");
    value = item.get<int64_t>();
  }
  if (value < min_value || value > max_value) {
    return RangeError(key, std::to_string(value),
                      max_value == INT64_MAX
                          ? absl::StrCat(">= ", min_value)
                          : absl::StrCat("in [", min_value, ", ", max_value, "]"));
  }
  return value;
}

absl::StatusOr<double> ConfigReader::Double(const std::string& key,
                                            double default_value,
                                            double min_value,
                                            double max_value) {
  if (!object_status_.ok()) return object_status_;
  read_keys_.insert(key);
  double value = default_value;
  if (config_.is_object() && config_.contains(key)) {
    const nlohmann::json& item = config_.at(key);
    if (!item.is_number()) return TypeError(key, "a number");
    value = item.get<double>();
  }
  if (!(value >= min_value && value <= max_value)) {
    return RangeError(key, absl::StrCat(value),
                      absl::StrCat("in [", min_value, ", ", max_value, "]"));
  }
  return value;
}

absl::StatusOr<std::vector<int64_t>> ConfigReader::IntList(
    const std::string& key, std::vector<int64_t> default_value,
    int64_t min_value) {
  if (!object_status_.ok()) return object_status_;
  read_keys_.insert(key);
  std::vector<int64_t> values = std::move(default_value);
  if (config_.is_object() && config_.contains(key)) {
    const nlohmann::json& item = config_.at(key);
    if (!item.is_array()) return TypeError(key, "a list of integers");
    values.clear();
    for (const nlohmann::json& element : item) {
      if (!element.is_number_integer()) {
        return TypeError(key, "a list of integers");
      }
      values.push_back(element.get<int64_t>());
    }
  }
  for (int64_t value : values) {
    if (value < min_value) {
      return RangeError(key, absl::StrCat("[", absl::StrJoin(values, ", "), "]"),
                        absl::StrCat("a list of values >= ", min_value));
    }
  }
  return values;
}

absl::Status ConfigReader::Finish() const {
  if (!object_status_.ok()) return object_status_;
  if (!config_.is_object()) return absl::OkStatus();
  std::vector<std::string> unknown;
  for (auto it = config_.begin(); it != config_.end(); ++it) {
    if (read_keys_.count(it.key()) == 0) unknown.push_back(it.key());
  }
  if (unknown.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      what_, ": unknown option(s) ", absl::StrJoin(unknown, ", "),
      "; known options: ", absl::StrJoin(read_keys_, ", ")));
}

}  // namespace framework
