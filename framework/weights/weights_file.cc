#include "framework/weights/weights_file.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace framework {

Registry<WeightsFormat>& WeightsFormatRegistry() {
  static auto* registry = new Registry<WeightsFormat>("weights format");
  return *registry;
}

absl::StatusOr<std::string> DetectWeightsFormat(const std::string& path) {
  std::error_code error;
  if (!std::filesystem::exists(path, error)) {
    return absl::NotFoundError(absl::StrCat(path, " does not exist"));
  }
  std::vector<std::string> matches;
  std::vector<std::string> known;
  for (const auto& [name, format] : WeightsFormatRegistry().Entries()) {
    known.push_back(format.description);
    if (format.recognises(path)) matches.push_back(name);
  }
  if (matches.size() == 1) return matches.front();
  if (matches.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, " is not a file of any known weights format (", absl::StrJoin(known, ", "), ")"));
  }
  return absl::InternalError(absl::StrCat(path, " is claimed by several weights formats: ",
                                          absl::StrJoin(matches, ", ")));
}

absl::StatusOr<std::vector<NamedTensor>> ReadWeights(const std::string& path,
                                                     const DeviceMap& devices) {
  absl::StatusOr<std::string> name = DetectWeightsFormat(path);
  if (!name.ok()) return name.status();
  absl::StatusOr<WeightsFormat> format = WeightsFormatRegistry().Find(*name);
  if (!format.ok()) return format.status();
  return format->read(path, devices);
}

}  // namespace framework
