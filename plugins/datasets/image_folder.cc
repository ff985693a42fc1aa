// The image_folder data set: torchvision's ImageFolder layout, read on
// demand. --data_dir holds train/ and valid/ (or val/), each with one folder
// per class; the classes are the folder names sorted, and the images of a
// class its PNG and JPEG files (.png, .jpg, .jpeg in any case) found walking the folder as
// torchvision's make_dataset does (directories in sorted path order, files
// sorted by name), so the class index and the order of every image equal
// torchvision's. Hidden files (".name") and other extensions are skipped
// and counted in the log; an empty class folder is an error naming it.
//
// A sample is decoded when a batch needs it (image_decoding.h: options mode,
// mean, std). Every image of a split must have the first training image's
// size; images of several sizes need a resize or crop in --transforms.
#include <algorithm>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <torch/types.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "framework/core/declared_options.h"
#include "framework/core/durable_file.h"
#include "framework/data/dataset.h"
#include "framework/model/model.h"
#include "glog/logging.h"
#include "plugins/datasets/image_decoding.h"

namespace plugins {
namespace {

namespace fs = std::filesystem;

struct ImageList {
  std::vector<std::string> classes;
  std::vector<std::string> paths;
  std::vector<int64_t> labels;
  int64_t skipped = 0;  // hidden files and other extensions
};

bool IsImage(const fs::path& path) {
  const std::string extension = absl::AsciiStrToLower(path.extension().string());
  return extension == ".png" || extension == ".jpg" || extension == ".jpeg";
}

absl::StatusOr<ImageList> ListImages(const std::string& split_dir, bool skip_bad) {
  ImageList list;
  std::error_code error;
  for (const fs::directory_entry& entry : fs::directory_iterator(split_dir, error)) {
    if (entry.is_directory()) list.classes.push_back(entry.path().filename().string());
  }
  if (error) return absl::NotFoundError(absl::StrCat(split_dir, ": ", error.message()));
  std::sort(list.classes.begin(), list.classes.end());
  if (list.classes.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(split_dir, " holds no class folders (one folder per class, as torchvision's "
                                "ImageFolder reads)"));
  }
  for (size_t label = 0; label < list.classes.size(); ++label) {
    const fs::path class_dir = fs::path(split_dir) / list.classes[label];
    // os.walk's directories, sorted by path, each one's files sorted.
    std::vector<fs::path> dirs = {class_dir};
    for (const fs::directory_entry& entry : fs::recursive_directory_iterator(
             class_dir, fs::directory_options::follow_directory_symlink, error)) {
      if (entry.is_directory()) dirs.push_back(entry.path());
    }
    std::sort(dirs.begin(), dirs.end(),
              [](const fs::path& a, const fs::path& b) { return a.string() < b.string(); });
    const size_t before = list.paths.size();
    for (const fs::path& dir : dirs) {
      std::vector<fs::path> files;
      for (const fs::directory_entry& entry : fs::directory_iterator(dir, error)) {
        if (entry.is_directory()) continue;
        const std::string name = entry.path().filename().string();
        if (name.empty() || name[0] == '.' || !IsImage(entry.path())) {
          ++list.skipped;
          continue;
        }
        files.push_back(entry.path());
      }
      std::sort(files.begin(), files.end(),
                [](const fs::path& a, const fs::path& b) { return a.filename().string() < b.filename().string(); });
      for (const fs::path& file : files) {
        list.paths.push_back(file.string());
        list.labels.push_back(static_cast<int64_t>(label));
      }
    }
    if (error) return absl::NotFoundError(absl::StrCat(class_dir.string(), ": ", error.message()));
    if (list.paths.size() == before) {
      const std::string what =
          absl::StrCat(class_dir.string(), ": an empty class folder (no .png, .jpg or .jpeg file)");
      if (!skip_bad) return absl::InvalidArgumentError(what);
      // Its class index stays taken, so the others keep torchvision's.
      LOG(WARNING) << "--skip_bad_samples: " << what;
    }
  }
  return list;
}

class ImageFolderSource : public ImageSampleSource {
 public:
  ImageFolderSource(std::shared_ptr<const ImageList> list, ImageDecoding decoding,
                    std::vector<int64_t> shape, int64_t samples)
      : ImageSampleSource(std::move(shape), samples), list_(std::move(list)), decoding_(decoding) {}

  torch::Tensor Image(int64_t index) const override {
    const std::string& path = list_->paths.at(index);
    absl::StatusOr<std::string> bytes = framework::ReadFileToString(path);
    if (!bytes.ok()) throw std::runtime_error(std::string(bytes.status().message()));
    absl::StatusOr<torch::Tensor> image = DecodeImage(*bytes, path, decoding_);
    if (!image.ok()) throw std::runtime_error(std::string(image.status().message()));
    return *std::move(image);
  }
  int64_t Label(int64_t index) const override { return list_->labels.at(index); }
  std::string Name(int64_t index) const override { return list_->paths.at(index); }

  std::shared_ptr<const framework::SampleSource> Head(int64_t count) const override {
    return std::make_shared<ImageFolderSource>(list_, decoding_, shape(), count);
  }

 private:
  std::shared_ptr<const ImageList> list_;
  ImageDecoding decoding_;
};

absl::StatusOr<framework::DataSplits> LoadImageFolder(const framework::DataOptions& options) {
  if (options.data_dir.empty()) {
    return absl::InvalidArgumentError(
        "--data_dir: the image_folder data set needs a directory with train/ and valid/ (or val/)");
  }
  const ImageDecoding decoding = ImageDecodingFrom(options.options);
  const fs::path root(options.data_dir);
  std::error_code error;
  const fs::path valid_dir = fs::is_directory(root / "valid", error) ? root / "valid" : root / "val";
  framework::DataSplits splits;
  std::vector<int64_t> shape;
  std::vector<std::string> train_classes;
  for (const fs::path& dir : {root / "train", valid_dir}) {
    if (!fs::is_directory(dir, error)) {
      return absl::NotFoundError(absl::StrCat(dir.string(), " is not a directory (image_folder: ",
                                              "--data_dir holds train/ and valid/ or val/)"));
    }
    absl::StatusOr<ImageList> list = ListImages(dir.string(), options.skip_bad_samples);
    if (!list.ok()) return list.status();
    const bool training = dir == root / "train";
    LOG(INFO) << "image_folder " << dir.string() << ": " << list->paths.size() << " images in "
              << list->classes.size() << " classes; " << list->skipped
              << " other files skipped (hidden, or not .png, .jpg, .jpeg)";
    if (training) {
      // The first image that decodes (with skip_bad_samples, bad ones are
      // passed over here as in training).
      absl::Status first_error = absl::NotFoundError(absl::StrCat(dir.string(), ": no images"));
      for (const std::string& path : list->paths) {
        absl::StatusOr<std::string> bytes = framework::ReadFileToString(path);
        absl::StatusOr<torch::Tensor> first =
            bytes.ok() ? DecodeImage(*bytes, path, decoding) : bytes.status();
        if (first.ok()) {
          shape = first->sizes().vec();
          break;
        }
        first_error = first.status();
        if (!options.skip_bad_samples) break;
      }
      if (shape.empty()) return first_error;
      train_classes = list->classes;
    } else if (list->classes != train_classes) {
      return absl::InvalidArgumentError(absl::StrCat(
          dir.string(), ": its class folders differ from train/'s (", list->classes.size(),
          " against ", train_classes.size(), "); a class index must mean the same in both"));
    }
    framework::Dataset& split = training ? splits.train : splits.valid;
    const int64_t count = static_cast<int64_t>(list->paths.size());
    split.classes = static_cast<int64_t>(list->classes.size());
    split.pixels = NormalizationOf(decoding);
    split.model_facts = {{framework::kInputChannelsKey, shape[0]},
                         {framework::kInputHeightKey, shape[1]},
                         {framework::kInputWidthKey, shape[2]},
                         {framework::kClassesKey, split.classes}};
    split.source = std::make_shared<ImageFolderSource>(
        std::make_shared<const ImageList>(*std::move(list)), decoding, shape, count);
  }
  return splits;
}

}  // namespace

REGISTER_DATASET("image_folder", LoadImageFolder, ImageDecodingOptions());

}  // namespace plugins
