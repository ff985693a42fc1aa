// main() of experiment binaries.
//
// An experiment binary carries its flag file (the `experiment` Bazel macro
// compiles it in), so however it is started — `bazel run`, directly from
// bazel-bin, by torchrun, srun or a Kubernetes pod — it runs the same
// experiment. Flags are applied in order: the experiment's name, its flag
// file, then the command line (which overrides both). Then --plugins are
// loaded, and the experiment runs.
//
// --help and --helpshort list the experiment's flags by purpose with their
// effective values; --helpfull is gflags' complete list.
#ifndef FRAMEWORK_EXPERIMENT_EXPERIMENT_MAIN_H_
#define FRAMEWORK_EXPERIMENT_EXPERIMENT_MAIN_H_

namespace framework {

struct EmbeddedFlagFile {
  const char* experiment;  // e.g. "lenet": the default run directory is runs/lenet
  const char* path;        // e.g. "experiments/lenet.flags", for messages
  const char* contents;
  // Data the binary carries in its runfiles (a path there, e.g.
  // "experiments/fortunes_tokens"), given as --data_dir after the flag file
  // so the command line still overrides it; nullptr: none.
  const char* data_dir = nullptr;
};

// `flag_file` may be null (a binary without an experiment, such as
// //experiments:train). Returns the process's exit code.
int ExperimentMain(int argc, char** argv, const EmbeddedFlagFile* flag_file);

}  // namespace framework

#endif  // FRAMEWORK_EXPERIMENT_EXPERIMENT_MAIN_H_
