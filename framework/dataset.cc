#include "framework/dataset.h"

#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <string>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/types.h>

#include "absl/strings/str_cat.h"
#include "framework/random_state.h"

namespace framework {
namespace {

constexpr uint32_t kIdxImagesMagic = 0x00000803;
constexpr uint32_t kIdxLabelsMagic = 0x00000801;

// Reads a whole file, transparently un-gzipping it.
absl::StatusOr<std::string> ReadMaybeGzipped(const std::string& path) {
  gzFile file = gzopen(path.c_str(), "rb");
  if (file == nullptr) {
    return absl::NotFoundError(absl::StrCat("cannot open ", path, ": ",
                                            std::strerror(errno)));
  }
  std::string contents;
  char buffer[1 << 16];
  while (true) {
    const int read = gzread(file, buffer, sizeof(buffer));
    if (read < 0) {
      int code = 0;
      const std::string message = gzerror(file, &code);
      gzclose(file);
      return absl::DataLossError(
          absl::StrCat(path, ": corrupt or truncated gzip data: ", message));
    }
    if (read == 0) break;
    contents.append(buffer, read);
  }
  // gzread() reports a stream cut short at its end only through gzerror().
  int code = 0;
  const std::string message = gzerror(file, &code);
  gzclose(file);
  if (code != Z_OK && code != Z_STREAM_END) {
    return absl::DataLossError(
        absl::StrCat(path, ": corrupt or truncated gzip data: ", message));
  }
  return contents;
}

uint32_t ReadBigEndian32(const std::string& bytes, size_t offset) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data()) + offset;
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) |
         (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

// Checks an idx header and returns its dimensions.
absl::StatusOr<std::vector<int64_t>> ParseIdxHeader(const std::string& path,
                                                    const std::string& bytes,
                                                    uint32_t magic,
                                                    int dims) {
  const size_t header_size = 4 + 4 * static_cast<size_t>(dims);
  if (bytes.size() >= 4 && ReadBigEndian32(bytes, 0) != magic) {
    return absl::DataLossError(absl::StrCat(
        path, ": not an idx file of ", dims, " dimension(s): magic ",
        ReadBigEndian32(bytes, 0), ", expected ", magic));
  }
  if (bytes.size() < header_size) {
    return absl::DataLossError(absl::StrCat(
        path, ": truncated idx file (", bytes.size(),
        " bytes, shorter than its ", header_size, "-byte header)"));
  }
  std::vector<int64_t> shape;
  size_t expected = header_size;
  int64_t elements = 1;
  for (int i = 0; i < dims; ++i) {
    shape.push_back(ReadBigEndian32(bytes, 4 + 4 * i));
    elements *= shape.back();
  }
  expected += static_cast<size_t>(elements);
  if (bytes.size() != expected) {
    return absl::DataLossError(absl::StrCat(
        path, ": ", bytes.size() < expected ? "truncated" : "oversized",
        " idx file: header promises ", expected, " bytes, file has ",
        bytes.size()));
  }
  return shape;
}

torch::Tensor BytesToTensor(const std::string& bytes, size_t offset,
                            std::vector<int64_t> shape) {
  return torch::from_blob(const_cast<char*>(bytes.data()) + offset, shape,
                          torch::kUInt8)
      .clone();
}

}  // namespace

Dataset Dataset::Head(int64_t count) const {
  if (count <= 0 || count >= size()) return *this;
  Dataset head = *this;
  head.inputs = inputs.narrow(0, 0, count);
  head.targets = targets.narrow(0, 0, count);
  return head;
}

Registry<DatasetFactory>& DatasetRegistry() {
  static auto* registry = [] {
    auto* r = new Registry<DatasetFactory>("dataset");
    r->Register("fashion_mnist", [](const DataOptions& options) {
      return LoadFashionMnist(options.data_dir.empty() ? kFashionMnistDefaultDir
                                                       : options.data_dir);
    });
    r->Register("synthetic", [](const DataOptions& options)
                    -> absl::StatusOr<DataSplits> {
      SyntheticOptions synthetic;
      synthetic.seed = options.seed;
      return MakeSyntheticDataset(synthetic);
    });
    return r;
  }();
  return *registry;
}

absl::StatusOr<DataSplits> LoadDataset(const std::string& name,
                                       const DataOptions& options) {
  absl::StatusOr<DatasetFactory> factory = DatasetRegistry().Find(name);
  if (!factory.ok()) return factory.status();
  return (*factory)(options);
}

absl::StatusOr<Dataset> ReadIdxDataset(const std::string& images_path,
                                       const std::string& labels_path,
                                       int64_t classes) {
  absl::StatusOr<std::string> image_bytes = ReadMaybeGzipped(images_path);
  if (!image_bytes.ok()) return image_bytes.status();
  absl::StatusOr<std::string> label_bytes = ReadMaybeGzipped(labels_path);
  if (!label_bytes.ok()) return label_bytes.status();

  absl::StatusOr<std::vector<int64_t>> image_shape =
      ParseIdxHeader(images_path, *image_bytes, kIdxImagesMagic, 3);
  if (!image_shape.ok()) return image_shape.status();
  absl::StatusOr<std::vector<int64_t>> label_shape =
      ParseIdxHeader(labels_path, *label_bytes, kIdxLabelsMagic, 1);
  if (!label_shape.ok()) return label_shape.status();
  if ((*image_shape)[0] != (*label_shape)[0]) {
    return absl::DataLossError(absl::StrCat(
        images_path, " holds ", (*image_shape)[0], " images but ", labels_path,
        " holds ", (*label_shape)[0], " labels"));
  }

  Dataset dataset;
  dataset.classes = classes;
  const std::vector<int64_t>& shape = *image_shape;
  dataset.inputs = BytesToTensor(*image_bytes, 16, {shape[0], 1, shape[1], shape[2]})
                       .to(torch::kFloat32)
                       .div_(255.0)
                       .sub_(0.5)
                       .div_(0.5);
  dataset.targets = BytesToTensor(*label_bytes, 8, {shape[0]}).to(torch::kInt64);
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

}  // namespace framework
