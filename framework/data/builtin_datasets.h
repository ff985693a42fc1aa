// The built-in data sets' loaders, for tests and tools that call them
// directly: Fashion-MNIST from its idx files, and generated data.
#ifndef FRAMEWORK_DATA_BUILTIN_DATASETS_H_
#define FRAMEWORK_DATA_BUILTIN_DATASETS_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "framework/data/dataset.h"

namespace framework {

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

#endif  // FRAMEWORK_DATA_BUILTIN_DATASETS_H_
