// The tar_shards data set: WebDataset's layout. --data_dir holds the shards
// train-*.tar and valid-*.tar (or val-*.tar), read in name order; a sample
// is the members sharing a key (the member's path up to the first dot of
// its file name, as WebDataset groups them): an image (key.png, key.jpg or
// key.jpeg) and its class (key.cls, a decimal integer), samples in the
// order their first member appears. Other members are skipped and counted
// in the log; a key without an image or a class, a .cls that is not an
// integer, a class index out of range and a truncated shard are errors
// naming the shard and the member.
//
// Reading is at random, never through a shard: each shard's index (where
// every image starts, its size and its class; framework/formats/
// tar_archive.h) is built once and cached outside the data directory, in
// DataOptions::cache_dir (the run directory's data_cache/), keyed by the
// shard's path, size and modification time; a batch then reads each image
// with one pread. Images are decoded as the image_folder data set decodes
// them (image_decoding.h: options mode, mean, std) and the split's classes
// are the "classes" option, or the largest training class + 1.
//
// //tools:export_dataset writes any image data set in this layout, in its
// order, so a run on the shards sees the batches of a run on the original.
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <torch/types.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "framework/core/crc32c.h"
#include "framework/core/declared_options.h"
#include "framework/core/durable_file.h"
#include "framework/core/env.h"
#include "framework/data/dataset.h"
#include "framework/formats/tar_archive.h"
#include "framework/model/model.h"
#include "glog/logging.h"
#include "nlohmann/json.hpp"
#include "plugins/datasets/image_decoding.h"

namespace plugins {
namespace {

namespace fs = std::filesystem;

struct ShardSample {
  int32_t shard = 0;
  std::string image;  // member name, for errors
  int64_t offset = 0;
  int64_t size = 0;
  int64_t label = 0;
};

struct ShardIndex {
  std::vector<std::string> shards;
  std::vector<std::unique_ptr<framework::RandomAccessFile>> files;
  std::vector<ShardSample> samples;
};

bool IsImageName(const std::string& extension) {
  const std::string lower = absl::AsciiStrToLower(extension);
  return lower == "png" || lower == "jpg" || lower == "jpeg";
}

// WebDataset's key: the path up to the first dot of the file name.
std::pair<std::string, std::string> KeyAndExtension(const std::string& name) {
  const size_t slash = name.rfind('/');
  const size_t dot = name.find('.', slash == std::string::npos ? 0 : slash + 1);
  if (dot == std::string::npos) return {name, ""};
  return {name.substr(0, dot), name.substr(dot + 1)};
}

absl::StatusOr<std::string> ReadMember(const framework::RandomAccessFile& file, int64_t offset,
                                       int64_t size) {
  std::string bytes(static_cast<size_t>(size), '\0');
  absl::StatusOr<size_t> read = file.Read(offset, bytes.size(), bytes.data());
  if (!read.ok()) return read.status();
  if (*read != bytes.size()) {
    return absl::DataLossError(absl::StrCat(file.path(), ": ends inside a member (truncated)"));
  }
  return bytes;
}

struct ShardCounts {
  int64_t other_members = 0;  // neither an image nor a class
  int64_t bad_samples = 0;    // left out with skip_bad_samples
};

// One shard's samples, from its tar index and its .cls members. With
// `skip_bad`, a bad sample (or the damaged end of a truncated shard) is
// logged and left out instead of failing.
absl::StatusOr<nlohmann::json> IndexShard(const std::string& path, bool skip_bad,
                                          ShardCounts* counts) {
  std::string truncation;
  absl::StatusOr<std::vector<framework::TarMember>> members =
      framework::IndexTarFile(path, skip_bad ? &truncation : nullptr);
  if (!members.ok()) return members.status();
  if (!truncation.empty()) {
    LOG(WARNING) << "--skip_bad_samples: " << truncation << "; its samples up to there are kept";
  }
  auto bad = [&](const std::string& what) -> absl::Status {
    if (!skip_bad) return absl::DataLossError(what);
    LOG(WARNING) << "Skipping a bad sample (--skip_bad_samples): " << what;
    ++counts->bad_samples;
    return absl::OkStatus();
  };
  absl::StatusOr<std::unique_ptr<framework::RandomAccessFile>> file =
      framework::Env::Default()->NewRandomAccessFile(path, /*sequential=*/false);
  if (!file.ok()) return file.status();
  struct Parts {
    const framework::TarMember* image = nullptr;
    const framework::TarMember* cls = nullptr;
  };
  std::vector<std::string> order;
  std::map<std::string, Parts> parts;
  for (const framework::TarMember& member : *members) {
    auto [key, extension] = KeyAndExtension(member.name);
    const bool image = IsImageName(extension);
    if (!image && extension != "cls") {
      ++counts->other_members;
      continue;
    }
    if (parts.count(key) == 0) order.push_back(key);
    (image ? parts[key].image : parts[key].cls) = &member;
  }
  nlohmann::json samples = nlohmann::json::array();
  for (const std::string& key : order) {
    const Parts& sample = parts[key];
    if (sample.image == nullptr || sample.cls == nullptr) {
      absl::Status status = bad(absl::StrCat(
          path, ": sample '", key, "' has ",
          sample.image == nullptr ? "no image (key.png, key.jpg)" : "no class (key.cls)"));
      if (!status.ok()) return status;
      continue;
    }
    absl::StatusOr<std::string> text = ReadMember(**file, sample.cls->offset, sample.cls->size);
    if (!text.ok()) return text.status();
    int64_t label = 0;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &label) || label < 0) {
      absl::Status status = bad(absl::StrCat(path, ": member '", sample.cls->name, "' holds '",
                                             absl::CHexEscape(text->substr(0, 40)),
                                             "', not a class index (an integer >= 0)"));
      if (!status.ok()) return status;
      continue;
    }
    samples.push_back({sample.image->name, sample.image->offset, sample.image->size, label});
  }
  return samples;
}

// The shard's samples from the cache when its size and time match, else
// indexed and cached.
absl::StatusOr<nlohmann::json> CachedShardIndex(const std::string& path,
                                                const std::string& cache_dir, bool skip_bad,
                                                ShardCounts* counts) {
  struct stat info;
  if (stat(path.c_str(), &info) != 0) return absl::NotFoundError(absl::StrCat(path, ": no such file"));
  const int64_t mtime_ns = static_cast<int64_t>(info.st_mtim.tv_sec) * 1000000000 + info.st_mtim.tv_nsec;
  const std::string absolute = fs::absolute(path).lexically_normal().string();
  const std::string cache_path =
      cache_dir.empty() ? ""
                        : absl::StrFormat("%s/%s.%08x.index.json", cache_dir,
                                          fs::path(path).filename().string(),
                                          framework::Crc32c(absolute.data(), absolute.size()));
  if (!cache_path.empty()) {
    absl::StatusOr<std::string> cached = framework::ReadFileToString(cache_path);
    if (cached.ok()) {
      nlohmann::json index = nlohmann::json::parse(*cached, nullptr, false);
      if (!index.is_discarded() && index.value("shard", "") == absolute &&
          index.value("size", int64_t{-1}) == static_cast<int64_t>(info.st_size) &&
          index.value("mtime_ns", int64_t{-1}) == mtime_ns &&
          index.value("skip_bad_samples", false) == skip_bad && index.contains("samples")) {
        counts->other_members += index.value("other_members", int64_t{0});
        counts->bad_samples += index.value("bad_samples", int64_t{0});
        return index["samples"];
      }
    }
  }
  ShardCounts shard;
  absl::StatusOr<nlohmann::json> samples = IndexShard(path, skip_bad, &shard);
  if (!samples.ok()) return samples.status();
  counts->other_members += shard.other_members;
  counts->bad_samples += shard.bad_samples;
  if (!cache_path.empty()) {
    const nlohmann::json index = {{"shard", absolute}, {"size", static_cast<int64_t>(info.st_size)},
                                  {"mtime_ns", mtime_ns}, {"skip_bad_samples", skip_bad},
                                  {"other_members", shard.other_members},
                                  {"bad_samples", shard.bad_samples}, {"samples", *samples}};
    absl::Status saved = framework::Env::Default()->CreateDirectories(cache_dir);
    if (saved.ok()) saved = framework::ReplaceFileContents(cache_path, index.dump(), /*sync=*/false);
    if (!saved.ok()) LOG(WARNING) << "tar_shards: the index is not cached: " << saved.message();
  }
  return samples;
}

class TarShardSource : public ImageSampleSource {
 public:
  TarShardSource(std::shared_ptr<const ShardIndex> index, ImageDecoding decoding,
                 std::vector<int64_t> shape, int64_t samples)
      : ImageSampleSource(std::move(shape), samples), index_(std::move(index)), decoding_(decoding) {}

  torch::Tensor Image(int64_t i) const override {
    const ShardSample& sample = index_->samples.at(i);
    absl::StatusOr<std::string> bytes =
        ReadMember(*index_->files[sample.shard], sample.offset, sample.size);
    if (!bytes.ok()) throw std::runtime_error(std::string(bytes.status().message()));
    absl::StatusOr<torch::Tensor> image = DecodeImage(*bytes, Name(i), decoding_);
    if (!image.ok()) throw std::runtime_error(std::string(image.status().message()));
    return *std::move(image);
  }
  int64_t Label(int64_t i) const override { return index_->samples.at(i).label; }
  std::string Name(int64_t i) const override {
    const ShardSample& sample = index_->samples.at(i);
    return absl::StrCat(index_->shards[sample.shard], " member '", sample.image, "'");
  }

  std::shared_ptr<const framework::SampleSource> Head(int64_t count) const override {
    return std::make_shared<TarShardSource>(index_, decoding_, shape(), count);
  }

 private:
  std::shared_ptr<const ShardIndex> index_;
  ImageDecoding decoding_;
};

std::vector<std::string> ShardsOf(const fs::path& dir, const std::string& prefix) {
  std::vector<std::string> shards;
  std::error_code error;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir, error)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix + "-", 0) == 0 && entry.path().extension() == ".tar") {
      shards.push_back(entry.path().string());
    }
  }
  std::sort(shards.begin(), shards.end());
  return shards;
}

absl::StatusOr<framework::DataSplits> LoadTarShards(const framework::DataOptions& options) {
  if (options.data_dir.empty()) {
    return absl::InvalidArgumentError(
        "--data_dir: the tar_shards data set needs a directory of train-*.tar and valid-*.tar");
  }
  const ImageDecoding decoding = ImageDecodingFrom(options.options);
  const fs::path root(options.data_dir);
  std::vector<std::string> valid_shards = ShardsOf(root, "valid");
  if (valid_shards.empty()) valid_shards = ShardsOf(root, "val");
  framework::DataSplits splits;
  std::vector<int64_t> shape;
  int64_t classes = options.options.Int("classes");
  for (const bool training : {true, false}) {
    auto index = std::make_shared<ShardIndex>();
    index->shards = training ? ShardsOf(root, "train") : valid_shards;
    if (index->shards.empty()) {
      return absl::NotFoundError(absl::StrCat(
          options.data_dir, " holds no ", training ? "train-*.tar" : "valid-*.tar (or val-*.tar)",
          " shards (tar_shards: WebDataset's layout, key.png|jpg + key.cls members)"));
    }
    ShardCounts counts;
    for (size_t s = 0; s < index->shards.size(); ++s) {
      absl::StatusOr<nlohmann::json> samples = CachedShardIndex(
          index->shards[s], options.cache_dir, options.skip_bad_samples, &counts);
      if (!samples.ok()) return samples.status();
      absl::StatusOr<std::unique_ptr<framework::RandomAccessFile>> file =
          framework::Env::Default()->NewRandomAccessFile(index->shards[s], /*sequential=*/false);
      if (!file.ok()) return file.status();
      index->files.push_back(*std::move(file));
      for (const nlohmann::json& entry : *samples) {
        ShardSample sample;
        sample.shard = static_cast<int32_t>(s);
        sample.image = entry[0].get<std::string>();
        sample.offset = entry[1].get<int64_t>();
        sample.size = entry[2].get<int64_t>();
        sample.label = entry[3].get<int64_t>();
        index->samples.push_back(std::move(sample));
      }
    }
    if (index->samples.empty()) {
      return absl::NotFoundError(absl::StrCat(index->shards.front(), ": no samples in the ",
                                              training ? "training" : "validation", " shards"));
    }
    LOG(INFO) << "tar_shards " << (training ? "train" : "valid") << ": " << index->samples.size()
              << " samples in " << index->shards.size() << " shard(s); " << counts.other_members
              << " other members skipped"
              << (options.skip_bad_samples ? absl::StrCat("; ", counts.bad_samples, " bad samples left out")
                                           : std::string());
    if (training && classes == 0) {
      for (const ShardSample& sample : index->samples) classes = std::max(classes, sample.label + 1);
    }
    std::vector<ShardSample> in_range;
    for (ShardSample& sample : index->samples) {
      if (sample.label >= classes) {
        const std::string what = absl::StrCat(index->shards[sample.shard], ": the class of '",
                                              sample.image, "' is ", sample.label,
                                              ", out of range for ", classes, " classes");
        if (!options.skip_bad_samples) return absl::DataLossError(what);
        LOG(WARNING) << "Skipping a bad sample (--skip_bad_samples): " << what;
        ++counts.bad_samples;
        continue;
      }
      in_range.push_back(std::move(sample));
    }
    index->samples = std::move(in_range);
    const int64_t count = static_cast<int64_t>(index->samples.size());
    auto source = std::make_shared<TarShardSource>(index, decoding, shape, count);
    if (training) {
      // The first sample that decodes (with skip_bad_samples, bad ones are
      // passed over here as in training).
      for (int64_t i = 0; i < count && shape.empty(); ++i) {
        try {
          shape = source->Image(i).sizes().vec();
        } catch (const std::exception& e) {
          if (!options.skip_bad_samples) return absl::DataLossError(e.what());
        }
      }
      if (shape.empty()) {
        return absl::DataLossError(absl::StrCat(index->shards.front(), ": no training image decodes"));
      }
      source = std::make_shared<TarShardSource>(index, decoding, shape, count);
    }
    framework::Dataset& split = training ? splits.train : splits.valid;
    split.classes = classes;
    split.skipped_at_load = counts.bad_samples;
    split.pixels = NormalizationOf(decoding);
    split.model_facts = {{framework::kInputChannelsKey, shape[0]},
                         {framework::kInputHeightKey, shape[1]},
                         {framework::kInputWidthKey, shape[2]},
                         {framework::kClassesKey, classes}};
    split.source = std::move(source);
  }
  return splits;
}

framework::DeclaredOptions TarShardOptions() {
  framework::DeclaredOptions declared = ImageDecodingOptions();
  declared.push_back(framework::IntOption(
      "classes", 0, "Classes; 0: the largest class index of the training shards + 1.").AtLeast(0));
  return declared;
}

}  // namespace

REGISTER_DATASET("tar_shards", LoadTarShards, TarShardOptions());

}  // namespace plugins
