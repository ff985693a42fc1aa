// Images/s of the framework's data pipeline over an image folder: the
// image_folder data set, --transforms, and a BatchPrefetcher with --workers
// threads, one pass over the (shuffled) training split in batches of
// --batch_size, the consumer doing nothing but take each batch. LibTorch's
// intra-op pool is kept to one thread so that the workers are the only
// parallelism. Run by data_loading.sh beside torchvision's DataLoader on the
// same files; prints one JSON line.
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <ATen/Parallel.h>
#include <torch/types.h>

#include "framework/data/batch_prefetcher.h"
#include "framework/data/dataset.h"
#include "framework/data/epoch_sampler.h"
#include "framework/data/sample_transform.h"
#include "gflags/gflags.h"
#include "glog/logging.h"
#include "nlohmann/json.hpp"

DEFINE_string(data_dir, "", "An image folder (train/ and valid/).");
DEFINE_string(dataset_options, "{}", "The image_folder data set's options.");
DEFINE_string(transforms, "", "JSON list of transforms (--transforms of an experiment).");
DEFINE_int32(workers, 1, "Data workers (0: on the consuming thread).");
DEFINE_int64(batch_size, 64, "Samples per batch.");
DEFINE_int64(samples, 0, "Only the first N samples; 0: all.");

int main(int argc, char** argv) {
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  FLAGS_logtostderr = true;
  FLAGS_minloglevel = 1;
  google::InitGoogleLogging(argv[0]);
  at::set_num_threads(1);
  framework::DataOptions options;
  options.data_dir = FLAGS_data_dir;
  options.options = framework::OptionValues();
  absl::StatusOr<framework::OptionValues> values = framework::ResolveDatasetOptions(
      "image_folder", nlohmann::json::parse(FLAGS_dataset_options), [](const std::string& k) { return k; });
  CHECK(values.ok()) << values.status();
  options.options = *values;
  absl::StatusOr<framework::DataSplits> data = framework::LoadDataset("image_folder", options);
  CHECK(data.ok()) << data.status();
  absl::StatusOr<std::shared_ptr<const framework::SampleTransforms>> transforms =
      framework::SampleTransforms::ParseText(FLAGS_transforms, "transforms");
  CHECK(transforms.ok()) << transforms.status();
  absl::StatusOr<framework::Dataset> train =
      data->train.Head(FLAGS_samples).WithTransforms(*transforms, 1, "transforms");
  CHECK(train.ok()) << train.status();
  framework::EpochSampler sampler(train->size(), FLAGS_batch_size, 1, 0);
  std::vector<torch::Tensor> batches;
  for (int64_t b = 0; b < sampler.num_batches(); ++b) batches.push_back(sampler.BatchIndices(b));
  framework::PrefetchOptions prefetch;
  prefetch.workers = FLAGS_workers;
  const auto start = std::chrono::steady_clock::now();
  int64_t images = 0;
  {
    framework::BatchPrefetcher prefetcher(*train, 0, batches, prefetch);
    for (size_t b = 0; b < batches.size(); ++b) {
      absl::StatusOr<framework::GatheredBatch> batch = prefetcher.Next();
      CHECK(batch.ok()) << batch.status();
      images += batch->targets.size(0);
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%s\n", nlohmann::json({{"side", "ours"},
                                      {"workers", FLAGS_workers},
                                      {"images", images},
                                      {"images_per_s", images / seconds}})
                          .dump()
                          .c_str());
  return 0;
}
