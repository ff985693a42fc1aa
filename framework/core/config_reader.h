// Typed, validated reading of a plain-data (JSON) configuration object.
//
// Model and trainer configurations are JSON objects so they can be written to
// files and rebuilt later. ConfigReader gives each plugin typed access with
// defaults and range checks, and Finish() rejects keys that nobody read, so a
// typo such as "dropuot" is an error rather than a silently ignored setting.
#ifndef FRAMEWORK_CORE_CONFIG_READER_H_
#define FRAMEWORK_CORE_CONFIG_READER_H_

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace framework {

class ConfigReader {
 public:
  // `what` names the configuration in errors, e.g. "model 'lenet'".
  ConfigReader(const nlohmann::json& config, std::string what);

  absl::StatusOr<int64_t> Int(const std::string& key, int64_t default_value,
                              int64_t min_value, int64_t max_value = INT64_MAX);
  absl::StatusOr<double> Double(const std::string& key, double default_value,
                                double min_value, double max_value);
  absl::StatusOr<std::vector<int64_t>> IntList(
      const std::string& key, std::vector<int64_t> default_value,
      int64_t min_value);

  // OK when every key of the configuration was read.
  absl::Status Finish() const;

 private:
  absl::Status TypeError(const std::string& key, const char* expected) const;
  absl::Status RangeError(const std::string& key, const std::string& value,
                          const std::string& range) const;

  const nlohmann::json& config_;
  std::string what_;
  absl::Status object_status_;
  std::set<std::string> read_keys_;
};

}  // namespace framework

#endif  // FRAMEWORK_CORE_CONFIG_READER_H_
