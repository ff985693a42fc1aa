// Where the tensors of a saved file go when it is loaded: the map_location
// of torch.load.
//
// A spec is empty (everything onto the run's device), one device ("cpu",
// "cuda", "cuda:1": everything there), or a list of recorded=target pairs
// ("cuda:1=cuda:0,cuda:0=cpu"; devices not listed stay where they were
// recorded). A target this build or machine cannot use is an error that
// names the tensor's recorded device and how to remap it.
#ifndef FRAMEWORK_CORE_DEVICE_MAP_H_
#define FRAMEWORK_CORE_DEVICE_MAP_H_

#include <map>
#include <optional>
#include <string>

#include <c10/core/Device.h>

#include "absl/status/statusor.h"

namespace framework {

class DeviceMap {
 public:
  // Everything onto `default_device`.
  explicit DeviceMap(c10::Device default_device) : all_to_(default_device) {}

  static absl::StatusOr<DeviceMap> Parse(const std::string& spec, c10::Device default_device);

  // The device for a tensor recorded as saved on `recorded` (e.g. "cuda:1").
  absl::StatusOr<c10::Device> Map(const std::string& recorded) const;

  // Whether every recorded device maps to the CPU, whatever it is.
  bool MapsEverythingToCpu() const { return all_to_.has_value() && all_to_->is_cpu(); }

 private:
  DeviceMap() = default;
  std::optional<c10::Device> all_to_;
  std::map<std::string, c10::Device> pairs_;
};

// Parses "cpu", "cuda", "cuda:N" into a device this build can use now.
absl::StatusOr<c10::Device> ParseUsableDevice(const std::string& text);

}  // namespace framework

#endif  // FRAMEWORK_CORE_DEVICE_MAP_H_
