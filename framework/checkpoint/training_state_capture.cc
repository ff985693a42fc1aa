#include "framework/checkpoint/training_state_capture.h"

#include <exception>
#include <functional>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "framework/core/random_state.h"
#include "framework/model/state_dict.h"
#include "framework/optim/optimizer_sharding.h"
#include "framework/optim/optimizer_state.h"
#include "glog/logging.h"

namespace framework {
namespace {

std::string CallbackNames(const TrainingLoop& loop) {
  std::vector<std::string> names;
  for (const TrainingLoop::NamedCallback& named : loop.callbacks()) names.push_back(named.name);
  return names.empty() ? std::string("none") : absl::StrJoin(names, ", ");
}

// Before anything is restored: the checkpoint's callbacks are this run's.
absl::Status CheckCallbacks(const TrainingState& state, const TrainingLoop& loop,
                            const std::string& source) {
  for (const auto& [name, values] : state.callbacks) {
    bool loaded = false;
    for (const TrainingLoop::NamedCallback& named : loop.callbacks()) loaded |= named.name == name;
    if (!loaded) {
      return absl::FailedPreconditionError(absl::StrCat(
          source, " holds the state of callback '", name, "', which this run does not load (its "
          "callbacks: ", CallbackNames(loop), "); select it with --callbacks, or load the plugin "
          "that registers it"));
    }
  }
  for (const TrainingLoop::NamedCallback& named : loop.callbacks()) {
    if (state.callbacks.count(named.name) == 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          source, " holds no state for callback '", named.name, "', which this run loads: it "
          "was saved by a run without it"));
    }
  }
  for (const NamedTensor& tensor : state.callback_tensors) {
    bool owned = false;
    for (const auto& [name, values] : state.callbacks) {
      owned |= absl::StartsWith(tensor.name, CallbackTensorPrefix(name));
    }
    if (!owned) {
      return absl::DataLossError(absl::StrCat(source, ": tensor '", tensor.name,
                                              "' belongs to no callback of the checkpoint"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<TrainingState> CaptureTrainingState(TrainingLoop& loop, const ModelSpec& spec,
                                                   const std::map<std::string, std::string>& flags) {
  TrainingState state;
  state.model_spec = spec;
  // The live tensors themselves, not detached views: a save only reads
  // their bytes (and copies them under NoGradGuard), and 10,000 detach()
  // calls cost a model of small tensors milliseconds per save.
  state.model = StateDict(loop.model());
  absl::StatusOr<OptimizerStateTensors> optimizer = ExtractOptimizerState(loop.optimizer());
  if (!optimizer.ok()) return optimizer.status();
  state.optimizer = std::move(optimizer->tensors);
  state.optimizer_parameters_with_state = optimizer->parameters_with_state;
  state.optimizer_sharded = loop.optimizer_sharding() != nullptr;
  state.rng = {{kCpuGeneratorTensor, GlobalGeneratorState()}};
  state.world_size = loop.world_size();
  state.scheduler = loop.scheduler() != nullptr ? loop.scheduler()->State() : nlohmann::json();
  for (const TrainingLoop::NamedCallback& named : loop.callbacks()) {
    CallbackState callback = named.callback->State();
    state.callbacks[named.name] = callback.values;
    for (NamedTensor& tensor : callback.tensors) {
      state.callback_tensors.push_back(
          {CallbackTensorPrefix(named.name) + tensor.name, tensor.tensor});
    }
  }
  if (LossScaler* scaler = loop.loss_scaler(); scaler != nullptr) {
    state.loss_scaler = scaler->State();
  }
  state.position = loop.position();
  state.history = loop.history();
  state.flags = flags;
  return state;
}

absl::Status RestoreTrainingState(const TrainingState& state, TrainingLoop& loop,
                                  const std::string& source) {
  // This rank's generator when the world size is the one that saved it;
  // otherwise each rank's is derived afresh from (seed, rank, step).
  const bool same_world = state.world_size == loop.world_size();
  const std::string generator_name = RankGeneratorTensor(loop.rank());
  const NamedTensor* generator = nullptr;
  for (const NamedTensor& named : state.rng) {
    if (named.name == generator_name) generator = &named;
  }
  if (generator == nullptr && same_world) {
    return absl::DataLossError(absl::StrCat(source, ": missing entry '", generator_name, "'"));
  }
  if (loop.scheduler() != nullptr && state.scheduler.is_null()) {
    return absl::DataLossError(absl::StrCat(source, ": missing scheduler state"));
  }
  if (loop.loss_scaler() != nullptr && state.loss_scaler.is_null()) {
    return absl::DataLossError(absl::StrCat(
        source, ": no loss scaler state (saved by a run without --precision=fp16)"));
  }
  if (absl::Status s = CheckCallbacks(state, loop, source); !s.ok()) return s;
  if (absl::Status s = LoadStateDict(loop.model(), state.model, /*strict=*/true, source); !s.ok()) {
    return s;
  }
  std::map<std::string, at::Tensor> optimizer;
  for (const NamedTensor& named : state.optimizer) optimizer[named.name] = named.tensor;
  // A sharded optimizer takes its own parameters' state, however the run
  // that saved it was sharded (or not).
  std::function<bool(const std::string&)> restores;
  if (const OptimizerSharding* sharding = loop.optimizer_sharding(); sharding != nullptr) {
    restores = [sharding](const std::string& id) { return sharding->Owns(id); };
  }
  if (absl::Status s = RestoreOptimizerState(loop.optimizer(), optimizer,
                                             state.optimizer_parameters_with_state, source,
                                             restores);
      !s.ok()) {
    return s;
  }
  if (loop.scheduler() != nullptr) {
    if (absl::Status s = loop.scheduler()->LoadState(state.scheduler); !s.ok()) {
      return absl::DataLossError(absl::StrCat(source, ": ", s.message()));
    }
  }
  for (const TrainingLoop::NamedCallback& named : loop.callbacks()) {
    CallbackState callback;
    callback.values = state.callbacks.at(named.name);
    const std::string prefix = CallbackTensorPrefix(named.name);
    for (const NamedTensor& tensor : state.callback_tensors) {
      if (absl::StartsWith(tensor.name, prefix)) {
        callback.tensors.push_back({tensor.name.substr(prefix.size()), tensor.tensor});
      }
    }
    if (absl::Status s = named.callback->LoadState(callback, source); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat(source, ": callback '", named.name, "': ",
                                                 s.message()));
    }
  }
  if (LossScaler* scaler = loop.loss_scaler(); scaler != nullptr) {
    if (absl::Status s = scaler->LoadState(state.loss_scaler); !s.ok()) {
      return absl::DataLossError(absl::StrCat(source, ": ", s.message()));
    }
  }
  if (absl::Status s = loop.Restore(state.position, state.history); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", s.message()));
  }
  if (!same_world) {
    SeedGlobalGenerator(RankSeed(loop.options().seed, loop.rank(), state.position.global_step));
    if (loop.rank() == 0) {
      LOG(INFO) << source << " was saved by " << state.world_size << " rank(s) and this run has "
                << loop.world_size() << ": the same global sample position, learning rate and "
                << "schedule, but each rank's dropout generator is derived afresh from (seed, "
                << "rank, step " << state.position.global_step << ")";
    }
    return absl::OkStatus();
  }
  try {
    RestoreGlobalGeneratorState(generator->tensor);
  } catch (const std::exception& e) {
    return absl::DataLossError(
        absl::StrCat(source, ": bad '", generator_name, "' entry: ", e.what()));
  }
  return absl::OkStatus();
}

}  // namespace framework
