#include "framework/train/loop_state.h"

#include "absl/strings/str_cat.h"

namespace framework {

nlohmann::json EpochRecord::ToJson() const {
  nlohmann::json json = {{"epoch", epoch}, {"step", step}};
  for (const auto& [key, value] : values) json[key] = value;
  return json;
}

absl::StatusOr<EpochRecord> EpochRecord::FromJson(const nlohmann::json& json) {
  EpochRecord record;
  try {
    for (auto it = json.begin(); it != json.end(); ++it) {
      if (it.key() == "epoch") {
        record.epoch = it->get<int64_t>();
      } else if (it.key() == "step") {
        record.step = it->get<int64_t>();
      } else {
        record.values[it.key()] = it->get<double>();
      }
    }
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad epoch record ", json.dump(), ": ", e.what()));
  }
  return record;
}

nlohmann::json LoopPosition::ToJson() const {
  nlohmann::json json = {{"epoch", epoch},     {"batch", batch},
                         {"global_step", global_step}, {"loss_sum", loss_sum},
                         {"metric_sums", metric_sums}, {"samples", samples},
                         {"seconds", seconds}};
  // Written only when set, so a run that ends normally writes what earlier
  // versions wrote.
  if (!ended_early.empty()) json["ended_early"] = ended_early;
  if (skipped_samples != 0) json["skipped_samples"] = skipped_samples;
  return json;
}

absl::StatusOr<LoopPosition> LoopPosition::FromJson(const nlohmann::json& json) {
  LoopPosition position;
  try {
    position.epoch = json.at("epoch").get<int64_t>();
    position.batch = json.at("batch").get<int64_t>();
    position.global_step = json.at("global_step").get<int64_t>();
    position.loss_sum = json.at("loss_sum").get<double>();
    position.metric_sums = json.at("metric_sums").get<std::vector<double>>();
    position.samples = json.at("samples").get<int64_t>();
    position.seconds = json.at("seconds").get<double>();
    position.ended_early = json.value("ended_early", std::string());
    position.skipped_samples = json.value("skipped_samples", int64_t{0});
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad loop position ", json.dump(), ": ", e.what()));
  }
  return position;
}

}  // namespace framework
