#include "framework/weights_file.h"

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "framework/checkpoint.h"
#include "framework/model_file.h"
#include "framework/pytorch_file.h"

namespace framework {

const char* WeightsFormatName(WeightsFormat format) {
  switch (format) {
    case WeightsFormat::kCheckpoint: return "checkpoint";
    case WeightsFormat::kModelFile: return "whole-model file";
    case WeightsFormat::kSafetensors: return "safetensors";
    case WeightsFormat::kPyTorch: return "PyTorch .pt";
  }
  return "?";
}

absl::StatusOr<WeightsFormat> DetectWeightsFormat(const std::string& path) {
  std::error_code error;
  if (std::filesystem::is_directory(path, error)) {
    if (std::filesystem::exists(path + "/" + kCheckpointManifest, error)) {
      return WeightsFormat::kCheckpoint;
    }
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is a directory but not a checkpoint (no ", kCheckpointManifest, ")"));
  }
  if (!std::filesystem::exists(path, error)) {
    return absl::NotFoundError(absl::StrCat(path, " does not exist"));
  }
  std::ifstream in(path, std::ios::binary);
  unsigned char head[2] = {};
  in.read(reinterpret_cast<char*>(head), 2);
  // torch.save files are zip archives; its pre-1.6 files start with a pickle.
  if (IsZipFile(path) || (in.gcount() == 2 && head[0] == 0x80 && head[1] <= 5)) {
    return WeightsFormat::kPyTorch;
  }
  absl::StatusOr<SafetensorsHeader> header = ReadSafetensorsHeader(path);
  if (!header.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, " is neither a checkpoint, a safetensors file nor a PyTorch .pt file (",
        header.status().message(), ")"));
  }
  auto format = header->metadata.find("format");
  if (format != header->metadata.end() && format->second == kModelFileFormat) {
    return WeightsFormat::kModelFile;
  }
  return WeightsFormat::kSafetensors;
}

absl::StatusOr<std::vector<NamedTensor>> ReadWeights(const std::string& path,
                                                     const DeviceMap& devices) {
  absl::StatusOr<WeightsFormat> format = DetectWeightsFormat(path);
  if (!format.ok()) return format.status();
  switch (*format) {
    case WeightsFormat::kCheckpoint: {
      absl::StatusOr<TrainingState> state = ReadCheckpoint(path, devices);
      if (!state.ok()) return state.status();
      return state->model;
    }
    case WeightsFormat::kPyTorch:
      return ReadPyTorchStateDict(path, devices);
    case WeightsFormat::kModelFile:
    case WeightsFormat::kSafetensors: {
      absl::StatusOr<SafetensorsContents> contents = ReadSafetensors(path);
      if (!contents.ok()) return contents.status();
      absl::StatusOr<c10::Device> device = devices.Map("cpu");
      if (!device.ok()) return device.status();
      if (!device->is_cpu()) {
        for (NamedTensor& named : contents->tensors) named.tensor = named.tensor.to(*device);
      }
      return contents->tensors;
    }
  }
  return absl::InternalError("unreachable");
}

}  // namespace framework
