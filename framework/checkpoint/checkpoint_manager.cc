#include "framework/checkpoint/checkpoint_manager.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <chrono>
#include <filesystem>
#include <map>
#include <set>

#include <ATen/Parallel.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/types.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/match.h"
#include "framework/core/durable_file.h"
#include "framework/core/random_state.h"
#include "glog/logging.h"

namespace framework {
namespace {

namespace fs = std::filesystem;

}  // namespace

CheckpointManager::CheckpointManager(CheckpointOptions options, ModelSpec spec,
                                     std::map<std::string, std::string> flags)
    : options_(std::move(options)), spec_(std::move(spec)), flags_(std::move(flags)) {}

absl::StatusOr<std::unique_ptr<CheckpointManager>> CheckpointManager::Create(
    CheckpointOptions options, ModelSpec spec, std::map<std::string, std::string> flags) {
  if (options.communicator != nullptr && options.communicator->rank() != 0) {
    return std::unique_ptr<CheckpointManager>(
        new CheckpointManager(std::move(options), std::move(spec), std::move(flags)));
  }
  if (options.keep_last < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint option keep_last must be >= 1, got ", options.keep_last));
  }
  if (options.keep_best < 0 || options.keep_every_epochs < 0 || options.every_epochs < 0 ||
      options.every_steps < 0) {
    return absl::InvalidArgumentError(
        "checkpoint options keep_best, keep_every_epochs, every_epochs and every_steps must be "
        ">= 0");
  }
  if (absl::Status status = Env::Default()->CreateDirectories(options.directory); !status.ok()) {
    return status;
  }
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(options.directory, error)) {
    const std::string name = entry.path().filename().string();
    if (IsLeftoverCheckpointName(name)) {
      LOG(INFO) << "Removing " << entry.path().string() << ", left by an interrupted save";
      if (absl::Status status = Env::Default()->RemoveTree(entry.path().string()); !status.ok()) {
        LOG(WARNING) << status.message();
      }
    }
  }
  std::unique_ptr<CheckpointManager> manager(
      new CheckpointManager(std::move(options), std::move(spec), std::move(flags)));
  for (const CheckpointInfo& info : ListCheckpoints(manager->options_.directory)) {
    if (info.manifest.has_value()) {
      manager->next_sequence_ =
          std::max(manager->next_sequence_, info.manifest->commit_sequence + 1);
    }
  }
  return manager;
}

CheckpointManager::~CheckpointManager() {
  absl::Status status = Wait();
  if (!status.ok()) LOG(ERROR) << status.message();
}

void CheckpointManager::SetResumedFrom(const std::string& path, const TrainingState& state) {
  resumed_from_ = fs::path(path).lexically_normal().string();
  parent_ = fs::path(resumed_from_).filename().string();
  line_ = state.line;
  // From before lines were recorded: the line starts at it.
  if (line_.empty() && state.commit_sequence > 0) line_ = ExtendLine({}, state.commit_sequence);
  last_saved_step_ = state.position.global_step;
  last_saved_ = resumed_from_;
}

std::string CheckpointManager::NextPath(int64_t step) const {
  int generation = 0;
  std::error_code error;
  while (fs::exists(fs::path(options_.directory) / CheckpointName(step, generation), error)) {
    ++generation;
  }
  return (fs::path(options_.directory) / CheckpointName(step, generation)).string();
}

absl::Status CheckpointManager::Commit(const std::string& path, const TrainingState& state,
                                       const std::function<absl::Status()>& commit,
                                       std::chrono::steady_clock::time_point start) {
  if (absl::Status status = commit(); !status.ok()) return status;
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  {
    // The next save continues this one; a failed save is no one's parent.
    std::lock_guard<std::mutex> lock(mutex_);
    parent_ = fs::path(path).filename().string();
    line_ = state.line;
    last_saved_step_ = state.position.global_step;
    last_saved_ = path;
  }
  LOG(INFO) << "Saved checkpoint " << path << " (epoch " << state.position.epoch << ", batch "
            << state.position.batch << ", step " << state.position.global_step << ", "
            << CheckpointSizeBytes(path) / 1024 << " KiB, " << seconds << " s)";
  if (options_.on_saved) options_.on_saved(state.position.global_step, seconds);
  return ApplyRetention(path);
}

namespace {

// Entries of checkpoint directory `path` that a save does not write.
std::vector<std::string> ForeignFiles(const std::string& path) {
  std::vector<std::string> foreign;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(path, error)) {
    const std::string name = entry.path().filename().string();
    if (name != kCheckpointManifest && !IsCheckpointTensorFileName(name)) {
      foreign.push_back(name);
    }
  }
  std::sort(foreign.begin(), foreign.end());
  return foreign;
}

}  // namespace

absl::Status CheckpointManager::ApplyRetention(const std::string& just_saved) {
  std::vector<CheckpointInfo> infos = ListCheckpoints(options_.directory, &manifests_);
  // The current line's checkpoints come last in commit order, so the last N
  // are its newest; others it left behind go with retention like any old one.
  const std::set<std::string> current_line = CheckpointsOnCurrentLine(infos);
  RetentionPolicy policy;
  policy.keep_last = options_.keep_last;
  policy.keep_best = options_.keep_best;
  policy.monitor = options_.monitor;
  policy.maximize = options_.maximize;
  policy.keep_every_epochs = options_.keep_every_epochs;
  const std::vector<const CheckpointInfo*> doomed_checkpoints = CheckpointsToDelete(
      infos, policy, {fs::path(just_saved).lexically_normal().string(), resumed_from_});
  for (const CheckpointInfo* info : doomed_checkpoints) {
    // A user's file inside a checkpoint (notes, an export) is never deleted
    // with it: such a checkpoint is left as it is.
    std::vector<std::string> foreign = ForeignFiles(info->path);
    if (!foreign.empty()) {
      LOG(WARNING) << "Keeping checkpoint " << info->path << " past retention: it holds files "
                   << "the checkpoint manager did not write (" << absl::StrJoin(foreign, ", ")
                   << "); move them out and it will be deleted";
      continue;
    }
    // Renamed first so that a crash mid-deletion never leaves a damaged
    // directory under a checkpoint name.
    const fs::path doomed = fs::path(options_.directory) / DoomedCheckpointName(info->name);
    if (absl::Status renamed = Env::Default()->RenameFile(info->path, doomed.string());
        !renamed.ok()) {
      LOG(WARNING) << "Cannot delete checkpoint " << info->path << ": " << renamed.message();
      continue;
    }
    if (absl::Status removed = Env::Default()->RemoveTree(doomed.string()); !removed.ok()) {
      // Cleared as a leftover at the next start.
      LOG(WARNING) << "Cannot delete checkpoint " << info->path << ": " << removed.message();
      continue;
    }
    LOG(INFO) << "Deleted checkpoint " << info->path << " (retention"
              << (current_line.count(info->path) > 0 ? "" : "; on a line abandoned by a resume")
              << ")";
  }
  return absl::OkStatus();
}

namespace {

// A host buffer for a snapshot of `tensor`: pinned when the tensor lives on
// an accelerator, so that the copy runs at the bus's full speed.
at::Tensor SnapshotBufferFor(const at::Tensor& tensor) {
  at::TensorOptions options = tensor.options().device(at::kCPU);
  if (!tensor.device().is_cpu()) options = options.pinned_memory(true);
  return at::empty(tensor.sizes(), options);
}

bool Fits(const at::Tensor& buffer, const at::Tensor& tensor) {
  return buffer.defined() && buffer.sizes() == tensor.sizes() &&
         buffer.scalar_type() == tensor.scalar_type();
}

// Copies host tensors into buffers in pieces spread over LibTorch's intra-op
// threads (one large tensor as much as many small ones); others (on an
// accelerator, or strided) with copy_.
void ParallelCopy(const std::vector<std::pair<at::Tensor, at::Tensor>>& copies) {
  constexpr int64_t kPiece = int64_t{1} << 20;
  struct Piece {
    const char* from;
    char* to;
    int64_t size;
  };
  std::vector<Piece> pieces;
  // Parameters are captured as they are (requiring grad); a snapshot is data.
  torch::NoGradGuard no_grad;
  for (const auto& [from, to] : copies) {
    if (!from.device().is_cpu() || !from.is_contiguous()) {
      to.copy_(from);
      continue;
    }
    const auto* source = static_cast<const char*>(from.data_ptr());
    auto* destination = static_cast<char*>(to.data_ptr());
    const int64_t size = static_cast<int64_t>(from.nbytes());
    for (int64_t done = 0; done < size; done += kPiece) {
      pieces.push_back({source + done, destination + done, std::min(kPiece, size - done)});
    }
  }
  at::parallel_for(0, static_cast<int64_t>(pieces.size()), 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) std::memcpy(pieces[i].to, pieces[i].from, pieces[i].size);
  });
}

}  // namespace

absl::Status CheckpointManager::WaitBeforeSaving(int64_t step) {
  const bool in_flight = writer_.joinable() && writer_is_save_;
  const auto start = std::chrono::steady_clock::now();
  absl::Status status = Wait();
  const double waited =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (in_flight && waited > 0.01) {
    LOG(INFO) << "Checkpoint at step " << step << " waited " << waited
              << " s for the previous one to finish writing (one save at a time; save less "
              << "often, or to a faster disk, to avoid this)";
  }
  return status;
}

absl::Status CheckpointManager::Save(TrainingLoop& loop) {
  return SaveAcrossRanks(loop, /*periodic=*/false);
}

absl::Status CheckpointManager::SaveAcrossRanks(TrainingLoop& loop, bool periodic) {
  Communicator* const group = options_.communicator;
  if (group != nullptr) {
    CHECK_EQ(group, loop.options().communicator) << "the manager's and the loop's ranks differ";
    if (group->world_size() > 1) return SaveShares(loop, periodic);
  }
  // A periodic save waits for the previous one (and logs how long); that
  // one's failure is logged, and this save goes ahead.
  if (periodic) {
    if (absl::Status previous = WaitBeforeSaving(loop.position().global_step); !previous.ok()) {
      LOG(ERROR) << previous.message() << "; training continues and this checkpoint retries";
    }
  }
  absl::Status written = SaveOnWriter(loop);
  if (periodic && !written.ok()) {
    // A failed periodic save costs the progress since the last good one, not
    // the run: training goes on and the next trigger retries. Earlier
    // checkpoints are untouched (WriteCheckpoint commits atomically).
    LOG(ERROR) << written.message() << "; training continues and the next checkpoint retries";
    return absl::OkStatus();
  }
  return written;
}

absl::Status CheckpointManager::SaveOnWriter(TrainingLoop& loop) {
  // At most one save in flight: the previous one finishes first.
  if (absl::Status previous = WaitBeforeSaving(loop.position().global_step); !previous.ok()) {
    return previous;
  }
  absl::StatusOr<TrainingState> state = CaptureTrainingState(loop, spec_, flags_);
  if (!state.ok()) return state.status();
  const std::string path = NextPath(state->position.global_step);
  state->commit_sequence = next_sequence_++;
  state->parent = parent_;
  state->line = ExtendLine(line_, state->commit_sequence);
  return RunSave(loop, *std::move(state), [this, path](const TrainingState& snapshot) {
    WriteOptions write_options;
    write_options.fsync = options_.fsync;
    return Commit(path, snapshot, [&] { return WriteCheckpoint(path, snapshot, write_options); },
                  std::chrono::steady_clock::now());
  });
}

absl::Status CheckpointManager::RunSave(
    TrainingLoop& loop, TrainingState state,
    std::function<absl::Status(const TrainingState&)> save) {
  if (!options_.async) return save(state);

  // Buffers (batch-norm statistics) change in the next forward pass, so they
  // are copied now; parameters and optimizer state change only in the next
  // optimizer step, so the writer thread copies them while the training
  // thread runs that step's forward and backward passes, and
  // BeforeOptimizerStep() waits for the copy.
  std::set<std::string> buffers;
  for (const auto& item : loop.model().named_buffers()) buffers.insert(item.key());
  std::vector<std::pair<at::Tensor, at::Tensor>> now, deferred;
  for (std::vector<NamedTensor>* tensors :
       {&state.model, &state.optimizer, &state.callback_tensors}) {
    for (NamedTensor& named : *tensors) {
      at::Tensor& buffer = snapshot_buffers_[named.name];
      if (!Fits(buffer, named.tensor)) buffer = SnapshotBufferFor(named.tensor);
      (buffers.count(named.name) > 0 && tensors == &state.model ? now : deferred)
          .push_back({named.tensor, buffer});
      named.tensor = buffer;
    }
  }
  ParallelCopy(now);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    snapshot_pending_ = true;
  }
  writer_is_save_ = true;
  writer_ = std::thread([this, deferred = std::move(deferred), snapshot = std::move(state),
                         save = std::move(save)]() {
    ParallelCopy(deferred);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      snapshot_pending_ = false;
    }
    snapshot_copied_.notify_all();
    absl::Status status = save(snapshot);
    std::lock_guard<std::mutex> lock(mutex_);
    writer_status_ = status;
  });
  return absl::OkStatus();
}

absl::Status CheckpointManager::SaveShares(TrainingLoop& loop, bool periodic) {
  Communicator* const group = options_.communicator;
  const int64_t step = loop.position().global_step;
  const int64_t rank = group->rank();
  // Each rank's previous save has finished writing (one save at a time).
  if (absl::Status previous = WaitBeforeSaving(step); !previous.ok()) {
    if (!periodic) return previous;
    LOG(ERROR) << previous.message() << "; training continues and this checkpoint retries";
  }
  absl::StatusOr<std::vector<at::Tensor>> generators =
      group->AllGather(GlobalGeneratorState(), "the ranks' generator states");
  if (!generators.ok()) return generators.status();

  // Rank 0 names the checkpoint and makes its temporary directory.
  const int64_t save = shared_saves_++;
  std::string named;
  if (rank == 0) {
    const std::string path = NextPath(step);
    const std::string tmp = TemporaryCheckpointPath(path);
    absl::Status made = Env::Default()->RemoveTree(tmp);
    if (made.ok()) made = Env::Default()->CreateDirectories(tmp);
    named = made.ok() ? absl::StrCat(path, "\n", tmp) : absl::StrCat("failed: ", made.message());
  }
  absl::StatusOr<std::string> shared =
      group->ShareFromRankZero(absl::StrCat("checkpoint-", save), named);
  if (!shared.ok()) return shared.status();
  absl::Status written;
  if (absl::StartsWith(*shared, "failed: ")) {
    written = absl::InternalError(absl::StrCat("saving the checkpoint at step ", step,
                                               " failed (earlier checkpoints are intact): ",
                                               shared->substr(8)));
  } else {
    const std::vector<std::string> paths = absl::StrSplit(*shared, '\n');
    absl::StatusOr<TrainingState> state = CaptureTrainingState(loop, spec_, flags_);
    if (!state.ok()) {
      written = state.status();
    } else {
      if (rank == 0) {
        for (int64_t other = 1; other < group->world_size(); ++other) {
          state->rng.push_back({RankGeneratorTensor(other), (*generators)[other]});
        }
        state->commit_sequence = next_sequence_++;
        state->parent = parent_;
        state->line = ExtendLine(line_, state->commit_sequence);
      }
      const std::string report_key = absl::StrCat("checkpoint-", save, "-share-");
      // Only this rank's share is snapshot (async) and written.
      written = RunSave(loop, CheckpointShareOf(*state, rank, group->world_size()),
                        [this, path = paths[0], tmp = paths[1], report_key](
                            const TrainingState& snapshot) {
                          return WriteShare(path, tmp, report_key, snapshot);
                        });
      if (rank != 0) last_saved_step_ = step;
    }
  }
  // Said before the barrier, which fails too when a rank died writing.
  if (!written.ok()) {
    LOG(ERROR) << written.message()
               << (periodic ? "; training continues and the next checkpoint retries" : "");
  }
  if (absl::Status status = group->Barrier(absl::StrCat("after the checkpoint at step ", step));
      !status.ok()) {
    return status;
  }
  // A failed periodic save costs the progress since the last good one, not
  // the run: training goes on and the next trigger retries. Earlier
  // checkpoints are untouched (nothing is committed before every share is).
  return periodic ? absl::OkStatus() : written;
}

absl::Status CheckpointManager::WriteShare(const std::string& path, const std::string& tmp,
                                           const std::string& report_key,
                                           const TrainingState& state) {
  const auto start = std::chrono::steady_clock::now();
  Communicator* const group = options_.communicator;
  const int64_t rank = group->rank();
  WriteOptions write_options;
  write_options.fsync = options_.fsync;
  absl::StatusOr<CheckpointShare> share =
      WriteCheckpointShare(tmp, state, rank, group->world_size(), write_options);
  if (rank != 0) {
    absl::StatusOr<std::string> report = share.ok() ? share->ToText()
                                                    : absl::StatusOr<std::string>(share.status());
    const std::string text =
        report.ok() ? *report : absl::StrCat("failed: ", report.status().message());
    absl::Status published = group->PublishToStore(absl::StrCat(report_key, rank), text);
    if (!report.ok()) {
      return absl::Status(report.status().code(),
                          absl::StrCat("rank ", rank, " could not write its share of checkpoint ",
                                       path, ": ", report.status().message()));
    }
    return published;
  }
  // Rank 0 commits once every rank has reported its share written.
  std::vector<CheckpointShare> shares;
  absl::Status status = share.status();
  if (status.ok()) shares.push_back(*std::move(share));
  for (int64_t other = 1; status.ok() && other < group->world_size(); ++other) {
    absl::StatusOr<std::string> report = group->ReadFromStore(absl::StrCat(report_key, other));
    if (!report.ok()) {
      status = absl::Status(report.status().code(),
                            absl::StrCat("rank ", other, " did not report its share (is it gone?): ",
                                         report.status().message()));
    } else if (absl::StartsWith(*report, "failed: ")) {
      status = absl::InternalError(
          absl::StrCat("rank ", other, " could not write its share: ", report->substr(8)));
    } else {
      absl::StatusOr<CheckpointShare> parsed =
          CheckpointShare::FromText(*report, absl::StrCat("rank ", other, "'s share report"));
      status = parsed.status();
      if (parsed.ok()) shares.push_back(*std::move(parsed));
    }
  }
  if (!status.ok()) {
    (void)Env::Default()->RemoveTree(tmp);
    return CheckpointSaveFailed(path, status);
  }
  return Commit(
      path, state,
      [&] { return CommitCheckpointShares(tmp, path, state, std::move(shares), write_options); },
      start);
}

absl::Status CheckpointManager::BeforeOptimizerStep(TrainingLoop& loop) {
  std::unique_lock<std::mutex> lock(mutex_);
  snapshot_copied_.wait(lock, [this] { return !snapshot_pending_; });
  return absl::OkStatus();
}


void CheckpointManager::PrepareSnapshotBuffers(const TrainingState& state) {
  std::vector<std::pair<std::string, at::Tensor>> wanted;
  for (const std::vector<NamedTensor>* tensors :
       {&state.model, &state.optimizer, &state.callback_tensors}) {
    for (const NamedTensor& named : *tensors) {
      wanted.push_back({named.name, SnapshotBufferFor(named.tensor)});
    }
  }
  writer_is_save_ = false;
  writer_ = std::thread([this, wanted = std::move(wanted)]() mutable {
    // Touching every page now moves the page faults out of the first save.
    for (auto& [name, buffer] : wanted) buffer.zero_();
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [name, buffer] : wanted) snapshot_buffers_.emplace(name, std::move(buffer));
  });
}

absl::Status CheckpointManager::Wait() {
  if (writer_.joinable()) writer_.join();
  std::lock_guard<std::mutex> lock(mutex_);
  absl::Status status = writer_status_;
  writer_status_ = absl::OkStatus();
  return status;
}

absl::Status CheckpointManager::PeriodicSave(TrainingLoop& loop) {
  return SaveAcrossRanks(loop, /*periodic=*/true);
}

absl::Status CheckpointManager::OnStepEnd(TrainingLoop& loop) {
  const LoopPosition& position = loop.position();
  if (options_.async && !buffers_prepared_ && !writer_.joinable()) {
    buffers_prepared_ = true;
    absl::StatusOr<TrainingState> state = CaptureTrainingState(loop, spec_, flags_);
    // Every rank snapshots (and so prepares buffers for) its own share.
    Communicator* const group = options_.communicator;
    if (state.ok() && group != nullptr) {
      state = CheckpointShareOf(*state, group->rank(), group->world_size());
    }
    if (state.ok()) PrepareSnapshotBuffers(*state);
  }
  // A checkpoint asked for (--checkpoint_signal), at the step every rank
  // agreed on.
  const bool asked = loop.checkpoint_due();
  if (asked) {
    LOG(INFO) << "Checkpoint asked for by signal: saving at global step " << position.global_step;
  }
  if (!asked &&
      (options_.every_steps <= 0 || position.global_step % options_.every_steps != 0)) {
    return absl::OkStatus();
  }
  // The epoch's last step: save after its evaluation instead, so that the
  // checkpoint carries the epoch's metrics (one checkpoint per step).
  if (position.batch == loop.batches_per_epoch()) {
    save_after_epoch_ = true;
    return absl::OkStatus();
  }
  return PeriodicSave(loop);
}

absl::Status CheckpointManager::OnEpochEnd(TrainingLoop& loop, const EpochRecord& record) {
  const int64_t epochs_done = loop.position().epoch;
  const bool interval = options_.every_epochs > 0 && epochs_done % options_.every_epochs == 0;
  const bool milestone =
      options_.keep_every_epochs > 0 && epochs_done % options_.keep_every_epochs == 0;
  if (!(interval || milestone || save_after_epoch_)) return absl::OkStatus();
  save_after_epoch_ = false;
  return PeriodicSave(loop);
}

absl::Status CheckpointManager::OnTrainEnd(TrainingLoop& loop) {
  // The final (or stop-signal) save must land: if the last periodic save
  // failed it is retried here, and a failure now fails the run.
  if (absl::Status status = Wait(); !status.ok()) {
    LOG(ERROR) << status.message() << "; retrying it as the final checkpoint";
  }
  Communicator* const group = options_.communicator;
  bool needed = loop.position().global_step != last_saved_step_;
  if (group != nullptr) {
    // Rank 0 knows whether its last save landed; the others follow it.
    std::vector<at::Tensor> decision = {at::full({1}, needed ? 1 : 0, at::kLong)};
    if (absl::Status status = group->Broadcast(decision, 0, "whether to save at the end");
        !status.ok()) {
      return status;
    }
    needed = decision[0].item<int64_t>() != 0;
  }
  absl::Status status = needed ? Save(loop) : absl::OkStatus();
  absl::Status waited = Wait();
  if (group != nullptr) {
    // No rank leaves before rank 0 has committed the final checkpoint.
    if (absl::Status committed = group->Barrier("after the final checkpoint was committed");
        !committed.ok()) {
      return committed;
    }
  }
  return status.ok() ? waited : status;
}

}  // namespace framework
