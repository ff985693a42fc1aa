// The weights formats every binary reads: checkpoint directories, whole-model
// files, plain safetensors files and PyTorch .pt files.
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "framework/checkpoint/checkpoint.h"
#include "framework/core/durable_file.h"
#include "framework/formats/pytorch_file.h"
#include "framework/formats/safetensors.h"
#include "framework/weights/model_file.h"
#include "framework/weights/weights_file.h"

namespace framework {
namespace {

bool IsCheckpointDirectory(const std::string& path) {
  std::error_code error;
  return std::filesystem::is_directory(path, error) &&
         std::filesystem::exists(std::filesystem::path(path) / kCheckpointManifest, error);
}

// torch.save files are zip archives; its pre-1.6 files start with a pickle
// (and are refused by the reader with a message that says so).
bool IsPyTorchFile(const std::string& path) {
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error)) return false;
  if (IsZipFile(path)) return true;
  absl::StatusOr<std::string> head = ReadFileHead(path, 2);
  return head.ok() && head->size() == 2 && static_cast<unsigned char>((*head)[0]) == 0x80 &&
         static_cast<unsigned char>((*head)[1]) <= 5;
}

// A safetensors file whose metadata says whether it is a whole-model file.
bool IsSafetensors(const std::string& path, bool model_file) {
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error)) return false;
  absl::StatusOr<SafetensorsHeader> header = ReadSafetensorsHeader(path);
  if (!header.ok()) return false;
  auto format = header->metadata.find("format");
  return (format != header->metadata.end() && format->second == kModelFileFormat) == model_file;
}

absl::StatusOr<std::vector<NamedTensor>> ReadSafetensorsWeights(const std::string& path,
                                                                const DeviceMap& devices) {
  absl::StatusOr<SafetensorsContents> contents = ReadSafetensors(path);
  if (!contents.ok()) return contents.status();
  absl::StatusOr<c10::Device> device = devices.Map("cpu");
  if (!device.ok()) return device.status();
  if (!device->is_cpu()) {
    for (NamedTensor& named : contents->tensors) named.tensor = named.tensor.to(*device);
  }
  return contents->tensors;
}

absl::StatusOr<std::vector<NamedTensor>> ReadCheckpointWeights(const std::string& path,
                                                               const DeviceMap& devices) {
  absl::StatusOr<TrainingState> state = ReadCheckpoint(path, devices);
  if (!state.ok()) return state.status();
  return state->model;
}

absl::StatusOr<ModelSpec> ReadCheckpointModelSpec(const std::string& path) {
  absl::StatusOr<CheckpointManifest> manifest = ReadCheckpointManifest(path);
  if (!manifest.ok()) return manifest.status();
  return manifest->model_spec;
}

}  // namespace

REGISTER_WEIGHTS_FORMAT("checkpoint", (WeightsFormat{"checkpoint", IsCheckpointDirectory,
                                                     ReadCheckpointWeights,
                                                     ReadCheckpointModelSpec}));
REGISTER_WEIGHTS_FORMAT("model", (WeightsFormat{"whole-model file",
                                                [](const std::string& path) {
                                                  return IsSafetensors(path, true);
                                                },
                                                ReadSafetensorsWeights, ReadModelFileSpec}));
REGISTER_WEIGHTS_FORMAT("safetensors", (WeightsFormat{"safetensors",
                                                      [](const std::string& path) {
                                                        return IsSafetensors(path, false);
                                                      },
                                                      ReadSafetensorsWeights, nullptr}));
REGISTER_WEIGHTS_FORMAT("pytorch", (WeightsFormat{"PyTorch .pt", IsPyTorchFile,
                                                  ReadPyTorchStateDict, nullptr}));

}  // namespace framework
