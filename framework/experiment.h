// Runs an experiment described by command-line flags (usually a gflags flag
// file under experiments/, overridden by flags after `bazel run ... --`).
//
// This is the framework's main program; experiments link it together with
// the plugin libraries they need. Every failure a user can cause (bad flags,
// missing data, unwritable run directory) comes back as a Status naming the
// input and what is wrong.
#ifndef FRAMEWORK_EXPERIMENT_H_
#define FRAMEWORK_EXPERIMENT_H_

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace framework {

// Checks every --flagfile=PATH argument before gflags parses it, so an
// unknown flag in a flag file is reported with its file and line.
absl::Status CheckFlagFiles(int argc, char** argv);

// `path` resolved against the directory Bazel was invoked from
// (BUILD_WORKING_DIRECTORY under `bazel run`), else the current directory.
std::string ResolveUserPath(const std::string& path);

// Runs the experiment the parsed flags describe.
absl::Status RunExperimentFromFlags();

// main() of experiment binaries: parses flags, runs, exits non-zero with the
// error on failure.
int ExperimentMain(int argc, char** argv);

}  // namespace framework

#endif  // FRAMEWORK_EXPERIMENT_H_
