// The experiment's flags read once into typed settings: every flag is checked
// here (types, ranges, combinations, the registered plugin names and the
// selected plugins' declared options), before the run directory is touched
// or data is loaded, and every error names the flag or JSON key the user
// wrote. Nothing else in the experiment reads FLAGS_.
//
//   absl::StatusOr<ExperimentSettings> settings = ReadExperimentSettings();
//   if (!settings.ok()) return settings.status();  // "--t_max: ... must be >= 0, got -3"
#ifndef FRAMEWORK_EXPERIMENT_EXPERIMENT_SETTINGS_H_
#define FRAMEWORK_EXPERIMENT_EXPERIMENT_SETTINGS_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "framework/checkpoint/checkpoint_manager.h"
#include "framework/checkpoint/pytorch_training_checkpoint.h"
#include "framework/core/declared_options.h"
#include "framework/core/device_map.h"
#include "framework/data/sample_transform.h"
#include "framework/distributed/launch_environment.h"
#include "framework/experiment/plugin_option_flags.h"
#include "framework/experiment/resume_policy.h"
#include "framework/optim/lr_scheduler.h"
#include "framework/optim/optimizer.h"
#include "framework/train/training_loop.h"
#include "nlohmann/json.hpp"

namespace framework {

struct ExperimentSettings {
  std::string experiment;
  std::string run_dir;  // resolved

  std::string model;
  nlohmann::json model_options;  // a JSON object
  int64_t classes = 0;           // 0: the data set's
  std::string trainer;

  std::string dataset;
  OptionValues dataset_options;  // checked against the data set's declaration
  std::string data_dir;  // resolved; empty: the data set's default
  int64_t train_samples = 0;
  uint64_t seed = 1;
  // --transforms and --valid_transforms, checked; never null.
  std::shared_ptr<const SampleTransforms> transforms;
  std::shared_ptr<const SampleTransforms> valid_transforms;
  bool skip_bad_samples = false;

  std::string optimizer;
  OptionValues optimizer_options;
  DecayedParameters decayed_parameters = DecayedParameters::kAll;  // --weight_decay_params
  std::string scheduler;
  OptionValues scheduler_options;
  ScheduleSettings schedule;

  // Everything but the communicator, which exists once the ranks joined.
  LoopOptions loop;
  std::vector<SelectedCallback> callbacks;  // in the order they observe the loop
  int threads = 0;  // 0: LibTorch's default
  int64_t log_every_steps = 1;

  // Everything but the directory's callbacks and communicator.
  CheckpointOptions checkpoints;
  // --checkpoint_signal (0: none) and whether the run ends after its
  // checkpoint (--on_checkpoint_signal=exit).
  int checkpoint_signal = 0;
  bool exit_on_checkpoint_signal = false;

  ResumeRequest resume;
  PyTorchEpoch pytorch_epoch = PyTorchEpoch::kIndex;  // of a PyTorch dict's 'epoch'
  std::string init_from;  // resolved; empty: none
  DeviceMap device_map{torch::kCPU};

  LaunchEnvironment launch;  // who this process is in a data-parallel run
  std::chrono::seconds dist_timeout{300};
  bool shared_memory_all_reduce = true;  // when every rank is on this machine
  bool log_all_ranks = false;

  // The run's record: every effective flag, and the selected plugins'
  // options as "optimizer.<option>" / "scheduler.<option>" (flags.json and
  // every checkpoint's manifest; compared on resume).
  std::map<std::string, std::string> record;
};

absl::StatusOr<ExperimentSettings> ReadExperimentSettings();

// What --help (`with_policies`) and --helpshort list: the experiment's flags
// with their effective values, and after the optimizer's and the schedule's
// flags the selected plugins' declared options.
std::string ExperimentHelp(bool with_policies);

}  // namespace framework

#endif  // FRAMEWORK_EXPERIMENT_EXPERIMENT_SETTINGS_H_
