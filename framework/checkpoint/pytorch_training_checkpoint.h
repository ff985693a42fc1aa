// Runs that cross between Python and C++: PyTorch's training-checkpoint recipe
// ({"model_state_dict", "optimizer_state_dict", "epoch", "loss"}) resumed
// here, and a checkpoint of ours exported as that dict for PyTorch.
//
// `epoch` means what the recipe's loop makes it mean (PyTorchEpoch below):
// by default the 0-based index of the last finished epoch. Training continues
// with the next epoch, and the schedule is stepped once per finished epoch,
// where a run that never stopped has it. Optimizer
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
#include "absl/strings/string_view.h"
#include "framework/checkpoint/checkpoint.h"
#include "framework/formats/pytorch_file.h"
#include "framework/optim/optimizer.h"
#include "framework/train/training_loop.h"
#include "nlohmann/json.hpp"

namespace framework {

// The optimizer and schedule a run uses, with their options by name (values
// of the declared options; see core/declared_options.h).
struct OptimisationRecord {
  std::string optimizer;
  nlohmann::json optimizer_options = nlohmann::json::object();
  // How the parameters are grouped (--weight_decay_params): group 1, when
  // there is one, has weight decay 0.
  DecayedParameters decayed_parameters = DecayedParameters::kAll;
  std::string scheduler;
  nlohmann::json scheduler_options = nlohmann::json::object();
  int64_t warmup_epochs = 0;
  int64_t epochs = 0;  // the run's length (a cosine period of 0 means it)
};

// What a dict's `epoch` counts. The tutorial recipe,
//
//   for epoch in range(start_epoch + 1, MAX_EPOCH):
//       ...train one epoch...
//       if (epoch + 1) % checkpoint_interval == 0:
//           torch.save({..., "epoch": epoch}, ...)
//
// saves the 0-based loop index of the epoch that just finished (its first
// dict holds 0) and resumes with range(start_epoch + 1, ...): kIndex, the
// default both ways. Other code may save the number of epochs finished:
// kCount (what this framework wrote before it followed the recipe).
enum class PyTorchEpoch { kIndex, kCount };

// "index" or "count"; an error saying what each means, for the caller to
// prefix with the flag it read.
absl::StatusOr<PyTorchEpoch> ParsePyTorchEpoch(absl::string_view text);
const char* PyTorchEpochName(PyTorchEpoch convention);

// The number of epochs finished that a dict's `epoch` says, and back; an
// error when the value cannot be one (below 0 finished).
absl::StatusOr<int64_t> EpochsFinished(int64_t epoch, PyTorchEpoch convention);
int64_t PyTorchEpochValue(int64_t epochs_finished, PyTorchEpoch convention);

// What a dict's `epoch` means, for log lines: "the recipe's epoch 0 = 1 epoch
// finished (--pytorch_epoch=index)".
std::string DescribePyTorchEpoch(int64_t epoch, PyTorchEpoch convention);

// "1st", "2nd", "3rd", "4th", "11th", "21st": the epoch a run continues with.
std::string Ordinal(int64_t n);

// What RestoreFromPyTorch did.
struct PyTorchRestore {
  int64_t epochs_finished = 0;
  // Hyper-parameters that differ between the file and the run, as
  // "key: file X, optimizer option Y".
  std::vector<std::string> differences;
};

// Puts a freshly built run (model, its optimizer and scheduler inside `loop`)
// where the PyTorch checkpoint left it. `run` is what this run uses. Errors
// name the file and the key; on error the run may be half loaded and must not
// be used. `convention` says what the file's `epoch` counts.
absl::StatusOr<PyTorchRestore> RestoreFromPyTorch(const PyTorchTrainingCheckpoint& checkpoint,
                                                  const std::string& source,
                                                  const OptimisationRecord& run,
                                                  PyTorchEpoch convention, TrainingLoop& loop);

// A checkpoint of ours (read with ReadCheckpoint, saved at an epoch's end) as
// the recipe's dict, with "scheduler_state_dict" where a PyTorch scheduler
// equals ours without a warm-up (a chainable schedule every one of whose
// options has a PyTorch key: step, exponential, cosine). `run` is what the
// checkpoint's run used (from its manifest's record); `epoch` is written in
// `convention`, so that the recipe's resume loop, unchanged, continues with
// the next epoch.
absl::StatusOr<PyTorchTrainingCheckpoint> ToPyTorchTrainingCheckpoint(
    const TrainingState& state, const OptimisationRecord& run, const std::string& source,
    PyTorchEpoch convention = PyTorchEpoch::kIndex);

}  // namespace framework

#endif  // FRAMEWORK_CHECKPOINT_PYTORCH_TRAINING_CHECKPOINT_H_
