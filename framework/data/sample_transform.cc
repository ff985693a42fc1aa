#include "framework/data/sample_transform.h"

#include <mutex>
#include <utility>

#include <ATen/CPUGeneratorImpl.h>

#include "absl/strings/str_cat.h"
#include "framework/core/random_state.h"
#include "glog/logging.h"

namespace framework {

Registry<SampleTransformEntry>& SampleTransformRegistry() {
  static auto* registry = new Registry<SampleTransformEntry>("transform");
  return *registry;
}

double UniformDouble(at::Generator& random) {
  std::lock_guard<std::mutex> lock(random.mutex());
  // 53 random bits, as std::generate_canonical would take them.
  const uint64_t bits = random.get<at::CPUGeneratorImpl>()->random64() >> 11;
  return static_cast<double>(bits) * (1.0 / 9007199254740992.0);
}

int64_t UniformInt(at::Generator& random, int64_t bound) {
  CHECK_GT(bound, 0);
  std::lock_guard<std::mutex> lock(random.mutex());
  return static_cast<int64_t>(random.get<at::CPUGeneratorImpl>()->random64() %
                              static_cast<uint64_t>(bound));
}

uint64_t TransformSeed(uint64_t run_seed, bool training) {
  return MixSeed(MixSeed(run_seed) ^ (training ? 0x7472616e73666f72ULL : 0x76616c6964617465ULL));
}

absl::StatusOr<std::shared_ptr<const SampleTransforms>> SampleTransforms::ParseText(
    const std::string& text, const std::string& flag) {
  if (text.empty()) return std::make_shared<const SampleTransforms>();
  nlohmann::json list = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (list.is_discarded()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, ": not JSON; expected a list such as "
                     "[{\"random_crop\": {\"size\": 28, \"padding\": 2}}, {\"horizontal_flip\": {}}]"));
  }
  return Parse(list, flag);
}

absl::StatusOr<std::shared_ptr<const SampleTransforms>> SampleTransforms::Parse(
    const nlohmann::json& list, const std::string& flag) {
  if (!list.is_array()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--", flag, ": expected a JSON list of {\"transform\": {options}}, got ", list.dump()));
  }
  auto transforms = std::make_shared<SampleTransforms>();
  for (size_t i = 0; i < list.size(); ++i) {
    const nlohmann::json& entry = list[i];
    const std::string where = absl::StrCat("--", flag, " entry ", i);
    if (!entry.is_object() || entry.size() != 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": expected one {\"transform\": {options}}, got ", entry.dump()));
    }
    const std::string name = entry.begin().key();
    absl::StatusOr<SampleTransformEntry> registered = SampleTransformRegistry().Find(name);
    if (!registered.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": ", registered.status().message()));
    }
    absl::StatusOr<OptionValues> options = ResolveOptions(
        registered->options, entry.begin().value(), absl::StrCat("transform '", name, "'"),
        [&where](const std::string& key) { return absl::StrCat(where, " key \"", key, "\""); });
    if (!options.ok()) return options.status();
    absl::StatusOr<std::unique_ptr<SampleTransform>> built = registered->build(*options);
    if (!built.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, " (", name, "): ", built.status().message()));
    }
    transforms->steps_.push_back(*std::move(built));
    transforms->names_.push_back(name);
    transforms->json_.push_back({{name, options->json()}});
  }
  return std::shared_ptr<const SampleTransforms>(std::move(transforms));
}

torch::Tensor SampleTransforms::Apply(const torch::Tensor& sample, uint64_t seed, int64_t epoch,
                                      int64_t index) const {
  if (steps_.empty()) return sample;
  at::Generator random = MakeGenerator(
      MixSeed(seed ^ MixSeed(static_cast<uint64_t>(epoch) ^ MixSeed(static_cast<uint64_t>(index)))));
  torch::Tensor result = sample;
  for (const std::unique_ptr<SampleTransform>& step : steps_) result = step->Apply(result, random);
  return result;
}

absl::StatusOr<std::vector<int64_t>> SampleTransforms::OutputShape(
    std::vector<int64_t> shape) const {
  for (size_t i = 0; i < steps_.size(); ++i) {
    absl::StatusOr<std::vector<int64_t>> next = steps_[i]->OutputShape(shape);
    if (!next.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("transform ", i, " (", names_[i], "): ", next.status().message()));
    }
    shape = *std::move(next);
  }
  return shape;
}

}  // namespace framework
