#include "framework/core/device_map.h"

#include <exception>

#include <torch/cuda.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace framework {
namespace {

absl::StatusOr<c10::Device> ParseDevice(const std::string& text) {
  try {
    c10::Device device(text);
    if (!device.is_cpu() && !device.is_cuda()) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", text, "' is not supported; use cpu, cuda or cuda:N"));
    }
    return device;
  } catch (const std::exception&) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", text, "' is not a device (cpu, cuda, cuda:N)"));
  }
}

absl::Status CheckUsable(const c10::Device& device) {
  if (!device.is_cuda()) return absl::OkStatus();
  if (!torch::cuda::is_available()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "'", device.str(), "' needs CUDA, which this LibTorch build or machine does not provide"));
  }
  if (device.has_index() && device.index() >= static_cast<int>(torch::cuda::device_count())) {
    return absl::FailedPreconditionError(absl::StrCat("'", device.str(), "' does not exist; ",
                                                      torch::cuda::device_count(),
                                                      " CUDA device(s) visible"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<c10::Device> ParseUsableDevice(const std::string& text) {
  absl::StatusOr<c10::Device> device = ParseDevice(text);
  if (!device.ok()) return device.status();
  if (absl::Status status = CheckUsable(*device); !status.ok()) return status;
  return device;
}

absl::StatusOr<DeviceMap> DeviceMap::Parse(const std::string& spec, c10::Device default_device) {
  const std::string trimmed(absl::StripAsciiWhitespace(spec));
  if (trimmed.empty()) return DeviceMap(default_device);
  if (trimmed.find('=') == std::string::npos) {
    absl::StatusOr<c10::Device> device = ParseUsableDevice(trimmed);
    if (!device.ok()) return device.status();
    return DeviceMap(*device);
  }
  DeviceMap map;
  for (absl::string_view pair : absl::StrSplit(trimmed, ',', absl::SkipWhitespace())) {
    std::vector<std::string> sides = absl::StrSplit(pair, '=');
    if (sides.size() != 2) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", pair, "' is not a recorded=target pair (e.g. cuda:1=cpu)"));
    }
    absl::StatusOr<c10::Device> from = ParseDevice(std::string(absl::StripAsciiWhitespace(sides[0])));
    if (!from.ok()) return from.status();
    absl::StatusOr<c10::Device> to =
        ParseUsableDevice(std::string(absl::StripAsciiWhitespace(sides[1])));
    if (!to.ok()) return to.status();
    map.pairs_.emplace(from->str(), *to);
  }
  return map;
}

absl::StatusOr<c10::Device> DeviceMap::Map(const std::string& recorded) const {
  if (all_to_.has_value()) return *all_to_;
  absl::StatusOr<c10::Device> device = ParseDevice(recorded);
  if (!device.ok()) return device.status();
  auto it = pairs_.find(device->str());
  if (it != pairs_.end()) return it->second;
  if (absl::Status status = CheckUsable(*device); !status.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "saved on ", recorded, ", which is not mapped: ", status.message(),
        " (add ", recorded, "=cpu to --map_location)"));
  }
  return device;
}

}  // namespace framework
