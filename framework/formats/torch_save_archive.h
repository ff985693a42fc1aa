// The zip archive torch.save writes (PyTorch >= 1.6): data.pkl and one record
// per storage, read and written through LibTorch's own container
// (caffe2/serialize/inline_container.h); the pickle inside through
// unpickler.h and pickle_writer.h.
#ifndef FRAMEWORK_FORMATS_TORCH_SAVE_ARCHIVE_H_
#define FRAMEWORK_FORMATS_TORCH_SAVE_ARCHIVE_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "framework/core/device_map.h"
#include "framework/core/named_tensor.h"
#include "framework/formats/pickle_writer.h"
#include "framework/formats/unpickler.h"

namespace framework {

// True when the file starts like a zip archive (as torch.save's do).
bool IsZipFile(const std::string& path);

// The unpickled object of a torch.save file, storages placed through
// `devices`. A legacy (pre-1.6) or TorchScript file is an error saying so.
absl::StatusOr<PyRef> LoadPickleRoot(const std::string& path, const DeviceMap& devices);

// Writes `pickle` as data.pkl and storage i as data/i.
absl::Status WritePickleArchive(const std::string& path, const PickleWriter& pickle,
                                const std::vector<at::Tensor>& storages);

// A dict whose keys are all strings and values all tensors.
bool IsStateDict(const PyRef& value);

// The tensors of a state dict, without a "module." prefix (DataParallel) that
// every key has.
std::vector<NamedTensor> StateDictTensors(const std::string& path, const PyRef& state_dict);

}  // namespace framework

#endif  // FRAMEWORK_FORMATS_TORCH_SAVE_ARCHIVE_H_
