#include "framework/experiment/experiment_flags.h"

#include <sstream>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"

namespace framework {
namespace {

std::vector<ExperimentFlag>& MutableFlags() {
  static auto* flags = new std::vector<ExperimentFlag>();
  return *flags;
}

const char* GroupTitle(FlagGroup group) {
  switch (group) {
    case FlagGroup::kExperiment: return "Experiment and run directory";
    case FlagGroup::kModel: return "Model and task";
    case FlagGroup::kData: return "Data";
    case FlagGroup::kOptimizer: return "Optimizer";
    case FlagGroup::kSchedule: return "Learning-rate schedule";
    case FlagGroup::kTraining: return "Training";
    case FlagGroup::kCheckpoints: return "Checkpoints";
    case FlagGroup::kResume: return "Resuming and initialising";
    case FlagGroup::kDataParallel:
      return "Data parallel (launched by torchrun, srun or a PyTorchJob; see docs/data-parallel.md)";
    case FlagGroup::kPlugins: return "Plugins";
  }
  return "?";
}

}  // namespace

bool RegisterExperimentFlag(const char* name, FlagGroup group, ResumePolicy policy) {
  MutableFlags().push_back({name, group, policy});
  return true;
}

const std::vector<ExperimentFlag>& ExperimentFlags() { return MutableFlags(); }

std::map<std::string, std::string> EffectiveFlags() {
  std::map<std::string, std::string> values;
  for (const ExperimentFlag& flag : ExperimentFlags()) {
    std::string value;
    CHECK(gflags::GetCommandLineOption(flag.name.c_str(), &value)) << flag.name;
    values[flag.name] = value;
  }
  return values;
}

std::string ExperimentFlagsHelp(bool with_policies,
                                const std::function<std::string(FlagGroup)>& appendix,
                                const std::function<bool(const std::string&)>& listed) {
  std::ostringstream out;
  for (int g = static_cast<int>(FlagGroup::kExperiment); g <= static_cast<int>(FlagGroup::kPlugins);
       ++g) {
    const auto group = static_cast<FlagGroup>(g);
    out << "\n" << GroupTitle(group) << ":\n";
    for (const ExperimentFlag& flag : ExperimentFlags()) {
      if (flag.group != group || (listed && !listed(flag.name))) continue;
      gflags::CommandLineFlagInfo info;
      CHECK(gflags::GetCommandLineFlagInfo(flag.name.c_str(), &info)) << flag.name;
      const char* mark = with_policies && flag.policy == ResumePolicy::kMayChange ? " *" : "";
      out << "  --" << flag.name << "=" << info.current_value << mark << "\n      "
          << info.description;
      if (!info.is_default) out << " (default: " << info.default_value << ")";
      out << "\n";
    }
    if (appendix) out << appendix(group);
  }
  if (with_policies) {
    out << "\n* may change when resuming (the change is logged). --run_dir, --resume,\n"
           "  --resume_from, --init_from and --map_location say how to start and are not\n"
           "  compared; every other flag must match the checkpoint's, and so must the\n"
           "  optimizer's and the schedule's options (whichever flag set them).\n";
  }
  return out.str();
}

}  // namespace framework

// Definitions, grouped as --help lists them.
EXPERIMENT_FLAG(string, experiment, "default", kExperiment, kMayChange,
                "Experiment name; the default run directory is runs/<experiment>.");
EXPERIMENT_FLAG(string, run_dir, "", kExperiment, kStartup,
                "Directory for metrics and checkpoints (default runs/<experiment>), relative to "
                "where bazel was run (or the current directory).");

EXPERIMENT_FLAG(string, model, "lenet", kModel, kRunDefining, "Registered model name.");
EXPERIMENT_FLAG(string, model_options, "{}", kModel, kRunDefining,
                "JSON object of model-specific options, e.g. {\"dropout\":0.3}.");
EXPERIMENT_FLAG(int64, classes, 0, kModel, kRunDefining,
                "Output classes of the model; 0: the data set's.");
EXPERIMENT_FLAG(string, trainer, "classification", kModel, kRunDefining,
                "Registered trainer name.");

EXPERIMENT_FLAG(string, dataset, "fashion_mnist", kData, kRunDefining, "Registered data set name.");
EXPERIMENT_FLAG(string, dataset_options, "{}", kData, kRunDefining,
                "JSON object of the data set's declared options, e.g. {\"train_size\":256} "
                "(--helpshort lists them).");
EXPERIMENT_FLAG(string, data_dir, "", kData, kRunDefining,
                "Directory of the data set's files (default: where its Debian package installs "
                "them).");
EXPERIMENT_FLAG(int64, train_samples, 0, kData, kRunDefining,
                "Use only the first N training samples; 0: all.");
EXPERIMENT_FLAG(int64, batch_size, 64, kData, kRunDefining, "Training batch size (>= 1).");
EXPERIMENT_FLAG(int64, eval_batch_size, 1000, kData, kRunDefining, "Evaluation batch size (>= 1).");
EXPERIMENT_FLAG(uint64, seed, 1, kData, kRunDefining,
                "Seed of parameter initialisation, dropout and data order.");
EXPERIMENT_FLAG(string, transforms, "", kData, kRunDefining,
                "JSON list of the transforms every training sample goes through, e.g. "
                "[{\"random_crop\":{\"size\":28,\"padding\":2}},{\"horizontal_flip\":{}}] "
                "(docs/data.md); their random choices depend on (seed, epoch, sample) only.");
EXPERIMENT_FLAG(string, valid_transforms, "", kData, kRunDefining,
                "JSON list of the transforms of validation samples, e.g. "
                "[{\"center_crop\":{\"size\":24}}]; //tools:evaluate applies the recorded list.");
EXPERIMENT_FLAG(bool, skip_bad_samples, false, kData, kRunDefining,
                "Leave out samples that cannot be read (corrupt images, bad .cls members, "
                "truncated shards), logging each by name and counting them in metrics.jsonl, "
                "instead of stopping the run.");
EXPERIMENT_FLAG(int32, data_workers, -1, kData, kMayChange,
                "Threads that decode and transform batches ahead of the training step; 0: on "
                "the training thread; -1: none for data in memory, else a quarter of the cores "
                "(docs/data.md). Never changes the results.");
EXPERIMENT_FLAG(int32, prefetch_batches, 2, kData, kMayChange,
                "Batches each data worker may have ready ahead of the step (>= 1).");
EXPERIMENT_FLAG(int64, prefetch_max_mib, 1024, kData, kMayChange,
                "No worker starts another batch while this many MiB of batches wait (>= 1).");

// The optimizer's and the schedule's options are declared by each of them
// (see plugin_option_flags.h); the flags named after an option set it in the
// selected plugin when given, and are empty otherwise. What a run used is
// recorded as "optimizer.<option>" and "scheduler.<option>", so these flags
// themselves are not compared on resume.
EXPERIMENT_FLAG(string, optimizer, "sgd", kOptimizer, kRunDefining,
                "Registered optimizer: sgd, adam, adamw, rmsprop, or a plugin's. Its options are "
                "listed below with their effective values.");
EXPERIMENT_FLAG(string, optimizer_options, "{}", kOptimizer, kStartup,
                "JSON object of the optimizer's options, e.g. {\"lr_decay\":0.01} for adagrad.");
EXPERIMENT_FLAG(string, lr, "", kOptimizer, kStartup,
                "Learning rate: the optimizer's option lr.");
EXPERIMENT_FLAG(string, momentum, "", kOptimizer, kStartup,
                "The optimizer's option momentum (sgd, rmsprop).");
EXPERIMENT_FLAG(string, weight_decay, "", kOptimizer, kStartup,
                "The optimizer's option weight_decay.");
EXPERIMENT_FLAG(string, weight_decay_params, "all", kOptimizer, kRunDefining,
                "Parameters weight decay applies to: all, or matrices (2+ dimensions; not "
                "biases and norm weights, as nanoGPT groups them: two parameter groups).");
EXPERIMENT_FLAG(string, dampening, "", kOptimizer, kStartup, "The optimizer's option dampening (sgd).");
EXPERIMENT_FLAG(bool, nesterov, false, kOptimizer, kStartup, "The optimizer's option nesterov (sgd).");
EXPERIMENT_FLAG(string, beta1, "", kOptimizer, kStartup, "The optimizer's option beta1 (adam, adamw).");
EXPERIMENT_FLAG(string, beta2, "", kOptimizer, kStartup, "The optimizer's option beta2 (adam, adamw).");
EXPERIMENT_FLAG(string, eps, "", kOptimizer, kStartup,
                "The optimizer's option eps (adam, adamw, rmsprop, adagrad).");
EXPERIMENT_FLAG(bool, amsgrad, false, kOptimizer, kStartup,
                "The optimizer's option amsgrad (adam, adamw).");
EXPERIMENT_FLAG(string, alpha, "", kOptimizer, kStartup, "The optimizer's option alpha (rmsprop).");
EXPERIMENT_FLAG(bool, centered, false, kOptimizer, kStartup,
                "The optimizer's option centered (rmsprop).");

EXPERIMENT_FLAG(string, scheduler, "none", kSchedule, kRunDefining,
                "Registered learning-rate schedule: none, step, multistep, exponential, cosine, "
                "plateau, or a plugin's. Its options are listed below with their effective values.");
EXPERIMENT_FLAG(string, scheduler_options, "{}", kSchedule, kStartup,
                "JSON object of the schedule's options, e.g. {\"t_max\":20}.");
EXPERIMENT_FLAG(string, step_size, "", kSchedule, kStartup, "The schedule's option step_size (step).");
EXPERIMENT_FLAG(string, gamma, "", kSchedule, kStartup,
                "The schedule's option gamma (step, multistep, exponential).");
EXPERIMENT_FLAG(string, milestones, "", kSchedule, kStartup,
                "The schedule's option milestones (multistep), comma-separated epochs, e.g. 10,15.");
EXPERIMENT_FLAG(string, t_max, "", kSchedule, kStartup, "The schedule's option t_max (cosine).");
EXPERIMENT_FLAG(string, eta_min, "", kSchedule, kStartup, "The schedule's option eta_min (cosine).");
EXPERIMENT_FLAG(int64, warmup_epochs, 0, kSchedule, kRunDefining,
                "Linear warm-up epochs before any chainable schedule (>= 0).");
EXPERIMENT_FLAG(double, warmup_start_factor, 1.0 / 3, kSchedule, kRunDefining,
                "Warm-up's first factor of the learning rate, in (0, 1].");
EXPERIMENT_FLAG(string, plateau_factor, "", kSchedule, kStartup,
                "Old spelling of the plateau schedule's option factor.");
EXPERIMENT_FLAG(string, plateau_patience, "", kSchedule, kStartup,
                "Old spelling of the plateau schedule's option patience.");
EXPERIMENT_FLAG(string, plateau_threshold, "", kSchedule, kStartup,
                "Old spelling of the plateau schedule's option threshold.");
EXPERIMENT_FLAG(string, plateau_threshold_mode, "", kSchedule, kStartup,
                "Old spelling of the plateau schedule's option threshold_mode.");
EXPERIMENT_FLAG(string, plateau_cooldown, "", kSchedule, kStartup,
                "Old spelling of the plateau schedule's option cooldown.");
EXPERIMENT_FLAG(string, plateau_min_lr, "", kSchedule, kStartup,
                "Old spelling of the plateau schedule's option min_lr.");
EXPERIMENT_FLAG(string, monitor, "valid_loss", kSchedule, kRunDefining,
                "Validation metric that plateau scheduling and --keep_best follow, e.g. "
                "valid_acc.");
EXPERIMENT_FLAG(string, monitor_mode, "auto", kSchedule, kRunDefining,
                "min or max: whether --monitor improves downwards or upwards; auto: max for "
                "accuracies, min otherwise.");

EXPERIMENT_FLAG(int64, epochs, 15, kTraining, kMayChange, "Epochs to train (>= 0).");
EXPERIMENT_FLAG(int32, threads, 0, kTraining, kMayChange,
                "Intra-op threads; 0: LibTorch's default.");
EXPERIMENT_FLAG(string, device, "cpu", kTraining, kMayChange, "Device: cpu, cuda or cuda:N.");
EXPERIMENT_FLAG(double, clip_grad_norm, 0, kTraining, kRunDefining,
                "Clip the gradients' total norm to at most this before every optimizer step, as "
                "torch.nn.utils.clip_grad_norm_ (after the ranks' average); 0: off. The norm "
                "before clipping is the curve train/grad_norm.");
EXPERIMENT_FLAG(string, clip_grad_norm_type, "2", kTraining, kRunDefining,
                "The p of --clip_grad_norm's p-norm: a number > 0, or inf (the largest "
                "absolute gradient).");
EXPERIMENT_FLAG(double, clip_grad_value, 0, kTraining, kRunDefining,
                "Clamp every gradient to [-X, X] before every optimizer step (after "
                "--clip_grad_norm), as torch.nn.utils.clip_grad_value_; 0: off.");
EXPERIMENT_FLAG(string, precision, "fp32", kTraining, kRunDefining,
                "fp32; bf16: forward passes autocast to bfloat16 (CPU and CUDA); fp16: autocast "
                "to float16 with dynamic loss scaling as PyTorch's GradScaler (CUDA only).");
EXPERIMENT_FLAG(int64, accumulate_batches, 1, kTraining, kRunDefining,
                "Gradient accumulation: each rank's share of a --batch_size batch in this many "
                "micro-batches, one optimizer step per batch (--batch_size must divide by world "
                "size x this); the gradient is the batch's mean as without accumulation.");
EXPERIMENT_FLAG(string, callbacks, "", kTraining, kRunDefining,
                "Comma-separated callbacks to load (the framework's ema and early_stopping, or a "
                "plugin's, e.g. smoothed_loss); each keeps its state in every checkpoint.");
EXPERIMENT_FLAG(string, callback_options, "{}", kTraining, kStartup,
                "JSON object of the callbacks' options by callback, e.g. "
                "{\"smoothed_loss\":{\"beta\":0.9}}.");
EXPERIMENT_FLAG(string, ema_decay, "", kTraining, kStartup,
                "Keep an exponential moving average of the weights with this decay per step "
                "(the callback ema's option decay; selects it), evaluated as valid_ema_loss and "
                "valid_ema_<metric> after every epoch.");
EXPERIMENT_FLAG(string, ema_warmup, "", kTraining, kStartup,
                "true: the average's decay warms up as timm's ModelEmaV3 (the callback ema's "
                "option warmup; selects it).");
EXPERIMENT_FLAG(string, early_stop_patience, "", kTraining, kStartup,
                "End training when --monitor has not improved for this many epochs (the "
                "callback early_stopping's option patience; selects it). The run ends with a "
                "final checkpoint and exit 0.");
EXPERIMENT_FLAG(string, early_stop_min_delta, "", kTraining, kStartup,
                "How much better than the best --monitor an epoch must be to count as an "
                "improvement (the callback early_stopping's option min_delta; selects it).");
EXPERIMENT_FLAG(int64, log_interval, 100, kTraining, kMayChange,
                "Iterations between training log lines; 0: none.");
EXPERIMENT_FLAG(int64, log_every_steps, 1, kTraining, kMayChange,
                "Steps between points of steps.jsonl and the TensorBoard event files (each the "
                "mean over those steps); >= 1.");
EXPERIMENT_FLAG(string, progress, "auto", kTraining, kMayChange,
                "Progress bar: auto (when stderr is a terminal), always, never.");

EXPERIMENT_FLAG(int64, checkpoint_interval, 1, kCheckpoints, kMayChange,
                "Save a checkpoint every N epochs; 0: off.");
EXPERIMENT_FLAG(int64, checkpoint_every_steps, 0, kCheckpoints, kMayChange,
                "Save a checkpoint every N steps; 0: off.");
EXPERIMENT_FLAG(int64, keep_last, 3, kCheckpoints, kMayChange,
                "Keep the newest N checkpoints (>= 1).");
EXPERIMENT_FLAG(int64, keep_best, 1, kCheckpoints, kMayChange,
                "Also keep the best K checkpoints by --monitor; 0: off.");
EXPERIMENT_FLAG(int64, keep_every_epochs, 0, kCheckpoints, kMayChange,
                "Also keep a milestone checkpoint every E epochs; 0: off.");
EXPERIMENT_FLAG(bool, async_checkpoint, false, kCheckpoints, kMayChange,
                "Write checkpoints in the background; training waits only for a snapshot.");
EXPERIMENT_FLAG(bool, checkpoint_fsync, true, kCheckpoints, kMayChange,
                "fsync checkpoint files and directories before commit.");
EXPERIMENT_FLAG(string, checkpoint_signal, "", kCheckpoints, kMayChange,
                "A signal that asks for a checkpoint at a step every rank agrees on, e.g. "
                "SIGUSR1 for Slurm's --signal=USR1@90 (docs/data-parallel.md); empty: none.");
EXPERIMENT_FLAG(string, on_checkpoint_signal, "continue", kCheckpoints, kMayChange,
                "After the --checkpoint_signal checkpoint: continue, or exit (status 75, "
                "EX_TEMPFAIL) for the job to be requeued and --resume'd.");

EXPERIMENT_FLAG(bool, resume, false, kResume, kStartup,
                "Continue from the newest valid checkpoint of the run directory (fresh start if "
                "none).");
EXPERIMENT_FLAG(string, resume_from, "", kResume, kStartup,
                "Continue from this checkpoint directory.");
EXPERIMENT_FLAG(string, pytorch_epoch, "index", kResume, kStartup,
                "What the 'epoch' of a PyTorch dict given to --resume_from counts: index (the "
                "tutorial recipe's, the 0-based index of the last finished epoch) or count (the "
                "number of epochs finished, as other code and this framework before 2026-12 "
                "wrote it).");
EXPERIMENT_FLAG(string, init_from, "", kResume, kStartup,
                "Start a fresh run with the model weights of this file: a checkpoint directory, a "
                "whole-model or safetensors file, or a PyTorch .pt state dict (recognised by "
                "content).");
EXPERIMENT_FLAG(string, map_location, "", kResume, kStartup,
                "Where loaded tensors go: cpu, cuda, cuda:N, or pairs such as "
                "cuda:1=cuda:0,cuda:0=cpu; default: --device.");

EXPERIMENT_FLAG(int64, bucket_mb, 25, kDataParallel, kMayChange,
                "Gradients are all-reduced in buckets of about this many MiB, each starting as "
                "soon as backward has produced it (>= 1).");
EXPERIMENT_FLAG(bool, shard_optimizer_state, false, kDataParallel, kMayChange,
                "ZeRO-1: each rank keeps and steps the optimizer state (Adam's moments, "
                "momentum) of its share of the parameters only, and sends the updated ones to "
                "the others; the weights are bit-identical to an unsharded run. Checkpoints hold "
                "the whole state, each rank writing its own, and resume at any world size, "
                "sharded or not.");
EXPERIMENT_FLAG(bool, shared_memory_all_reduce, true, kDataParallel, kMayChange,
                "When every rank runs on this machine, sum gradients through shared memory on "
                "each rank's training thread instead of over Gloo's loopback TCP (the same "
                "bits with 2 ranks; with more, each part of a bucket is summed in rank order).");
EXPERIMENT_FLAG(int64, dist_timeout_s, 300, kDataParallel, kMayChange,
                "Seconds a rank waits for the others (to start, in a collective, at a checkpoint "
                "barrier) before the run fails naming the ranks that are gone; longer than the "
                "slowest checkpoint save.");
EXPERIMENT_FLAG(bool, log_all_ranks, false, kDataParallel, kMayChange,
                "Log INFO lines on every rank; by default ranks other than 0 log warnings and "
                "errors only.");

EXPERIMENT_FLAG(string, plugins, "", kPlugins, kMayChange,
                "Comma-separated plugin shared objects (.so) to load before anything is looked "
                "up by name; they may add models, trainers, optimizers, schedulers, data sets and "
                "weights formats.");
