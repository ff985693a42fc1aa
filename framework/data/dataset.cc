#include "framework/data/dataset.h"

#include <string>
#include <exception>
#include <tuple>
#include <utility>
#include <vector>

#include <torch/types.h>

#include "absl/strings/str_cat.h"
#include "framework/model/model.h"
#include "glog/logging.h"

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

std::pair<std::vector<torch::Tensor>, torch::Tensor> SampleSource::GatherEach(
    const torch::Tensor& indices, int64_t epoch) const {
  std::pair<torch::Tensor, torch::Tensor> batch = Gather(indices, epoch);
  return {batch.first.unbind(0), batch.second};
}

std::pair<torch::Tensor, torch::Tensor> Dataset::Gather(const torch::Tensor& indices,
                                                        int64_t epoch) const {
  if (transforms == nullptr || transforms->empty() || indices.numel() == 0) {
    if (source != nullptr) return source->Gather(indices, epoch);
    return {inputs.index_select(0, indices), targets.index_select(0, indices)};
  }
  // Sample by sample, each transformed as soon as it is read: a batch of
  // large images is never held whole before its crops make it small.
  const torch::Tensor where = indices.to(torch::kInt64).contiguous();
  const int64_t* index = where.data_ptr<int64_t>();
  std::vector<torch::Tensor> samples, labels;
  samples.reserve(where.numel());
  labels.reserve(where.numel());
  for (int64_t b = 0; b < where.numel(); ++b) {
    const torch::Tensor one = where.narrow(0, b, 1);
    torch::Tensor sample, label;
    if (source != nullptr) {
      std::pair<std::vector<torch::Tensor>, torch::Tensor> read = source->GatherEach(one, epoch);
      sample = read.first.at(0);
      label = read.second;
    } else {
      sample = inputs[index[b]];
      label = targets.index_select(0, one);
    }
    samples.push_back(transforms->Apply(sample, transform_seed, epoch, index[b]));
    labels.push_back(label);
  }
  return {torch::stack(samples), torch::cat(labels)};
}

bool BadSampleLog::FirstReport(int64_t index) {
  std::lock_guard<std::mutex> lock(mutex_);
  return reported_.insert(index).second;
}

GatheredBatch Dataset::GatherSkipping(const torch::Tensor& indices, int64_t epoch) const {
  GatheredBatch batch;
  if (!skip_bad_samples) {
    std::tie(batch.inputs, batch.targets) = Gather(indices, epoch);
    return batch;
  }
  try {
    std::tie(batch.inputs, batch.targets) = Gather(indices, epoch);
    return batch;
  } catch (const std::exception&) {
    // Sample by sample, to find which.
  }
  const torch::Tensor where = indices.to(torch::kInt64).contiguous();
  std::vector<torch::Tensor> inputs, targets;
  for (int64_t b = 0; b < where.numel(); ++b) {
    try {
      auto [input, target] = Gather(where.narrow(0, b, 1), epoch);
      inputs.push_back(input);
      targets.push_back(target);
    } catch (const std::exception& e) {
      ++batch.skipped;
      const int64_t index = where[b].item<int64_t>();
      if (bad_samples->FirstReport(index)) {
        LOG(WARNING) << "Skipping sample " << index << " (--skip_bad_samples): " << e.what();
      }
    }
  }
  if (inputs.empty()) {
    std::tie(batch.inputs, batch.targets) = Gather(where.narrow(0, 0, 0), epoch);
  } else {
    batch.inputs = torch::cat(inputs);
    batch.targets = torch::cat(targets);
  }
  return batch;
}

absl::StatusOr<Dataset> Dataset::WithTransforms(std::shared_ptr<const SampleTransforms> with,
                                                uint64_t seed, const std::string& flag) const {
  Dataset transformed = *this;
  transformed.transforms = std::move(with);
  transformed.transform_seed = seed;
  if (transformed.transforms == nullptr || transformed.transforms->empty()) return transformed;
  nlohmann::json facts = ModelFacts();
  if (!facts.contains(kInputChannelsKey) || !facts.contains(kInputHeightKey) ||
      !facts.contains(kInputWidthKey)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, ": transforms take images [C, H, W]; this data set's samples "
                     "are not images"));
  }
  absl::StatusOr<std::vector<int64_t>> shape = transformed.transforms->OutputShape(
      {facts[kInputChannelsKey].get<int64_t>(), facts[kInputHeightKey].get<int64_t>(),
       facts[kInputWidthKey].get<int64_t>()});
  if (!shape.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, ": ", shape.status().message()));
  }
  facts[kInputChannelsKey] = (*shape)[0];
  facts[kInputHeightKey] = (*shape)[1];
  facts[kInputWidthKey] = (*shape)[2];
  transformed.model_facts = facts;
  return transformed;
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
