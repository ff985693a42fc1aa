#include "framework/experiment/experiment_main.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "framework/core/malloc_tuning.h"
#include "framework/core/plugin_library.h"
#include "framework/experiment/experiment.h"
#include "framework/experiment/experiment_flags.h"
#include "framework/experiment/experiment_settings.h"
#include "framework/experiment/flag_file.h"
#include "framework/experiment/stop_signals.h"
#include "gflags/gflags.h"
#include "glog/logging.h"

namespace framework {
namespace {

int UsageError(const absl::Status& status) {
  std::fprintf(stderr, "ERROR: %s\n", std::string(status.message()).c_str());
  return 2;
}

// `path` in this binary's runfiles (under the workspace's name): beside the binary itself (found through
// /proc/self/exe, so wherever it is started from), or under $RUNFILES_DIR.
absl::StatusOr<std::string> RunfilesPath(const std::string& path) {
  std::vector<std::filesystem::path> roots;
  std::error_code error;
  const std::filesystem::path binary = std::filesystem::read_symlink("/proc/self/exe", error);
  if (!error) roots.push_back(binary.string() + ".runfiles");
  if (const char* dir = std::getenv("RUNFILES_DIR"); dir != nullptr && *dir != '\0') {
    roots.push_back(dir);
  }
  // Under the workspace's name (which the binary does not know).
  for (const std::filesystem::path& root : roots) {
    for (const auto& workspace : std::filesystem::directory_iterator(root, error)) {
      const std::filesystem::path candidate = workspace.path() / path;
      if (std::filesystem::exists(candidate, error)) return candidate.lexically_normal().string();
    }
  }
  return absl::NotFoundError(absl::StrCat(
      "the experiment's data (", path, ") is not in the binary's runfiles (",
      roots.empty() ? std::string("none found") : roots.front().string(),
      "): build it with bazel, or give --data_dir"));
}

absl::Status ApplyEmbeddedFlagFile(const EmbeddedFlagFile& flag_file, const char* program) {
  if (absl::Status status = CheckFlagFileText(flag_file.path, flag_file.contents); !status.ok()) {
    return status;
  }
  std::string flags =
      absl::StrCat("--experiment=", flag_file.experiment, "\n", flag_file.contents);
  if (flag_file.data_dir != nullptr) {
    absl::StatusOr<std::string> data = RunfilesPath(flag_file.data_dir);
    if (!data.ok()) return data.status();
    absl::StrAppend(&flags, "\n--data_dir=", *data, "\n");
  }
  if (!gflags::ReadFlagsFromString(flags, program, /*errors_are_fatal=*/false)) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag_file.path, ": a value does not fit its flag (see the message above)"));
  }
  return absl::OkStatus();
}

bool BoolFlag(const char* name) {
  std::string value;
  return gflags::GetCommandLineOption(name, &value) && value == "true";
}

absl::Status LoadPluginsFlag() {
  absl::Status status = LoadPluginLibraryList(FLAGS_plugins);
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat("--plugins: ", status.message()));
}

}  // namespace

int ExperimentMain(int argc, char** argv, const EmbeddedFlagFile* flag_file) {
  // First, so that SIGINT/SIGTERM during start-up do not kill the process
  // before it can save.
  InstallStopSignalHandlers();
  TuneMallocForTensors();
  FLAGS_logtostderr = true;
  google::InitGoogleLogging(argv[0]);
  const std::string experiment = flag_file != nullptr ? flag_file->experiment : "";
  gflags::SetUsageMessage(
      flag_file != nullptr
          ? absl::StrCat("Runs experiment '", experiment, "' as declared in ", flag_file->path,
                         "; flags given here override the file's.")
          : std::string("Trains a model as the flags (usually a --flagfile) say."));
  if (flag_file != nullptr) {
    if (absl::Status status = ApplyEmbeddedFlagFile(*flag_file, argv[0]); !status.ok()) {
      return UsageError(status);
    }
  }
  if (absl::Status status = CheckFlagFiles(argc, argv); !status.ok()) return UsageError(status);
  gflags::ParseCommandLineNonHelpFlags(&argc, &argv, /*remove_flags=*/true);
  // Before --help, which lists the options of the plugins selected.
  absl::Status plugins = LoadPluginsFlag();
  if (BoolFlag("help") || BoolFlag("helpshort")) {
    if (!plugins.ok()) std::printf("(%s)\n", std::string(plugins.message()).c_str());
    std::printf("%s\n\nFlags, with their effective values:\n%s\nAll flags, LibTorch's and "
                "logging's included: --helpfull\n",
                gflags::ProgramUsage(), ExperimentHelp(BoolFlag("help")).c_str());
    return 0;
  }
  gflags::HandleCommandLineHelpFlags();
  if (argc > 1) {
    return UsageError(absl::InvalidArgumentError(
        absl::StrCat("unexpected argument '", argv[1], "' (flags look like --name=value)")));
  }
  const absl::StatusOr<RunEnd> end =
      plugins.ok() ? RunExperimentFromFlags() : absl::StatusOr<RunEnd>(plugins);
  if (!end.ok()) {
    LOG(ERROR) << end.status().message();
    return 1;
  }
  return *end == RunEnd::kStoppedForRequeue ? kRequeueExitCode : 0;
}

}  // namespace framework
