// In-memory data sets: Fashion-MNIST read from its idx files, and a synthetic
// set for tests. Data sets are registered by name like models, so an
// experiment picks one with --dataset.
#ifndef FRAMEWORK_DATASET_H_
#define FRAMEWORK_DATASET_H_

#include <cstdint>
#include <functional>
#include <string>

#include <torch/types.h>

#include "absl/status/statusor.h"
#include "framework/registry.h"

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

// Reads an idx image file (magic 2051, uint8 [N, H, W]) and an idx label file
// (magic 2049, uint8 [N]), gzip-compressed or not. Images are scaled to
// [-1, 1] as torchvision's ToTensor + Normalize((0.5,), (0.5,)) does.
absl::StatusOr<Dataset> ReadIdxDataset(const std::string& images_path,
                                       const std::string& labels_path,
                                       int64_t classes);

// Debian's dataset-fashion-mnist installs the files here.
inline constexpr char kFashionMnistDefaultDir[] =
    "/usr/share/datasets/fashion-mnist";

absl::StatusOr<DataSplits> LoadFashionMnist(const std::string& dir);

// Learnable generated images: each class has a fixed random prototype and a
// sample is its prototype plus Gaussian noise. Same options, same data.
struct SyntheticOptions {
  int64_t train_size = 512;
  int64_t valid_size = 128;
  int64_t classes = 10;
  int64_t channels = 1;
  int64_t height = 28;
  int64_t width = 28;
  double noise = 0.5;
  uint64_t seed = 0;
};
DataSplits MakeSyntheticDataset(const SyntheticOptions& options);

}  // namespace framework

#endif  // FRAMEWORK_DATASET_H_
