// Per-sample transforms: the augmentation and preprocessing an experiment
// declares as a JSON list of registered transforms, each with its options,
//
//   --transforms='[{"random_crop": {"size": 28, "padding": 2}}, {"horizontal_flip": {}}]'
//   --valid_transforms='[{"center_crop": {"size": 24}}]'
//
// applied in order to every sample a batch takes (Dataset::Gather), on the
// sample as its data set gives it (float [C, H, W], already normalised by
// the data set). A plugin adds a transform with a line, as every plugin kind:
//
//   REGISTER_SAMPLE_TRANSFORM("my_jitter", BuildMyJitter,
//                             {DoubleOption("amount", 0.1, "...").AtLeast(0)});
//
// Exactness: every random choice a transform makes comes from the generator
// it is handed, which is seeded by (run seed, split, epoch, sample index)
// alone, never a worker's or the global one. So a sample's augmentation is
// the same whichever thread decodes it, however many there are, on any
// rank and after any resume.
#ifndef FRAMEWORK_DATA_SAMPLE_TRANSFORM_H_
#define FRAMEWORK_DATA_SAMPLE_TRANSFORM_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Generator.h>
#include <torch/types.h>

#include "absl/status/statusor.h"
#include "framework/core/declared_options.h"
#include "framework/core/registry.h"
#include "nlohmann/json.hpp"

namespace framework {

class SampleTransform {
 public:
  virtual ~SampleTransform() = default;
  // `sample` float [C, H, W] of OutputShape()'s input shape; random choices
  // only from `random`. Must not change `sample` in place.
  virtual torch::Tensor Apply(const torch::Tensor& sample, at::Generator& random) const = 0;
  // The shape Apply gives a sample of `shape` ([C, H, W]), or why it cannot
  // take one (a crop larger than the image).
  virtual absl::StatusOr<std::vector<int64_t>> OutputShape(
      const std::vector<int64_t>& shape) const = 0;
};

using SampleTransformFactory =
    std::function<absl::StatusOr<std::unique_ptr<SampleTransform>>(const OptionValues& options)>;

struct SampleTransformEntry {
  SampleTransformEntry() = default;
  SampleTransformEntry(SampleTransformFactory factory, DeclaredOptions declared = {})  // NOLINT
      : build(std::move(factory)), options(std::move(declared)) {}
  SampleTransformFactory build;
  DeclaredOptions options;
};

Registry<SampleTransformEntry>& SampleTransformRegistry();

// A uniform double in [0, 1) and a uniform integer in [0, bound) from a CPU
// generator: what transforms draw their choices with.
double UniformDouble(at::Generator& random);
int64_t UniformInt(at::Generator& random, int64_t bound);

// A checked list of transforms, ready to apply.
class SampleTransforms {
 public:
  // `list` is a JSON array of one-key objects {"name": {options}}; errors
  // name `flag`, the entry's position and the transform.
  static absl::StatusOr<std::shared_ptr<const SampleTransforms>> Parse(const nlohmann::json& list,
                                                                        const std::string& flag);
  // As Parse, from the flag's text ("" is the empty list).
  static absl::StatusOr<std::shared_ptr<const SampleTransforms>> ParseText(
      const std::string& text, const std::string& flag);

  bool empty() const { return steps_.empty(); }
  // The list with every option's effective value: what checkpoints and
  // model files record.
  const nlohmann::json& json() const { return json_; }

  // Sample `index` of `epoch` transformed, with the generator of
  // (seed, epoch, index). `seed` is the split's (TransformSeed).
  torch::Tensor Apply(const torch::Tensor& sample, uint64_t seed, int64_t epoch,
                      int64_t index) const;
  absl::StatusOr<std::vector<int64_t>> OutputShape(std::vector<int64_t> shape) const;

 private:
  std::vector<std::unique_ptr<SampleTransform>> steps_;
  std::vector<std::string> names_;
  nlohmann::json json_ = nlohmann::json::array();
};

// The seed of a split's transforms in a run seeded `run_seed`: training and
// validation draw different streams.
uint64_t TransformSeed(uint64_t run_seed, bool training);

}  // namespace framework

// REGISTER_SAMPLE_TRANSFORM(name, factory[, declared_options])
#define REGISTER_SAMPLE_TRANSFORM(name, ...)                                          \
  static ::framework::Registration<::framework::SampleTransformEntry>                 \
      FRAMEWORK_REGISTRY_UNIQUE_NAME(sample_transform_registration_)(                 \
          ::framework::SampleTransformRegistry(), name,                               \
          ::framework::SampleTransformEntry(__VA_ARGS__), __FILE__)

#endif  // FRAMEWORK_DATA_SAMPLE_TRANSFORM_H_
