// Data sets, registered by name like models, so an experiment picks one with
// --dataset. Most are held in memory (inputs and targets as tensors); one too
// large for that (token files) gives a SampleSource that reads its samples
// on demand. A plugin adds one with a line, declaring the
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
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <torch/types.h>

#include "absl/status/statusor.h"
#include "framework/core/declared_options.h"
#include "framework/core/registry.h"
#include "framework/data/sample_transform.h"
#include "nlohmann/json.hpp"

namespace framework {

// Samples made when a batch needs them, from data that stays on disk.
class SampleSource {
 public:
  virtual ~SampleSource() = default;
  // Samples per epoch.
  virtual int64_t size() const = 0;
  // Inputs and targets of samples `indices` (int64 [B], each below size())
  // in epoch `epoch` (0-based): a source may give other samples each epoch,
  // but always as a pure function of (its seed, epoch, index), so batch
  // order, resume and data parallelism work as for data in memory. Throws
  // std::runtime_error naming the file when it cannot be read (the training
  // loop and evaluation turn that into a status).
  virtual std::pair<torch::Tensor, torch::Tensor> Gather(const torch::Tensor& indices,
                                                         int64_t epoch) const = 0;
  // The same samples one tensor each, for sources whose samples may differ
  // in shape (images of several sizes) until transforms make them one.
  // By default Gather's, unbound.
  virtual std::pair<std::vector<torch::Tensor>, torch::Tensor> GatherEach(
      const torch::Tensor& indices, int64_t epoch) const;
  // The same data with `count` samples per epoch (count < size()).
  virtual std::shared_ptr<const SampleSource> Head(int64_t count) const = 0;
};

// How 8-bit image pixels p became a data set's float inputs:
// (p / 255 - mean) / std. What //tools:export_dataset inverts.
struct PixelNormalization {
  double mean = 0.5;
  double std = 0.5;
};

// A batch as the training loop takes it: with skip_bad_samples, without the
// samples that could not be read.
struct GatheredBatch {
  torch::Tensor inputs;
  torch::Tensor targets;
  int64_t skipped = 0;  // samples left out
};

// The bad samples a process has named already, so each is logged once.
class BadSampleLog {
 public:
  // True the first time `index` is reported.
  bool FirstReport(int64_t index);

 private:
  std::mutex mutex_;
  std::set<int64_t> reported_;
};

struct Dataset {
  torch::Tensor inputs;   // e.g. float32 [N, C, H, W] images
  torch::Tensor targets;  // e.g. int64 [N] labels
  int64_t classes = 0;
  // Set instead of inputs and targets by a data set read on demand.
  std::shared_ptr<const SampleSource> source;
  // What the data tells a model, as model options (model/model.h): empty
  // for images in memory, whose shape and classes say it; a token data set
  // gives its vocabulary size and window length.
  nlohmann::json model_facts = nlohmann::json::object();
  // Set by data sets of 8-bit images (before any transform).
  std::optional<PixelNormalization> pixels;
  // Applied to every sample Gather gives (sample_transform.h), with the
  // generator of (transform_seed, epoch, index); null or empty: none.
  std::shared_ptr<const SampleTransforms> transforms;
  uint64_t transform_seed = 0;
  // --skip_bad_samples: GatherSkipping leaves out a sample that cannot be
  // read (a corrupt image, a truncated shard member), logging it once by
  // name. Which samples are bad depends on the files alone, so a resumed
  // run skips the same ones.
  bool skip_bad_samples = false;
  int64_t skipped_at_load = 0;  // samples the data set left out when opened
  std::shared_ptr<BadSampleLog> bad_samples = std::make_shared<BadSampleLog>();

  int64_t size() const {
    if (source != nullptr) return source->size();
    return targets.defined() ? targets.size(0) : 0;
  }
  // The first `count` samples (all of them when count is 0 or too large).
  Dataset Head(int64_t count) const;
  // What the data tells a model built for it, as model options
  // (model/model.h): model_facts, or for images in memory their shape and
  // classes.
  nlohmann::json ModelFacts() const;
  // The samples at `indices` of epoch `epoch`, transformed.
  std::pair<torch::Tensor, torch::Tensor> Gather(const torch::Tensor& indices,
                                                 int64_t epoch) const;
  // As Gather; a sample that cannot be read throws unless
  // skip_bad_samples, when it is left out of the batch.
  GatheredBatch GatherSkipping(const torch::Tensor& indices, int64_t epoch) const;
  // The same data with `transforms` applied to every sample (seeded by
  // `seed`), its model facts the transformed shape; an error when a
  // transform cannot take the samples' shape (`flag` names where they were
  // declared).
  absl::StatusOr<Dataset> WithTransforms(std::shared_ptr<const SampleTransforms> transforms,
                                         uint64_t seed, const std::string& flag) const;
};

struct DataSplits {
  Dataset train;
  Dataset valid;
};

// What a data set factory may use.
struct DataOptions {
  std::string data_dir;  // empty: the data set's default location
  uint64_t seed = 0;     // for generated data
  // Where a data set may keep what it derives from its files (indexes):
  // never inside data_dir. Empty: keep it in memory only.
  std::string cache_dir;
  // --skip_bad_samples: a sample found bad while the data set is opened
  // (a class that is not a number, a member cut off by a truncated shard)
  // is left out and named in the log instead of failing the load.
  bool skip_bad_samples = false;
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
