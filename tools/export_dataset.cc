// export_dataset: writes a registered image data set to disk in the layouts
// the image_folder and tar_shards data sets read, so data in memory (the
// Fashion-MNIST idx files) exists as files a researcher's own data would be:
//
//   bazel run //tools:export_dataset -- --out=/tmp/fmnist_png --format=image_folder
//   bazel run //tools:export_dataset -- --out=/tmp/fmnist_tar --format=tar_shards --shard_size=10000
//
// Pixels are recovered exactly from the data set's inputs (its recorded
// normalisation inverted; a value that is not an 8-bit pixel is an error)
// and written as lossless PNGs, so a run on the exported files sees the
// bits of a run on the original. image_folder: out/{train,valid}/<class>/
// <index>.png, class folders zero-padded so torchvision's sorted order is
// the class index. tar_shards: out/{train,valid}-NNNNNN.tar of
// <index>.png + <index>.cls members in the data set's order, so the shards'
// samples are numbered as the original's. --out must not exist yet (or be
// empty): nothing is ever written over.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include <torch/types.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "framework/core/durable_file.h"
#include "framework/core/plugin_library.h"
#include "framework/core/user_path.h"
#include "framework/data/dataset.h"
#include "framework/experiment/flag_error.h"
#include "framework/experiment/plugin_option_flags.h"
#include "framework/formats/png_image.h"
#include "framework/formats/tar_archive.h"
#include "gflags/gflags.h"
#include "glog/logging.h"
#include "tools/tool_help.h"

DEFINE_string(dataset, "fashion_mnist", "Registered data set to export.");
DEFINE_string(dataset_options, "{}", "JSON object of the data set's options.");
DEFINE_string(data_dir, "", "Directory of the data set's files (default: its Debian package's).");
DEFINE_uint64(seed, 1, "Seed of generated data sets.");
DEFINE_string(out, "", "Directory to create (must not exist, or be empty).");
DEFINE_string(format, "image_folder", "image_folder (PNG files) or tar_shards (WebDataset tar).");
DEFINE_int64(shard_size, 10000, "tar_shards: samples per shard (>= 1).");
DEFINE_int64(train_samples, 0, "Export only the first N training samples; 0: all.");
DEFINE_int64(valid_samples, 0, "Export only the first N validation samples; 0: all.");
DEFINE_string(plugins, "", "Comma-separated plugin shared objects (.so) to load first.");

namespace framework {
namespace {

namespace fs = std::filesystem;

// uint8 pixels whose normalisation gives exactly `inputs` [B, C, H, W].
absl::StatusOr<torch::Tensor> PixelsOf(const torch::Tensor& inputs, const PixelNormalization& norm,
                                       int64_t first) {
  const torch::Tensor pixels = (inputs.to(torch::kFloat64) * norm.std + norm.mean).mul_(255).round_();
  const torch::Tensor bytes = pixels.clamp(0, 255).to(torch::kUInt8);
  const torch::Tensor again = bytes.to(torch::kFloat32).div_(255.0).sub_(norm.mean).div_(norm.std);
  const torch::Tensor wrong = (again != inputs).flatten(1).any(1);
  if (wrong.any().item<bool>()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--dataset ", FLAGS_dataset, ": sample ", first + wrong.nonzero()[0][0].item<int64_t>(),
        " is not 8-bit pixels normalised as the data set records (mean ", norm.mean, ", std ",
        norm.std, "), so PNGs could not hold it exactly"));
  }
  return bytes;
}

class Writer {
 public:
  virtual ~Writer() = default;
  virtual absl::Status Add(int64_t index, int64_t label, const std::string& png) = 0;
  virtual absl::Status Close() = 0;
};

class FolderWriter : public Writer {
 public:
  FolderWriter(std::string dir, int64_t classes, int64_t count)
      : dir_(std::move(dir)),
        class_digits_(static_cast<int>(absl::StrCat(std::max<int64_t>(classes - 1, 0)).size())),
        index_digits_(static_cast<int>(absl::StrCat(std::max<int64_t>(count - 1, 0)).size())) {}
  absl::Status Add(int64_t index, int64_t label, const std::string& png) override {
    const std::string class_dir = absl::StrFormat("%s/%0*d", dir_, class_digits_, label);
    std::error_code error;
    fs::create_directories(class_dir, error);
    if (error) return absl::PermissionDeniedError(absl::StrCat(class_dir, ": ", error.message()));
    return WriteStringToFile(absl::StrFormat("%s/%0*d.png", class_dir, index_digits_, index), png,
                             /*sync=*/false);
  }
  absl::Status Close() override { return absl::OkStatus(); }

 private:
  std::string dir_;
  int class_digits_;
  int index_digits_;
};

class ShardWriter : public Writer {
 public:
  ShardWriter(std::string prefix, int64_t shard_size)
      : prefix_(std::move(prefix)), shard_size_(shard_size) {}
  absl::Status Add(int64_t index, int64_t label, const std::string& png) override {
    if (index % shard_size_ == 0) {
      if (absl::Status closed = Close(); !closed.ok()) return closed;
      absl::StatusOr<std::unique_ptr<TarWriter>> shard =
          TarWriter::Create(absl::StrFormat("%s-%06d.tar", prefix_, index / shard_size_));
      if (!shard.ok()) return shard.status();
      shard_ = *std::move(shard);
    }
    const std::string key = absl::StrFormat("%08d", index);
    if (absl::Status status = shard_->Add(key + ".png", png); !status.ok()) return status;
    return shard_->Add(key + ".cls", absl::StrCat(label));
  }
  absl::Status Close() override {
    if (shard_ == nullptr) return absl::OkStatus();
    absl::Status status = shard_->Close();
    shard_.reset();
    return status;
  }

 private:
  std::string prefix_;
  int64_t shard_size_;
  std::unique_ptr<TarWriter> shard_;
};

absl::Status ExportSplit(const Dataset& data, int64_t limit, const std::string& name) {
  if (!data.pixels.has_value()) {
    return FlagError("dataset", absl::StrCat("'", FLAGS_dataset,
                                             "' does not record how its inputs were made from "
                                             "8-bit pixels, so it cannot be written as images"));
  }
  const Dataset split = data.Head(limit);
  const int64_t count = split.size();
  std::unique_ptr<Writer> writer;
  if (FLAGS_format == "image_folder") {
    writer = std::make_unique<FolderWriter>(FLAGS_out + "/" + name, split.classes, count);
  } else {
    writer = std::make_unique<ShardWriter>(FLAGS_out + "/" + name, FLAGS_shard_size);
  }
  constexpr int64_t kChunk = 1000;
  for (int64_t start = 0; start < count; start += kChunk) {
    const int64_t length = std::min(kChunk, count - start);
    const auto [inputs, targets] = split.Gather(
        torch::arange(start, start + length, torch::TensorOptions().dtype(torch::kInt64)), 0);
    if (inputs.dim() != 4 || (inputs.size(1) != 1 && inputs.size(1) != 3) || targets.dim() != 1) {
      return FlagError("dataset", absl::StrCat("'", FLAGS_dataset, "' samples are not images [C, H, W] with "
                                               "one class each"));
    }
    absl::StatusOr<torch::Tensor> pixels = PixelsOf(inputs, *split.pixels, start);
    if (!pixels.ok()) return pixels.status();
    for (int64_t b = 0; b < length; ++b) {
      absl::StatusOr<std::string> png = EncodePng((*pixels)[b]);
      if (!png.ok()) return png.status();
      if (absl::Status status = writer->Add(start + b, targets[b].item<int64_t>(), *png);
          !status.ok()) {
        return status;
      }
    }
  }
  if (absl::Status status = writer->Close(); !status.ok()) return status;
  std::printf("%s: %lld samples of %s\n", name.c_str(), static_cast<long long>(count),
              FLAGS_dataset.c_str());
  return absl::OkStatus();
}

absl::Status Export() {
  if (absl::Status status = LoadPluginLibraryList(FLAGS_plugins); !status.ok()) {
    return FlagError("plugins", status.message());
  }
  if (FLAGS_out.empty()) return FlagError("out", "is required (the directory to create)");
  if (FLAGS_format != "image_folder" && FLAGS_format != "tar_shards") {
    return FlagError("format", absl::StrCat("must be image_folder or tar_shards, got '", FLAGS_format, "'"));
  }
  if (FLAGS_shard_size < 1) return FlagError("shard_size", "must be >= 1");
  if (FLAGS_train_samples < 0 || FLAGS_valid_samples < 0) {
    return FlagError(FLAGS_train_samples < 0 ? "train_samples" : "valid_samples", "must be >= 0");
  }
  FLAGS_out = ResolveUserPath(FLAGS_out);
  std::error_code error;
  if (fs::exists(FLAGS_out, error) && !fs::is_empty(FLAGS_out, error)) {
    return FlagError("out", absl::StrCat(FLAGS_out, " exists and is not empty; nothing is written "
                                         "over (choose a new directory)"));
  }
  fs::create_directories(FLAGS_out, error);
  if (error) return FlagError("out", absl::StrCat(FLAGS_out, ": ", error.message()));

  absl::StatusOr<nlohmann::json> given = ParseJsonObjectFlag("dataset_options", FLAGS_dataset_options);
  if (!given.ok()) return given.status();
  absl::StatusOr<OptionValues> options = ResolveDatasetOptions(
      FLAGS_dataset, *given,
      [](const std::string& key) { return absl::StrCat("--dataset_options '", key, "'"); });
  if (!options.ok()) return options.status();
  DataOptions data_options;
  data_options.data_dir = FLAGS_data_dir.empty() ? "" : ResolveUserPath(FLAGS_data_dir);
  data_options.seed = FLAGS_seed;
  data_options.options = *std::move(options);
  absl::StatusOr<DataSplits> data = LoadDataset(FLAGS_dataset, data_options);
  if (!data.ok()) return data.status();
  if (absl::Status status = ExportSplit(data->train, FLAGS_train_samples, "train"); !status.ok()) {
    return status;
  }
  return ExportSplit(data->valid, FLAGS_valid_samples, "valid");
}

}  // namespace
}  // namespace framework

int main(int argc, char** argv) {
  FLAGS_logtostderr = true;
  FLAGS_minloglevel = 1;
  google::InitGoogleLogging(argv[0]);
  static const char kUsage[] =
      "usage: export_dataset --out=DIR [--format=image_folder|tar_shards] [--dataset=NAME] "
      "[--shard_size=N]\n"
      "Writes an image data set as PNG files in class folders, or as WebDataset tar shards.\n";
  return framework::RunFlagsOnlyTool(argc, argv, "export_dataset", kUsage, __FILE__, framework::Export);
}
