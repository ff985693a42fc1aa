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

Registry<DatasetFactory>& DatasetRegistry() {
  static auto* registry = new Registry<DatasetFactory>("dataset");
  return *registry;
}

absl::StatusOr<DataSplits> LoadDataset(const std::string& name, const DataOptions& options) {
  absl::StatusOr<DatasetFactory> factory = DatasetRegistry().Find(name);
  if (!factory.ok()) return factory.status();
  return (*factory)(options);
}

}  // namespace framework
