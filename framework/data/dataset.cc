#include "framework/data/dataset.h"

#include <string>

#include <torch/types.h>

#include "absl/strings/str_cat.h"
#include "framework/model/model.h"

namespace framework {

Dataset Dataset::Head(int64_t count) const {
  if (count <= 0 || count >= size()) return *this;
  Dataset head = *this;
  if (source != nullptr) {
    head.source = source->Head(count);
    return head;
  }
  head.inputs = inputs.narrow(0, 0, count);
  head.targets = targets.narrow(0, 0, count);
  return head;
}

nlohmann::json Dataset::ModelFacts() const {
  if (!model_facts.empty()) return model_facts;
  nlohmann::json facts = nlohmann::json::object();
  if (inputs.defined() && inputs.dim() == 4) {
    facts[kInputChannelsKey] = inputs.size(1);
    facts[kInputHeightKey] = inputs.size(2);
    facts[kInputWidthKey] = inputs.size(3);
  }
  facts[kClassesKey] = classes;
  return facts;
}

std::pair<torch::Tensor, torch::Tensor> Dataset::Gather(const torch::Tensor& indices,
                                                        int64_t epoch) const {
  if (source != nullptr) return source->Gather(indices, epoch);
  return {inputs.index_select(0, indices), targets.index_select(0, indices)};
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
