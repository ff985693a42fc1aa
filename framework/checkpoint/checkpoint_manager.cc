#include "framework/checkpoint/checkpoint_manager.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <chrono>
#include <filesystem>
#include <limits>
#include <map>
#include <tuple>
#include <set>

#include <ATen/Parallel.h>
#include <torch/types.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "framework/core/durable_file.h"
#include "framework/optim/optimizer_state.h"
#include "framework/core/random_state.h"
#include "framework/model/state_dict.h"
#include "glog/logging.h"

namespace framework {
namespace {

namespace fs = std::filesystem;


std::vector<NamedTensor> Detached(std::vector<NamedTensor> tensors) {
  for (NamedTensor& named : tensors) named.tensor = named.tensor.detach();
  return tensors;
}

}  // namespace

bool CheckpointInfo::at_epoch_end() const {
  return manifest.has_value() && manifest->position.batch == 0 && !manifest->history.empty() &&
         static_cast<int64_t>(manifest->history.size()) == manifest->position.epoch;
}

std::optional<double> CheckpointInfo::Metric(const std::string& name) const {
  if (!at_epoch_end()) return std::nullopt;
  const auto& values = manifest->history.back().values;
  auto it = values.find(name);
  if (it == values.end()) return std::nullopt;
  return it->second;
}

std::vector<CheckpointInfo> ListCheckpoints(const std::string& directory, ManifestCache* cache) {
  std::vector<CheckpointInfo> infos;
  std::set<std::string> seen;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(directory, error)) {
    const std::string name = entry.path().filename().string();
    std::optional<std::pair<int64_t, int>> parsed = ParseCheckpointName(name);
    if (!parsed.has_value() || !entry.is_directory(error)) continue;
    CheckpointInfo info;
    info.name = name;
    info.path = entry.path().lexically_normal().string();
    info.step = parsed->first;
    info.generation = parsed->second;
    struct stat manifest_stat;
    const bool stamped =
        stat((info.path + "/" + kCheckpointManifest).c_str(), &manifest_stat) == 0;
    const int64_t modified_ns =
        stamped ? int64_t{manifest_stat.st_mtim.tv_sec} * 1000000000 + manifest_stat.st_mtim.tv_nsec
                : 0;
    const ManifestCache::Entry* cached = nullptr;
    if (cache != nullptr && stamped) {
      auto it = cache->entries.find(info.path);
      if (it != cache->entries.end() && it->second.size == manifest_stat.st_size &&
          it->second.modified_ns == modified_ns) {
        cached = &it->second;
      }
    }
    if (cached != nullptr) {
      info.manifest = cached->manifest;
    } else {
      absl::StatusOr<CheckpointManifest> manifest = ReadCheckpointManifest(info.path);
      if (manifest.ok()) {
        info.manifest = *std::move(manifest);
        if (cache != nullptr && stamped) {
          cache->entries[info.path] = {manifest_stat.st_size, modified_ns, *info.manifest};
        }
      } else {
        info.problem = std::string(manifest.status().message());
      }
    }
    seen.insert(info.path);
    infos.push_back(std::move(info));
  }
  if (cache != nullptr) {
    for (auto it = cache->entries.begin(); it != cache->entries.end();) {
      it = seen.count(it->first) > 0 ? std::next(it) : cache->entries.erase(it);
    }
  }
  auto order = [](const CheckpointInfo& info) {
    const int64_t sequence = info.manifest.has_value() ? info.manifest->commit_sequence
                                                       : std::numeric_limits<int64_t>::max();
    return std::make_tuple(sequence, info.step, info.generation);
  };
  std::sort(infos.begin(), infos.end(),
            [&](const CheckpointInfo& a, const CheckpointInfo& b) { return order(a) < order(b); });
  return infos;
}

std::set<std::string> CheckpointsOnCurrentLine(const std::vector<CheckpointInfo>& infos) {
  std::map<std::string, const CheckpointInfo*> by_name;
  const CheckpointInfo* newest = nullptr;
  for (const CheckpointInfo& info : infos) {
    if (!info.manifest.has_value()) continue;
    by_name[info.name] = &info;
    newest = &info;  // commit order
  }
  std::set<std::string> line;
  if (newest == nullptr) return line;
  // The newest checkpoint records its line; one from before lines were
  // recorded is followed by its parent links (which retention may have cut).
  std::vector<const CheckpointInfo*> unrecorded;
  if (newest->manifest->line.empty()) unrecorded.push_back(newest);
  for (const CheckpointInfo& info : infos) {
    if (info.manifest.has_value() &&
        IsOnLine(newest->manifest->line, info.manifest->commit_sequence)) {
      line.insert(info.path);
      if (info.manifest->line.empty()) unrecorded.push_back(&info);
    }
  }
  for (const CheckpointInfo* info : unrecorded) {
    line.insert(info->path);
    while (true) {
      auto parent = by_name.find(info->manifest->parent);
      if (parent == by_name.end() || !line.insert(parent->second->path).second) break;
      info = parent->second;
    }
  }
  return line;
}

absl::StatusOr<std::unique_ptr<RunDirectoryLock>> RunDirectoryLock::Acquire(
    const std::string& run_dir) {
  const std::string path = run_dir + "/LOCK";
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoError("cannot open lock file", path);
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    char buffer[32] = {};
    const ssize_t n = pread(fd, buffer, sizeof(buffer) - 1, 0);
    close(fd);
    const std::string owner = n > 0 ? absl::StrCat(" (pid ", absl::StripAsciiWhitespace(buffer), ")")
                                    : "";
    return absl::FailedPreconditionError(absl::StrCat(
        "run directory ", run_dir, " is in use by another process", owner,
        "; wait for it to finish or use another --run_dir (a crashed process releases ", path,
        " automatically)"));
  }
  const std::string pid = absl::StrCat(getpid(), "\n");
  if (ftruncate(fd, 0) != 0 || pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    absl::Status status = ErrnoError("cannot write lock file", path);
    close(fd);
    return status;
  }
  return std::unique_ptr<RunDirectoryLock>(new RunDirectoryLock(fd));
}

RunDirectoryLock::~RunDirectoryLock() { close(fd_); }

absl::StatusOr<TrainingState> CaptureTrainingState(TrainingLoop& loop, const ModelSpec& spec,
                                                   const std::map<std::string, std::string>& flags) {
  TrainingState state;
  state.model_spec = spec;
  state.model = Detached(StateDict(loop.model()));
  absl::StatusOr<OptimizerStateTensors> optimizer = ExtractOptimizerState(loop.optimizer());
  if (!optimizer.ok()) return optimizer.status();
  state.optimizer = Detached(optimizer->tensors);
  state.optimizer_parameters_with_state = optimizer->parameters_with_state;
  state.rng = {{kCpuGeneratorTensor, GlobalGeneratorState()}};
  state.world_size = loop.world_size();
  state.scheduler = loop.scheduler() != nullptr ? loop.scheduler()->State() : nlohmann::json();
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
  if (absl::Status s = LoadStateDict(loop.model(), state.model, /*strict=*/true, source); !s.ok()) {
    return s;
  }
  std::map<std::string, at::Tensor> optimizer;
  for (const NamedTensor& named : state.optimizer) optimizer[named.name] = named.tensor;
  if (absl::Status s = RestoreOptimizerState(loop.optimizer(), optimizer,
                                             state.optimizer_parameters_with_state, source);
      !s.ok()) {
    return s;
  }
  if (loop.scheduler() != nullptr) {
    if (absl::Status s = loop.scheduler()->LoadState(state.scheduler); !s.ok()) {
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
  std::error_code error;
  fs::create_directories(options.directory, error);
  if (error) {
    return absl::PermissionDeniedError(absl::StrCat("cannot create checkpoint directory ",
                                                    options.directory, ": ", error.message()));
  }
  for (const auto& entry : fs::directory_iterator(options.directory, error)) {
    const std::string name = entry.path().filename().string();
    if (IsLeftoverCheckpointName(name)) {
      LOG(INFO) << "Removing " << entry.path().string() << ", left by an interrupted save";
      fs::remove_all(entry.path(), error);
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

std::optional<std::string> FindNewestValidCheckpoint(const std::string& directory) {
  std::vector<CheckpointInfo> infos = ListCheckpoints(directory);
  for (auto it = infos.rbegin(); it != infos.rend(); ++it) {
    absl::Status status = VerifyCheckpoint(it->path);
    if (status.ok()) return it->path;
    LOG(WARNING) << "Skipping invalid checkpoint " << it->path << ": " << status.message();
  }
  return std::nullopt;
}

void CheckpointManager::SetResumedFrom(const std::string& path, int64_t step) {
  resumed_from_ = fs::path(path).lexically_normal().string();
  parent_ = fs::path(resumed_from_).filename().string();
  absl::StatusOr<CheckpointManifest> manifest = ReadCheckpointManifest(resumed_from_);
  line_.clear();
  if (manifest.ok()) {
    line_ = manifest->line;
    // From before lines were recorded: the line starts at it.
    if (line_.empty() && manifest->commit_sequence > 0) {
      line_ = ExtendLine({}, manifest->commit_sequence);
    }
  }
  last_saved_step_ = step;
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

absl::Status CheckpointManager::Commit(const std::string& path, const TrainingState& state) {
  const auto start = std::chrono::steady_clock::now();
  WriteOptions write_options;
  write_options.fsync = options_.fsync;
  if (absl::Status status = WriteCheckpoint(path, state, write_options); !status.ok()) {
    return status;
  }
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
    if (name != kCheckpointManifest && name != kCheckpointModelFile &&
        name != kCheckpointStateFile) {
      foreign.push_back(name);
    }
  }
  std::sort(foreign.begin(), foreign.end());
  return foreign;
}

}  // namespace

absl::Status CheckpointManager::ApplyRetention(const std::string& just_saved) {
  std::vector<CheckpointInfo> infos = ListCheckpoints(options_.directory, &manifests_);
  std::vector<const CheckpointInfo*> valid;
  for (const CheckpointInfo& info : infos) {
    if (info.manifest.has_value()) valid.push_back(&info);
  }
  // The current line's checkpoints come last in commit order, so the last N
  // are its newest; others it left behind go with retention like any old one.
  const std::set<std::string> current_line = CheckpointsOnCurrentLine(infos);
  std::set<std::string> keep = {fs::path(just_saved).lexically_normal().string(), resumed_from_};
  const size_t last = std::min<size_t>(valid.size(), options_.keep_last);
  for (size_t i = valid.size() - last; i < valid.size(); ++i) keep.insert(valid[i]->path);
  if (options_.keep_best > 0) {
    std::vector<std::pair<double, const CheckpointInfo*>> ranked;
    for (const CheckpointInfo* info : valid) {
      std::optional<double> value = info->Metric(options_.monitor);
      if (value.has_value()) ranked.push_back({options_.maximize ? -*value : *value, info});
    }
    // Best first; among equals the newer one.
    std::stable_sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
      if (a.first != b.first) return a.first < b.first;
      return std::make_pair(a.second->step, a.second->generation) >
             std::make_pair(b.second->step, b.second->generation);
    });
    for (size_t i = 0; i < ranked.size() && i < static_cast<size_t>(options_.keep_best); ++i) {
      keep.insert(ranked[i].second->path);
    }
  }
  if (options_.keep_every_epochs > 0) {
    for (const CheckpointInfo* info : valid) {
      if (info->at_epoch_end() &&
          static_cast<int64_t>(info->manifest->history.size()) % options_.keep_every_epochs == 0) {
        keep.insert(info->path);
      }
    }
  }
  for (const CheckpointInfo* info : valid) {
    if (keep.count(info->path) > 0) continue;
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
    std::error_code error;
    fs::rename(info->path, doomed, error);
    if (error) {
      LOG(WARNING) << "Cannot delete checkpoint " << info->path << ": " << error.message();
      continue;
    }
    if (absl::Status removed = RemoveTree(doomed.string()); !removed.ok()) {
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
  const int64_t step = loop.position().global_step;
  std::vector<NamedTensor> rank_generators;
  if (group != nullptr) {
    CHECK_EQ(group, loop.options().communicator) << "the manager's and the loop's ranks differ";
    absl::StatusOr<std::vector<at::Tensor>> generators =
        group->AllGather(GlobalGeneratorState(), "the ranks' generator states");
    if (!generators.ok()) return generators.status();
    for (int64_t rank = 1; rank < group->world_size(); ++rank) {
      rank_generators.push_back({RankGeneratorTensor(rank), (*generators)[rank]});
    }
  }
  absl::Status written;
  if (writer()) {
    // A periodic save waits for the previous one (and logs how long); that
    // one's failure is logged, and this save goes ahead.
    if (periodic) {
      if (absl::Status previous = WaitBeforeSaving(step); !previous.ok()) {
        LOG(ERROR) << previous.message() << "; training continues and this checkpoint retries";
      }
    }
    written = SaveOnWriter(loop, std::move(rank_generators));
  } else {
    last_saved_step_ = step;
  }
  if (group != nullptr) {
    if (absl::Status status = group->Barrier(absl::StrCat("after the checkpoint at step ", step));
        !status.ok()) {
      return status;
    }
  }
  if (periodic && !written.ok()) {
    // A failed periodic save costs the progress since the last good one, not
    // the run: training goes on and the next trigger retries. Earlier
    // checkpoints are untouched (WriteCheckpoint commits atomically).
    LOG(ERROR) << written.message() << "; training continues and the next checkpoint retries";
    return absl::OkStatus();
  }
  return written;
}

absl::Status CheckpointManager::SaveOnWriter(TrainingLoop& loop,
                                             std::vector<NamedTensor> rank_generators) {
  // At most one save in flight: the previous one finishes first.
  if (absl::Status previous = WaitBeforeSaving(loop.position().global_step); !previous.ok()) {
    return previous;
  }
  absl::StatusOr<TrainingState> state = CaptureTrainingState(loop, spec_, flags_);
  if (!state.ok()) return state.status();
  for (NamedTensor& generator : rank_generators) state->rng.push_back(std::move(generator));
  const std::string path = NextPath(state->position.global_step);
  state->commit_sequence = next_sequence_++;
  state->parent = parent_;
  state->line = ExtendLine(line_, state->commit_sequence);
  if (!options_.async) return Commit(path, *state);

  // Buffers (batch-norm statistics) change in the next forward pass, so they
  // are copied now; parameters and optimizer state change only in the next
  // optimizer step, so the writer thread copies them while the training
  // thread runs that step's forward and backward passes, and
  // BeforeOptimizerStep() waits for the copy.
  std::set<std::string> buffers;
  for (const auto& item : loop.model().named_buffers()) buffers.insert(item.key());
  std::vector<std::pair<at::Tensor, at::Tensor>> now, deferred;
  for (std::vector<NamedTensor>* tensors : {&state->model, &state->optimizer}) {
    for (NamedTensor& named : *tensors) {
      at::Tensor& buffer = snapshot_buffers_[named.name];
      if (!Fits(buffer, named.tensor)) buffer = SnapshotBufferFor(named.tensor);
      (buffers.count(named.name) > 0 && tensors == &state->model ? now : deferred)
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
  writer_ = std::thread([this, path, deferred = std::move(deferred),
                         snapshot = *std::move(state)]() {
    ParallelCopy(deferred);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      snapshot_pending_ = false;
    }
    snapshot_copied_.notify_all();
    absl::Status status = Commit(path, snapshot);
    std::lock_guard<std::mutex> lock(mutex_);
    writer_status_ = status;
  });
  return absl::OkStatus();
}

absl::Status CheckpointManager::BeforeOptimizerStep(TrainingLoop& loop) {
  std::unique_lock<std::mutex> lock(mutex_);
  snapshot_copied_.wait(lock, [this] { return !snapshot_pending_; });
  return absl::OkStatus();
}


void CheckpointManager::PrepareSnapshotBuffers(const TrainingState& state) {
  std::vector<std::pair<std::string, at::Tensor>> wanted;
  for (const std::vector<NamedTensor>* tensors : {&state.model, &state.optimizer}) {
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
  if (options_.async && writer() && !buffers_prepared_ && !writer_.joinable()) {
    buffers_prepared_ = true;
    absl::StatusOr<TrainingState> state = CaptureTrainingState(loop, spec_, flags_);
    if (state.ok()) PrepareSnapshotBuffers(*state);
  }
  if (options_.every_steps <= 0 || position.global_step % options_.every_steps != 0) {
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
