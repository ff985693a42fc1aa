// In-memory data sets, registered by name like models, so an experiment
// picks one with --dataset. A plugin adds one with a line:
//
//   REGISTER_DATASET("my_data", [](const framework::DataOptions& options) { ... });
#ifndef FRAMEWORK_DATA_DATASET_H_
#define FRAMEWORK_DATA_DATASET_H_

#include <cstdint>
#include <functional>
#include <string>

#include <torch/types.h>

#include "absl/status/statusor.h"
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
};

using DatasetFactory =
    std::function<absl::StatusOr<DataSplits>(const DataOptions& options)>;

Registry<DatasetFactory>& DatasetRegistry();

absl::StatusOr<DataSplits> LoadDataset(const std::string& name,
                                       const DataOptions& options);

}  // namespace framework

#define REGISTER_DATASET(name, factory)                            \
  static ::framework::Registration<::framework::DatasetFactory>    \
      FRAMEWORK_REGISTRY_UNIQUE_NAME(dataset_registration_)(       \
          ::framework::DatasetRegistry(), name, factory, __FILE__)

#endif  // FRAMEWORK_DATA_DATASET_H_
