// The experiment's flags, each declared with the group it is listed under in
// --help and its resume policy:
//   kRunDefining  resuming with another value would silently continue a
//                 different experiment, so it must match the checkpoint's;
//   kMayChange    may differ on resume (logged), e.g. --epochs;
//   kStartup      says how this process starts (--resume...), never compared.
// The effective values of all of them are the run's record (flags.json and
// every checkpoint's manifest).
#ifndef FRAMEWORK_EXPERIMENT_EXPERIMENT_FLAGS_H_
#define FRAMEWORK_EXPERIMENT_EXPERIMENT_FLAGS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "gflags/gflags.h"

namespace framework {

enum class FlagGroup {
  kExperiment,
  kModel,
  kData,
  kOptimizer,
  kSchedule,
  kTraining,
  kCheckpoints,
  kResume,
  kDataParallel,
  kPlugins,
};

enum class ResumePolicy { kRunDefining, kMayChange, kStartup };

struct ExperimentFlag {
  std::string name;
  FlagGroup group;
  ResumePolicy policy;
};

// Every experiment flag, in declaration order.
const std::vector<ExperimentFlag>& ExperimentFlags();

// Name -> effective value of every experiment flag.
std::map<std::string, std::string> EffectiveFlags();

// The grouped flag list --help and --helpshort print: each flag with its
// effective value and description; `with_policies` marks the flags that may
// change on resume.
// `appendix(group)`, if given, is printed after each group's flags; only
// flags for which `listed(name)` holds are, if it is given.
std::string ExperimentFlagsHelp(bool with_policies,
                                const std::function<std::string(FlagGroup)>& appendix = nullptr,
                                const std::function<bool(const std::string&)>& listed = nullptr);

// For the macro below.
bool RegisterExperimentFlag(const char* name, FlagGroup group, ResumePolicy policy);

}  // namespace framework

#define EXPERIMENT_FLAG(type, name, value, group, policy, help)                      \
  DEFINE_##type(name, value, help);                                                  \
  static const bool experiment_flag_##name = ::framework::RegisterExperimentFlag(    \
      #name, ::framework::FlagGroup::group, ::framework::ResumePolicy::policy)

DECLARE_string(experiment);
DECLARE_string(run_dir);
DECLARE_string(model);
DECLARE_string(model_options);
DECLARE_int64(classes);
DECLARE_string(trainer);
DECLARE_string(dataset);
DECLARE_string(data_dir);
DECLARE_int64(train_samples);
DECLARE_string(transforms);
DECLARE_string(valid_transforms);
DECLARE_bool(skip_bad_samples);
DECLARE_int32(data_workers);
DECLARE_int32(prefetch_batches);
DECLARE_int64(prefetch_max_mib);
DECLARE_string(optimizer);
DECLARE_string(optimizer_options);
DECLARE_string(lr);
DECLARE_string(momentum);
DECLARE_string(dampening);
DECLARE_bool(nesterov);
DECLARE_string(weight_decay);
DECLARE_string(beta1);
DECLARE_string(beta2);
DECLARE_string(eps);
DECLARE_bool(amsgrad);
DECLARE_string(alpha);
DECLARE_bool(centered);
DECLARE_string(scheduler);
DECLARE_string(scheduler_options);
DECLARE_string(step_size);
DECLARE_string(gamma);
DECLARE_string(milestones);
DECLARE_string(t_max);
DECLARE_string(eta_min);
DECLARE_int64(warmup_epochs);
DECLARE_double(warmup_start_factor);
DECLARE_string(plateau_factor);
DECLARE_string(plateau_patience);
DECLARE_string(plateau_threshold);
DECLARE_string(plateau_threshold_mode);
DECLARE_string(plateau_cooldown);
DECLARE_string(plateau_min_lr);
DECLARE_string(monitor);
DECLARE_string(monitor_mode);
DECLARE_int64(epochs);
DECLARE_int64(batch_size);
DECLARE_int64(eval_batch_size);
DECLARE_uint64(seed);
DECLARE_int32(threads);
DECLARE_string(device);
DECLARE_double(clip_grad_norm);
DECLARE_string(clip_grad_norm_type);
DECLARE_double(clip_grad_value);
DECLARE_string(precision);
DECLARE_string(weight_decay_params);
DECLARE_int64(accumulate_batches);
DECLARE_string(callbacks);
DECLARE_string(callback_options);
DECLARE_string(ema_decay);
DECLARE_string(ema_warmup);
DECLARE_string(early_stop_patience);
DECLARE_string(early_stop_min_delta);
DECLARE_int64(log_interval);
DECLARE_int64(log_every_steps);
DECLARE_string(progress);
DECLARE_int64(checkpoint_interval);
DECLARE_int64(checkpoint_every_steps);
DECLARE_int64(keep_last);
DECLARE_int64(keep_best);
DECLARE_int64(keep_every_epochs);
DECLARE_bool(async_checkpoint);
DECLARE_bool(checkpoint_fsync);
DECLARE_string(checkpoint_signal);
DECLARE_string(on_checkpoint_signal);
DECLARE_bool(resume);
DECLARE_string(resume_from);
DECLARE_string(pytorch_epoch);
DECLARE_string(init_from);
DECLARE_string(map_location);
DECLARE_string(plugins);
DECLARE_int64(bucket_mb);
DECLARE_bool(shard_optimizer_state);
DECLARE_bool(shared_memory_all_reduce);
DECLARE_int64(dist_timeout_s);
DECLARE_bool(log_all_ranks);

#endif  // FRAMEWORK_EXPERIMENT_EXPERIMENT_FLAGS_H_
