// State dicts in the files of Python's torch.save (zip format, PyTorch >= 1.6).
//
// Reading uses LibTorch's zip container (caffe2/serialize/inline_container.h)
// and an unpickler of our own that never executes anything: it accepts only
// the globals a state_dict needs, as torch.load(weights_only=True) does, and
// refuses any other global by name. It handles OrderedDict and dict state
// dicts (with or without _metadata), checkpoint dicts such as
// {"model_state_dict": ..., "optimizer_state_dict": ..., "epoch": ...},
// every common dtype, non-contiguous views, tensors sharing a storage, and
// storages recorded on cuda:N (placed through a DeviceMap).
//
// Writing produces a file that torch.load(path, weights_only=True) opens as
// an OrderedDict of tensors. The parts: torch_save_archive.h (the zip
// container), unpickler.h, pickle_writer.h; pytorch_file.cc reads and writes
// state dicts, pytorch_training_file.cc the training-checkpoint dict.
#ifndef FRAMEWORK_FORMATS_PYTORCH_FILE_H_
#define FRAMEWORK_FORMATS_PYTORCH_FILE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "framework/core/device_map.h"
#include "framework/formats/safetensors.h"
#include "framework/formats/torch_save_archive.h"
#include "nlohmann/json.hpp"

namespace framework {

// The model's tensors from a torch.save file: the top-level state dict, or
// the state dict under "model_state_dict", "state_dict", "model" or
// "module". A "module." prefix on every key (DataParallel) is stripped.
absl::StatusOr<std::vector<NamedTensor>> ReadPyTorchStateDict(const std::string& path,
                                                              const DeviceMap& devices);

// Writes `tensors` as a torch.save-compatible state dict.
absl::Status WritePyTorchStateDict(const std::string& path, const std::vector<NamedTensor>& tensors);

// A torch.optim optimizer's state_dict(), as PyTorch lays it out.
struct PyTorchOptimizerState {
  // "state": parameter index -> field ("momentum_buffer", "exp_avg", "step",
  // ...) -> tensor; a number becomes a 0-dim tensor, None is left out.
  std::map<int64_t, std::map<std::string, at::Tensor>> state;
  struct Group {
    // Numbers and booleans (as 0/1); a tuple such as betas as "betas.0",
    // "betas.1"; None left out.
    std::map<std::string, double> options;
    std::vector<int64_t> params;
  };
  std::vector<Group> param_groups;
};

// PyTorch's training-checkpoint recipe: {"model_state_dict",
// "optimizer_state_dict" (the recipe's misspelt "optimizer_state_dic" too),
// "epoch", "loss", optionally "scheduler_state_dict"}.
struct PyTorchTrainingCheckpoint {
  std::vector<NamedTensor> model;
  std::optional<PyTorchOptimizerState> optimizer;
  std::string optimizer_key;  // the key it was found under
  std::optional<int64_t> epoch;
  std::optional<double> loss;
  nlohmann::json scheduler;  // null when absent; written as a plain dict
};

// Reads the dict; an entry of the wrong kind is an error naming its key.
absl::StatusOr<PyTorchTrainingCheckpoint> ReadPyTorchTrainingCheckpoint(const std::string& path,
                                                                        const DeviceMap& devices);

// Writes the dict so that torch.load(path, weights_only=True) reads it and
// optimizer.load_state_dict / scheduler.load_state_dict accept its parts.
absl::Status WritePyTorchTrainingCheckpoint(const std::string& path,
                                            const PyTorchTrainingCheckpoint& checkpoint);

}  // namespace framework

#endif  // FRAMEWORK_FORMATS_PYTORCH_FILE_H_
