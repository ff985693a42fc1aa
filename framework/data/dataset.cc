#include "framework/data/dataset.h"

#include <string>

#include <torch/types.h>

#include "absl/strings/str_cat.h"

namespace framework {

Dataset Dataset::Head(int64_t count) const {
  if (count <= 0 || count >= size()) return *this;
  Dataset head = *this;
  head.inputs = inputs.narrow(0, 0, count);
  head.targets = targets.narrow(0, 0, count);
  return head;
}

Registry<DatasetEntry>& DatasetRegistry() {
  static auto* registry = new Registry<DatasetEntry>("dataset");
  return *registry;
}

absl::StatusOr<OptionValues> ResolveDatasetOptions(
    const std::string& name, const nlohmann::json& given,
    const std::function<std::string(const std::string& key)>& where) {
  absl::StatusOr<DatasetEntry> entry = DatasetRegistry().Find(name);
  if (!entry.ok()) return entry.status();
  return ResolveOptions(entry->options, given, absl::StrCat("dataset '", name, "'"), where);
}

absl::StatusOr<DataSplits> LoadDataset(const std::string& name, const DataOptions& options) {
  absl::StatusOr<DatasetEntry> entry = DatasetRegistry().Find(name);
  if (!entry.ok()) return entry.status();
  DataOptions resolved = options;
  absl::StatusOr<OptionValues> values = ResolveDatasetOptions(
      name, options.options.json(), [](const std::string& key) { return "'" + key + "'"; });
  if (!values.ok()) return values.status();
  resolved.options = *std::move(values);
  return entry->load(resolved);
}

}  // namespace framework
