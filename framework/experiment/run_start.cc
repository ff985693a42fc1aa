#include "framework/experiment/run_start.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "framework/checkpoint/checkpoint.h"
#include "framework/core/named_tensor.h"
#include "framework/model/state_dict.h"
#include "framework/optim/optimizer_state.h"
#include "glog/logging.h"

namespace framework {
namespace {

// What rank 0 tells the others once it knows where the run starts:
// "checkpoint:<path>" (empty path: a fresh start) or "error:<message>".
constexpr char kStartKey[] = "start";

TensorDestinations Destinations(Model& model) {
  std::vector<NamedTensor> tensors = StateDict(model);
  TensorDestinations destinations;
  destinations.reserve(tensors.size());
  for (NamedTensor& named : tensors) destinations[named.name] = named.tensor;
  return destinations;
}

// The state tensors a rank keeps: with sharded optimizer state, the
// optimizer's only for the parameters it owns; null (all) otherwise.
std::function<bool(const std::string&)> StateThisRankKeeps(const TrainingLoop& loop) {
  const OptimizerSharding* sharding = loop.optimizer_sharding();
  if (sharding == nullptr) return nullptr;
  return [sharding](const std::string& name) {
    const std::string parameter = OptimizerStateTensorParameter(name);
    return parameter.empty() || sharding->Owns(parameter);
  };
}

int64_t TensorBytes(const TrainingState& state) {
  int64_t bytes = 0;
  for (const std::vector<NamedTensor>* tensors :
       {&state.model, &state.optimizer, &state.rng, &state.callback_tensors}) {
    for (const NamedTensor& named : *tensors) bytes += static_cast<int64_t>(named.tensor.nbytes());
  }
  return bytes;
}

// What a sharded rank kept of what it read, for the log.
std::string KeptBytes(const TrainingLoop& loop, const TrainingState& state) {
  if (loop.optimizer_sharding() == nullptr) return "";
  return absl::StrCat("; rank ", loop.rank(), " kept ", TensorBytes(state),
                      " bytes of tensors: the model and its own parameters' optimizer state");
}

}  // namespace

absl::Status ResumeFromCandidates(const std::vector<std::string>& candidates, bool may_fall_back,
                                  const DeviceMap& devices, Model& model, TrainingLoop& loop,
                                  CheckpointManager& checkpoints,
                                  const std::function<absl::Status()>& rebuild_weights,
                                  std::string* resumed_from) {
  TensorDestinations destinations = Destinations(model);
  for (size_t i = 0; i < candidates.size(); ++i) {
    const std::string& path = candidates[i];
    const auto start = std::chrono::steady_clock::now();
    // All of it verified (rank 0 chooses for every rank), only this rank's
    // part kept.
    absl::StatusOr<TrainingState> state =
        ReadCheckpoint(path, devices, &destinations, StateThisRankKeeps(loop),
                       /*verify_unwanted=*/true);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!state.ok()) {
      if (!may_fall_back) return state.status();
      LOG(WARNING) << "Skipping invalid checkpoint " << path << ": " << state.status().message()
                   << (i + 1 < candidates.size()
                           ? absl::StrCat("; falling back to ", candidates[i + 1])
                           : std::string("; no older checkpoint is left to try"));
      continue;
    }
    if (absl::Status status = RestoreTrainingState(*state, loop, path); !status.ok()) return status;
    checkpoints.SetResumedFrom(path, *state);
    *resumed_from = path;
    const double megabytes = static_cast<double>(CheckpointSizeBytes(path)) / 1e6;
    LOG(INFO) << "Resumed from " << path << " at epoch " << state->position.epoch + 1
              << ", batch " << state->position.batch << " (global step "
              << state->position.global_step << "); read and verified "
              << absl::StrFormat("%.1f MB in %.3f s (%.0f MB/s)", megabytes, seconds,
                                 megabytes / std::max(seconds, 1e-9))
              << KeptBytes(loop, *state);
    return absl::OkStatus();
  }
  LOG(WARNING) << "--resume: none of the " << candidates.size()
               << " checkpoint(s) is intact (each is kept as it is); starting fresh";
  return rebuild_weights();
}

absl::Status ResumeFromPyTorch(const PyTorchTrainingCheckpoint& checkpoint,
                               const std::string& path, const OptimisationRecord& run,
                               PyTorchEpoch convention, TrainingLoop& loop) {
  absl::StatusOr<PyTorchRestore> restored =
      RestoreFromPyTorch(checkpoint, path, run, convention, loop);
  if (!restored.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--resume_from: ", restored.status().message()));
  }
  for (const std::string& difference : restored->differences) {
    LOG(WARNING) << "PyTorch checkpoint and flags differ, the flags win: " << difference;
  }
  const int64_t next = restored->epochs_finished + 1;
  LOG(INFO) << "Resumed from PyTorch checkpoint " << path << " ('" << checkpoint.optimizer_key
            << "'): " << DescribePyTorchEpoch(*checkpoint.epoch, convention) << "; "
            << (next <= run.epochs
                    ? absl::StrCat("continuing with the ", Ordinal(next), " of ", run.epochs)
                    : absl::StrCat("nothing is left to train under --epochs=", run.epochs));
  return absl::OkStatus();
}

absl::Status AgreeOnStart(Communicator& communicator, const std::string& resumed_from,
                          const DeviceMap& devices, Model& model, TrainingLoop& loop,
                          CheckpointManager& checkpoints) {
  absl::StatusOr<std::string> start =
      communicator.ShareFromRankZero(kStartKey, absl::StrCat("checkpoint:", resumed_from));
  if (!start.ok()) return start.status();
  if (absl::StartsWith(*start, "error:")) {
    return absl::AbortedError(
        absl::StrCat("rank 0 failed to start: ", absl::StripPrefix(*start, "error:")));
  }
  const std::string chosen(absl::StripPrefix(*start, "checkpoint:"));
  if (communicator.rank() == 0 || chosen.empty()) return absl::OkStatus();
  TensorDestinations destinations = Destinations(model);
  // Rank 0 verified all of it as it chose it; a rank whose optimizer state
  // is sharded reads its own parameters' part only.
  absl::StatusOr<TrainingState> state =
      ReadCheckpoint(chosen, devices, &destinations, StateThisRankKeeps(loop));
  if (!state.ok()) {
    return absl::DataLossError(absl::StrCat("rank ", loop.rank(), " cannot read ", chosen,
                                            ", which rank 0 resumed from: ",
                                            state.status().message()));
  }
  LOG(INFO) << "Rank " << loop.rank() << " read and verified " << TensorBytes(*state)
            << " bytes of tensors of " << chosen << " (of " << CheckpointSizeBytes(chosen)
            << " bytes in its files)"
            << (loop.optimizer_sharding() != nullptr
                    ? ": the model and its own parameters' optimizer state"
                    : "");
  if (absl::Status status = RestoreTrainingState(*state, loop, chosen); !status.ok()) {
    return status;
  }
  checkpoints.SetResumedFrom(chosen, *state);
  return absl::OkStatus();
}

void ReportStartFailure(Communicator& communicator, const absl::Status& status) {
  (void)communicator.ShareFromRankZero(kStartKey, absl::StrCat("error:", status.message()));
}

}  // namespace framework
