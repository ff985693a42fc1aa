// Checkpoint I/O against what the device itself does, measured side by side
// in one process: for models of several sizes (and one of 10,000 small
// tensors), the CheckpointManager's save (fsynced, atomic) as a fraction of a
// plain write+fsync of the same bytes, its cold load (the way --resume
// loads: weights straight into the model) as a fraction of a plain cold read
// of its files, its unsynced save against torch::save's, the async save's
// training stall against the sync save, and the peak extra memory of a sync
// save. Cold means the files' pages were dropped from the page cache
// (posix_fadvise DONTNEED after fsync) before the read.
//
//   tools/bazel run -c opt //benchmarks:checkpoint_throughput --
//       --sizes=1MiB,64MiB,1GiB,4GiB --small_tensors=10000 --dir=/var/tmp/bench
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include <ATen/Parallel.h>
#include <torch/nn/module.h>
#include <torch/optim/sgd.h>
#include <torch/serialize.h>

#include "absl/strings/numbers.h"
#include "benchmarks/flat_model.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "framework/core/blas_report.h"
#include "framework/checkpoint/checkpoint.h"
#include "framework/checkpoint/checkpoint_manager.h"
#include "framework/core/checksum.h"
#include "framework/data/dataset.h"
#include "framework/model/state_dict.h"
#include "framework/testing/test_task.h"
#include "framework/train/training_loop.h"
#include "gflags/gflags.h"
#include "glog/logging.h"

DEFINE_string(sizes, "1MiB,64MiB,1GiB,4GiB", "Model sizes (KiB, MiB or GiB of float32).");
DEFINE_int32(small_tensors, 10000,
             "Tensors of the small-tensor model (0: skip it); it holds 64 MiB, and is "
             "compared with one 64 MiB tensor.");
DEFINE_string(dir, "/var/tmp/checkpoint_benchmark",
              "Scratch directory on the device to measure (needs ~4x the largest size).");
DEFINE_int32(rounds, 2, "Rounds of each measurement; the best is reported.");
DEFINE_bool(torch, true, "Also measure torch::save / torch::load (off: to profile ours alone).");
DEFINE_int32(threads, 0, "LibTorch intra-op threads (0: its default).");

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

using benchmarks::FlatModel;

std::vector<std::string> FilesUnder(const std::string& path) {
  std::vector<std::string> files;
  if (fs::is_regular_file(path)) return {path};
  for (const auto& entry : fs::recursive_directory_iterator(path)) {
    if (entry.is_regular_file()) files.push_back(entry.path().string());
  }
  return files;
}

// Drops the (clean, fsynced) pages of every file under `path` from the page
// cache, so that the next read comes from the device.
void DropFromPageCache(const std::string& path) {
  for (const std::string& file : FilesUnder(path)) {
    const int fd = open(file.c_str(), O_RDONLY);
    CHECK_GE(fd, 0) << file;
    CHECK_EQ(fdatasync(fd), 0);
    CHECK_EQ(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
    close(fd);
  }
}

void SyncFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY);
  CHECK_GE(fd, 0) << path;
  CHECK_EQ(fsync(fd), 0);
  close(fd);
}

// The device's own figures: write+fsync of `tensors`' bytes to one file, and
// a cold read of it into memory that is already mapped.
struct DeviceFigures {
  double write_fsync = 1e9;
  double cold_read = 1e9;
  double memcpy = 1e9;  // of the same bytes into touched memory, on every thread
  double xxh3 = 1e9;    // checksums of the same bytes, one core
  double crc32 = 1e9;
};

void MeasureDevice(const std::vector<at::Tensor>& tensors, uint64_t bytes,
                   const std::string& path, std::vector<char>& read_buffer,
                   DeviceFigures& figures) {
  fs::remove(path);
  sync();
  auto start = Clock::now();
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  CHECK_GE(fd, 0);
  for (const at::Tensor& tensor : tensors) {
    const char* data = static_cast<const char*>(tensor.data_ptr());
    size_t left = tensor.nbytes();
    while (left > 0) {
      const ssize_t n = write(fd, data, std::min<size_t>(left, size_t{1} << 30));
      CHECK_GT(n, 0);
      data += n;
      left -= static_cast<size_t>(n);
    }
  }
  CHECK_EQ(fsync(fd), 0);
  close(fd);
  figures.write_fsync = std::min(figures.write_fsync, Seconds(start));

  DropFromPageCache(path);
  start = Clock::now();
  const int in = open(path.c_str(), O_RDONLY);
  uint64_t done = 0;
  while (done < bytes) {
    const ssize_t n = read(in, read_buffer.data() + done, std::min<uint64_t>(bytes - done, 8 << 20));
    CHECK_GT(n, 0);
    done += static_cast<uint64_t>(n);
  }
  close(in);
  figures.cold_read = std::min(figures.cold_read, Seconds(start));
  fs::remove(path);

  // Memory bandwidth: what an async snapshot's copy cannot beat.
  start = Clock::now();
  uint64_t offset = 0;
  std::vector<std::pair<const char*, uint64_t>> pieces;
  for (const at::Tensor& tensor : tensors) {
    pieces.push_back({static_cast<const char*>(tensor.data_ptr()), offset});
    offset += tensor.nbytes();
  }
  at::parallel_for(0, static_cast<int64_t>(tensors.size()), 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      std::memcpy(read_buffer.data() + pieces[i].second, pieces[i].first, tensors[i].nbytes());
    }
  });
  figures.memcpy = std::min(figures.memcpy, Seconds(start));

  // The checksums on one core, over the same bytes.
  for (auto [kind, seconds] : {std::make_pair(framework::ChecksumKind::kXxh3, &figures.xxh3),
                               std::make_pair(framework::ChecksumKind::kCrc32, &figures.crc32)}) {
    start = Clock::now();
    uint64_t sum = 0;
    for (const at::Tensor& tensor : tensors) {
      sum += framework::Checksum(kind, tensor.data_ptr(), tensor.nbytes());
    }
    CHECK_NE(sum, 1u);  // keeps the loop
    *seconds = std::min(*seconds, Seconds(start));
  }
}

int64_t ReadStatusKiB(const char* field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(field, 0) == 0) return std::stoll(line.substr(std::strlen(field)));
  }
  return -1;
}

// Resets the peak-RSS counter (Linux >= 4.0).
void ResetPeakRss() { std::ofstream("/proc/self/clear_refs") << "5\n"; }

struct Figures {
  std::string name;
  uint64_t bytes = 0;
  int64_t tensors = 0;
  DeviceFigures device;
  double torch_save_unsynced = 1e9, ours_save_unsynced = 1e9;
  double ours_save = 1e9, ours_load_cold = 1e9, torch_load_cold = 1e9;
  double stall = 1e9;            // Save() and the wait before the next optimizer step
  double stall_save_call = 1e9;  // Save() alone
  int64_t extra_kib = std::numeric_limits<int64_t>::max();  // the least of the rounds
};

Figures Measure(const std::string& name, const std::vector<int64_t>& elements) {
  Figures figures;
  figures.name = name;
  figures.tensors = static_cast<int64_t>(elements.size());
  torch::manual_seed(0);
  auto model = std::make_shared<FlatModel>(elements);
  std::vector<at::Tensor> parameters = model->parameters();
  for (const at::Tensor& p : parameters) figures.bytes += p.nbytes();
  std::vector<char> read_buffer(figures.bytes);
  std::memset(read_buffer.data(), 1, read_buffer.size());  // mapped before timing

  torch::optim::SGD optimizer(parameters, torch::optim::SGDOptions(0.1));
  framework::testing_task::TinyTrainer trainer;
  framework::Dataset empty;
  framework::TrainingLoop loop(framework::LoopOptions(), *model, trainer, optimizer, nullptr,
                               empty, empty);
  const std::string root = FLAGS_dir + "/" + name;
  auto manager_for = [&](const std::string& sub, bool fsync, bool async) {
    framework::CheckpointOptions options;
    options.directory = root + "/" + sub;
    // Old checkpoints are deleted outside the timed region, as torch::save's
    // old file is (retention still lists them inside it).
    options.keep_last = 1000;
    options.every_epochs = 0;
    options.fsync = fsync;
    options.async = async;
    auto manager = framework::CheckpointManager::Create(options, {"flat", {}}, {});
    CHECK(manager.ok()) << manager.status();
    return *std::move(manager);
  };
  auto synced = manager_for("synced", true, false);
  auto unsynced = manager_for("unsynced", false, false);
  auto async = manager_for("async", true, true);
  CHECK(async->OnStepEnd(loop).ok());  // prepares its snapshot buffers, as training's first step does
  CHECK(async->Wait().ok());
  const std::string torch_path = root + "/model.pt";
  framework::LoopPosition position;
  position.metric_sums = {0.0};
  int64_t step = 0;
  auto next_step = [&](const std::unique_ptr<framework::CheckpointManager>& manager) {
    for (const framework::CheckpointInfo& info : framework::ListCheckpoints(
             fs::path(manager->last_saved()).parent_path().string())) {
      fs::remove_all(info.path);
    }
    position.global_step = ++step;
    CHECK(loop.Restore(position, {}).ok());
  };

  for (int round = 0; round < FLAGS_rounds; ++round) {
    MeasureDevice(parameters, figures.bytes, root + "/device", read_buffer, figures.device);

    // Unsynced saves, alternating which goes first; dirty pages of earlier
    // writes are flushed before each.
    auto torch_unsynced = [&] {
      if (!FLAGS_torch) return;
      fs::remove(torch_path);
      sync();
      const auto start = Clock::now();
      torch::save(std::static_pointer_cast<torch::nn::Module>(model), torch_path);
      figures.torch_save_unsynced = std::min(figures.torch_save_unsynced, Seconds(start));
    };
    auto ours_unsynced = [&] {
      next_step(unsynced);
      sync();
      const auto start = Clock::now();
      CHECK(unsynced->Save(loop).ok());
      figures.ours_save_unsynced = std::min(figures.ours_save_unsynced, Seconds(start));
    };
    if (round % 2 == 0) {
      torch_unsynced();
      ours_unsynced();
    } else {
      ours_unsynced();
      torch_unsynced();
    }
    if (FLAGS_torch) SyncFile(torch_path);

    // The synced, atomic save, and its peak memory above what was resident
    // before it (negative when the save ends with less resident).
    next_step(synced);
    sync();
    const int64_t base = ReadStatusKiB("VmRSS:");
    ResetPeakRss();
    auto start = Clock::now();
    CHECK(synced->Save(loop).ok());
    figures.ours_save = std::min(figures.ours_save, Seconds(start));
    figures.extra_kib = std::min(figures.extra_kib, ReadStatusKiB("VmHWM:") - base);

    // Cold loads: ours as --resume does it, and torch::load for reference.
    const std::string newest = synced->last_saved();
    DropFromPageCache(newest);
    start = Clock::now();
    framework::TensorDestinations destinations;
    for (auto& named : framework::StateDict(*model)) destinations[named.name] = named.tensor;
    auto state = framework::ReadCheckpoint(newest, framework::DeviceMap(torch::kCPU), &destinations);
    CHECK(state.ok()) << state.status();
    CHECK(framework::LoadStateDict(*model, state->model, true, newest).ok());
    figures.ours_load_cold = std::min(figures.ours_load_cold, Seconds(start));
    state = absl::UnknownError("released");
    if (FLAGS_torch) {
      DropFromPageCache(torch_path);
      start = Clock::now();
      torch::load(model, torch_path);
      figures.torch_load_cold = std::min(figures.torch_load_cold, Seconds(start));
    }

    // Async: how long the training thread waits before it can continue.
    next_step(async);
    sync();
    // Save() returns once the buffers (batch-norm statistics) are copied; the
    // parameters' copy overlaps the next forward and backward passes, and
    // the optimizer step waits for it. With no step in between, as here, the
    // whole copy is stall: the worst case.
    start = Clock::now();
    CHECK(async->Save(loop).ok());
    figures.stall_save_call = std::min(figures.stall_save_call, Seconds(start));
    CHECK(async->BeforeOptimizerStep(loop).ok());
    figures.stall = std::min(figures.stall, Seconds(start));
    CHECK(async->Wait().ok());
  }
  fs::remove_all(root);
  return figures;
}

uint64_t ParseSize(const std::string& text) {
  for (const auto& [suffix, unit] : std::vector<std::pair<std::string, uint64_t>>{
           {"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", uint64_t{1} << 30}}) {
    if (text.size() > suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0) {
      double value = 0;
      CHECK(absl::SimpleAtod(text.substr(0, text.size() - suffix.size()), &value))
          << "--sizes: bad size '" << text << "'";
      return static_cast<uint64_t>(value * unit);
    }
  }
  LOG(FATAL) << "--sizes: '" << text << "' needs a unit: KiB, MiB or GiB";
  return 0;
}

// A model of `bytes` in tensors of at most 64 MiB.
std::vector<int64_t> LargeTensors(uint64_t bytes) {
  std::vector<int64_t> elements;
  const int64_t total = static_cast<int64_t>(bytes / 4);
  const int64_t piece = int64_t{16} << 20;
  for (int64_t done = 0; done < total; done += piece) elements.push_back(std::min(piece, total - done));
  return elements;
}

double MBps(uint64_t bytes, double seconds) { return bytes / 1e6 / seconds; }

}  // namespace

int main(int argc, char** argv) {
  FLAGS_logtostderr = true;
  FLAGS_minloglevel = 1;
  google::InitGoogleLogging(argv[0]);
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  if (FLAGS_threads > 0) at::set_num_threads(FLAGS_threads);
  framework::LogBlasAtStartup();
  fs::remove_all(FLAGS_dir);
  fs::create_directories(FLAGS_dir);

  std::vector<Figures> rows;
  for (const std::string& size :
       std::vector<std::string>(absl::StrSplit(FLAGS_sizes, ',', absl::SkipEmpty()))) {
    rows.push_back(Measure(size, LargeTensors(ParseSize(size))));
  }
  if (FLAGS_small_tensors > 0) {
    const int64_t bytes = int64_t{64} << 20;
    const int64_t each = bytes / 4 / FLAGS_small_tensors;
    rows.push_back(Measure("64MiB-in-1", {each * FLAGS_small_tensors}));
    rows.push_back(Measure("64MiB-in-" + std::to_string(FLAGS_small_tensors),
                           std::vector<int64_t>(FLAGS_small_tensors, each)));
  }

  std::printf("%d thread(s), best of %d rounds, scratch directory %s\n", at::get_num_threads(),
              FLAGS_rounds, FLAGS_dir.c_str());
  std::printf("\n%-18s | %-29s | %-29s | %-27s | %-16s | %-6s\n", "model", "save + fsync  (device, ours)",
              "cold load  (device, ours)", "save, no fsync (torch, ours)", "async stall", "peak");
  std::printf("%-18s | %9s %9s %9s | %9s %9s %9s | %8s %8s %9s | %7s %8s | %6s\n", "", "MB/s", "MB/s",
              "fraction", "MB/s", "MB/s", "fraction", "MB/s", "MB/s", "ratio", "/save", "/memcpy", "extra");
  // What --torch=false did not measure prints as "-".
  auto cell = [](double value, int decimals, bool measured) {
    return measured ? absl::StrFormat("%.*f", decimals, value) : std::string("-");
  };
  for (const Figures& f : rows) {
    std::printf("%-18s | %9.0f %9.0f %9.2f | %9.0f %9.0f %9.2f | %8s %8.0f %8sx | %6.1f%% %7.2fx | %5.1f%%\n",
                f.name.c_str(), MBps(f.bytes, f.device.write_fsync), MBps(f.bytes, f.ours_save),
                f.device.write_fsync / f.ours_save, MBps(f.bytes, f.device.cold_read),
                MBps(f.bytes, f.ours_load_cold), f.device.cold_read / f.ours_load_cold,
                cell(MBps(f.bytes, f.torch_save_unsynced), 0, FLAGS_torch).c_str(),
                MBps(f.bytes, f.ours_save_unsynced),
                cell(f.torch_save_unsynced / f.ours_save_unsynced, 2, FLAGS_torch).c_str(),
                100.0 * f.stall / f.ours_save, f.stall / f.device.memcpy,
                100.0 * f.extra_kib * 1024 / f.bytes);
  }
  std::printf("\nseconds (how time grows with size):\n");
  std::printf("%-18s %12s %12s %12s %12s %12s %12s %12s %12s %12s\n", "model", "device w+fs",
              "ours save", "device read", "ours load", "torch load", "torch save*", "ours save*",
              "async stall", "memcpy");
  for (const Figures& f : rows) {
    std::printf("%-18s %12.4f %12.4f %12.4f %12.4f %12s %12s %12.4f %12.4f %12.4f\n",
                f.name.c_str(), f.device.write_fsync, f.ours_save, f.device.cold_read,
                f.ours_load_cold, cell(f.torch_load_cold, 4, FLAGS_torch).c_str(),
                cell(f.torch_save_unsynced, 4, FLAGS_torch).c_str(), f.ours_save_unsynced,
                f.stall, f.device.memcpy);
  }
  std::printf("(* without fsync; async stall: Save() plus the wait before the next optimizer step with\n"
              " no forward/backward in between, the worst case; Save() alone took");
  for (const Figures& f : rows) std::printf(" %.4f", f.stall_save_call);
  std::printf(" s)\n");
  if (FLAGS_small_tensors > 0) {
    const Figures& one = rows[rows.size() - 2];
    const Figures& many = rows.back();
    std::printf("\n%d small tensors against one tensor of the same bytes: save %.2fx, load %.2fx "
                "the time (target <= 2x)\n",
                FLAGS_small_tensors, many.ours_save / one.ours_save,
                many.ours_load_cold / one.ours_load_cold);
  }
  for (const Figures& f : rows) {
    if (f.bytes < (uint64_t{64} << 20)) continue;
    std::printf("checksums on one core, %s: XXH3 %.1f GB/s, CRC-32 (zlib) %.1f GB/s (target >= 10)\n",
                f.name.c_str(), f.bytes / 1e9 / f.device.xxh3, f.bytes / 1e9 / f.device.crc32);
  }
  std::printf("targets: save+fsync >= 0.90 of the device, cold load >= 0.90, unsynced save >= 1.0x "
              "torch::save, async stall <= 5%%, peak extra <= 10%%\n");
  fs::remove_all(FLAGS_dir);
  return 0;
}
