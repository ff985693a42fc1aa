// The data sets every binary has: fashion_mnist (Debian's
// dataset-fashion-mnist) and synthetic.
#include "framework/data/builtin_datasets.h"

#include <torch/types.h>

#include "absl/strings/str_cat.h"
#include "framework/core/random_state.h"
#include "framework/formats/idx_file.h"

namespace framework {

absl::StatusOr<Dataset> ReadIdxDataset(const std::string& images_path,
                                       const std::string& labels_path,
                                       int64_t classes) {
  absl::StatusOr<torch::Tensor> images = ReadIdxFile(images_path, IdxKind::kImages);
  if (!images.ok()) return images.status();
  absl::StatusOr<torch::Tensor> labels = ReadIdxFile(labels_path, IdxKind::kLabels);
  if (!labels.ok()) return labels.status();
  if (images->size(0) != labels->size(0)) {
    return absl::DataLossError(absl::StrCat(images_path, " holds ", images->size(0),
                                            " images but ", labels_path, " holds ",
                                            labels->size(0), " labels"));
  }

  Dataset dataset;
  dataset.classes = classes;
  dataset.inputs = images->unsqueeze(1).to(torch::kFloat32).div_(255.0).sub_(0.5).div_(0.5);
  dataset.targets = labels->to(torch::kInt64);
  dataset.pixels = PixelNormalization{0.5, 0.5};
  if (dataset.size() > 0) {
    const int64_t max_label = dataset.targets.max().item<int64_t>();
    if (max_label >= classes) {
      return absl::DataLossError(absl::StrCat(labels_path, ": label ", max_label,
                                              " is out of range for ", classes,
                                              " classes"));
    }
  }
  return dataset;
}

absl::StatusOr<DataSplits> LoadFashionMnist(const std::string& dir) {
  constexpr int64_t kClasses = 10;
  auto with_hint = [&dir](const absl::Status& status) {
    return absl::Status(
        status.code(),
        absl::StrCat(status.message(),
                     dir == kFashionMnistDefaultDir
                         ? " (install Debian's dataset-fashion-mnist package: "
                           "apt-get install dataset-fashion-mnist, or pass "
                           "--data_dir)"
                         : " (--data_dir must hold Fashion-MNIST's four idx "
                           "files, as Debian's dataset-fashion-mnist package "
                           "installs them in " +
                               std::string(kFashionMnistDefaultDir) + ")"));
  };
  DataSplits splits;
  absl::StatusOr<Dataset> train =
      ReadIdxDataset(dir + "/train-images-idx3-ubyte.gz",
                     dir + "/train-labels-idx1-ubyte.gz", kClasses);
  if (!train.ok()) return with_hint(train.status());
  absl::StatusOr<Dataset> test =
      ReadIdxDataset(dir + "/t10k-images-idx3-ubyte.gz",
                     dir + "/t10k-labels-idx1-ubyte.gz", kClasses);
  if (!test.ok()) return with_hint(test.status());
  splits.train = *std::move(train);
  splits.valid = *std::move(test);
  return splits;
}

DataSplits MakeSyntheticDataset(const SyntheticOptions& options) {
  torch::Generator generator = MakeGenerator(options.seed);
  const auto float_options = torch::TensorOptions().dtype(torch::kFloat32);
  const torch::Tensor prototypes = torch::randn(
      {options.classes, options.channels, options.height, options.width},
      generator, float_options);
  auto make = [&](int64_t size) {
    Dataset dataset;
    dataset.classes = options.classes;
    dataset.targets = torch::randint(options.classes, {size}, generator,
                                     torch::TensorOptions().dtype(torch::kInt64));
    dataset.inputs =
        prototypes.index_select(0, dataset.targets) +
        options.noise * torch::randn({size, options.channels, options.height,
                                      options.width},
                                     generator, float_options);
    return dataset;
  };
  DataSplits splits;
  splits.train = make(options.train_size);
  splits.valid = make(options.valid_size);
  return splits;
}


REGISTER_DATASET("fashion_mnist", [](const DataOptions& options) {
  return LoadFashionMnist(options.data_dir.empty() ? kFashionMnistDefaultDir : options.data_dir);
});

REGISTER_DATASET(
    "synthetic",
    [](const DataOptions& options) -> absl::StatusOr<DataSplits> {
      SyntheticOptions synthetic;
      synthetic.train_size = options.options.Int("train_size");
      synthetic.valid_size = options.options.Int("valid_size");
      synthetic.classes = options.options.Int("classes");
      synthetic.channels = options.options.Int("channels");
      synthetic.height = options.options.Int("height");
      synthetic.width = options.options.Int("width");
      synthetic.noise = options.options.Double("noise");
      synthetic.seed = options.seed;
      return MakeSyntheticDataset(synthetic);
    },
    [] {
      const SyntheticOptions defaults;
      return DeclaredOptions{
          IntOption("train_size", defaults.train_size, "Training samples.").AtLeast(1),
          IntOption("valid_size", defaults.valid_size, "Validation samples.").AtLeast(1),
          IntOption("classes", defaults.classes, "Classes, one pattern each.").AtLeast(2),
          IntOption("channels", defaults.channels, "Image channels.").AtLeast(1),
          IntOption("height", defaults.height, "Image height.").AtLeast(1),
          IntOption("width", defaults.width, "Image width.").AtLeast(1),
          DoubleOption("noise", defaults.noise, "Standard deviation of the added noise.")
              .AtLeast(0),
      };
    }());

}  // namespace framework
