// In-memory data sets, registered by name like models, so an experiment
// picks one with --dataset. A plugin adds one with a line, declaring the
// options it takes (core/declared_options.h; set with --dataset_options,
// checked by the framework, listed under --helpshort):
//
//   REGISTER_DATASET("my_data", LoadMyData,
//                    {IntOption("size", 1000, "Samples.").AtLeast(1)});
//
// where LoadMyData(const framework::DataOptions&) reads options.options.Int("size").
// A data set without options of its own: REGISTER_DATASET("my_data", LoadMyData).
#ifndef FRAMEWORK_DATA_DATASET_H_
#define FRAMEWORK_DATA_DATASET_H_

#include <cstdint>
#include <functional>
#include <string>

#include <torch/types.h>

#include "absl/status/statusor.h"
#include "framework/core/declared_options.h"
#include "framework/core/registry.h"

namespace framework {

struct Dataset {
  torch::Tensor inputs;   // float32 [N, C, H, W]
  torch::Tensor targets;  // int64 [N]
  int64_t classes = 0;

  int64_t size() const { return targets.defined() ? targets.size(0) : 0; }
  // The first `count` samples (all of them when count is 0 or too large).
  Dataset Head(int64_t count) const;
};

struct DataSplits {
  Dataset train;
  Dataset valid;
};

// What a data set factory may use.
struct DataOptions {
  std::string data_dir;  // empty: the data set's default location
  uint64_t seed = 0;     // for generated data
  // Its declared options, checked, defaults filled in (LoadDataset resolves
  // what is given here again, so a caller may leave it empty).
  OptionValues options;
};

using DatasetFactory =
    std::function<absl::StatusOr<DataSplits>(const DataOptions& options)>;

struct DatasetEntry {
  DatasetEntry() = default;
  DatasetEntry(DatasetFactory factory, DeclaredOptions declared = {})  // NOLINT
      : load(std::move(factory)), options(std::move(declared)) {}
  DatasetFactory load;
  DeclaredOptions options;
};

Registry<DatasetEntry>& DatasetRegistry();

// The options of the registered data set `name`, `given` checked against its
// declaration; `where(key)` says where the user set a key.
absl::StatusOr<OptionValues> ResolveDatasetOptions(
    const std::string& name, const nlohmann::json& given,
    const std::function<std::string(const std::string& key)>& where);

absl::StatusOr<DataSplits> LoadDataset(const std::string& name,
                                       const DataOptions& options);

}  // namespace framework

// REGISTER_DATASET(name, factory[, declared_options])
#define REGISTER_DATASET(name, ...)                                \
  static ::framework::Registration<::framework::DatasetEntry>      \
      FRAMEWORK_REGISTRY_UNIQUE_NAME(dataset_registration_)(       \
          ::framework::DatasetRegistry(), name, ::framework::DatasetEntry(__VA_ARGS__), __FILE__)

#endif  // FRAMEWORK_DATA_DATASET_H_
