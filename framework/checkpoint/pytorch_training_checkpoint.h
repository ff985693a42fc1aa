// Runs that cross between Python and C++: PyTorch's training-checkpoint recipe
// ({"model_state_dict", "optimizer_state_dict", "epoch", "loss"}) resumed
// here, and a checkpoint of ours exported as that dict for PyTorch.
//
// `epoch` is the number of epochs completed (the recipe's dict saved "after
// epoch 1" holds 1): training continues at epoch + 1, and the schedule is
// stepped `epoch` times, where a run that never stopped has it. Optimizer
// state is mapped by parameter index (PyTorch's `state` keys and
// `param_groups[0].params`) onto the model's parameters in registration order,
// field by field through the optimizer's registered state codec, whose field
// names are PyTorch's; hyper-parameters through the PyTorch keys that the
// optimizer's and the schedule's declared options carry (no table here).
// Hyper-parameters in the file that differ from the run's are logged, and the
// run's win.
#ifndef FRAMEWORK_CHECKPOINT_PYTORCH_TRAINING_CHECKPOINT_H_
#define FRAMEWORK_CHECKPOINT_PYTORCH_TRAINING_CHECKPOINT_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "framework/checkpoint/checkpoint.h"
#include "framework/formats/pytorch_file.h"
#include "framework/train/training_loop.h"
#include "nlohmann/json.hpp"

namespace framework {

// The optimizer and schedule a run uses, with their options by name (values
// of the declared options; see core/declared_options.h).
struct OptimisationRecord {
  std::string optimizer;
  nlohmann::json optimizer_options = nlohmann::json::object();
  std::string scheduler;
  nlohmann::json scheduler_options = nlohmann::json::object();
  int64_t warmup_epochs = 0;
  int64_t epochs = 0;  // the run's length (a cosine period of 0 means it)
};

// Puts a freshly built run (model, its optimizer and scheduler inside `loop`)
// where the PyTorch checkpoint left it. `run` is what this run uses. Errors
// name the file and the key; on error the run may be half loaded and must not
// be used. Returns the hyper-parameters that differ between the file and the
// run, as "key: file X, optimizer option Y".
absl::StatusOr<std::vector<std::string>> RestoreFromPyTorch(
    const PyTorchTrainingCheckpoint& checkpoint, const std::string& source,
    const OptimisationRecord& run, TrainingLoop& loop);

// A checkpoint of ours (read with ReadCheckpoint, saved at an epoch's end) as
// the recipe's dict, with "scheduler_state_dict" where a PyTorch scheduler
// equals ours without a warm-up (a chainable schedule every one of whose
// options has a PyTorch key: step, exponential, cosine). `run` is what the
// checkpoint's run used (from its manifest's record).
absl::StatusOr<PyTorchTrainingCheckpoint> ToPyTorchTrainingCheckpoint(
    const TrainingState& state, const OptimisationRecord& run, const std::string& source);

}  // namespace framework

#endif  // FRAMEWORK_CHECKPOINT_PYTORCH_TRAINING_CHECKPOINT_H_
