// A restricted unpickler for the data.pkl of torch.save files: it builds
// plain values (None, numbers, strings, lists, tuples, dicts, storages and
// tensors) and never executes anything. It accepts only the globals a state
// dict needs, as torch.load(weights_only=True) does, refuses any other by
// name, and bounds nesting, object count and memo size so that a small
// hostile file cannot exhaust the stack or memory. Written here because
// LibTorch's own unpickler (torch/csrc/jit/serialization) builds TorchScript
// IValues and runs arbitrary class constructors, and no Debian library reads
// pickles in C++.
//
//   absl::StatusOr<PyRef> root = Unpickle(path, data, size, load_storage);
//   if (root.ok() && (*root)->kind == PyValue::Kind::kDict) ...
#ifndef FRAMEWORK_FORMATS_UNPICKLER_H_
#define FRAMEWORK_FORMATS_UNPICKLER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <torch/types.h>

#include "absl/status/statusor.h"

namespace framework {

struct PyValue;
using PyRef = std::shared_ptr<PyValue>;

struct PyValue {
  enum class Kind { kNone, kBool, kInt, kFloat, kString, kBytes, kList, kTuple, kDict, kGlobal, kStorage, kTensor };
  Kind kind = Kind::kNone;
  bool boolean = false;
  int64_t integer = 0;
  double number = 0;
  std::string text;  // string, bytes, or a global's "module.name"
  std::vector<PyRef> items;                       // list, tuple
  std::vector<std::pair<PyRef, PyRef>> entries;   // dict, in order
  at::Tensor tensor;                              // storage (1-D) or tensor
  // Containers only: how deep the objects inside go, and whether this one
  // is already inside another (after which it may no longer change, so
  // depths stay true and no cycle can form).
  int depth = 1;
  bool contained = false;

  static PyRef Make(Kind kind) {
    auto value = std::make_shared<PyValue>();
    value->kind = kind;
    return value;
  }
};

// "dict", "tensor", ...: a kind as Python names it, for messages.
const char* KindName(PyValue::Kind kind);

// torch.<Type>Storage -> dtype, for the storages torch.save writes.
const std::map<std::string, c10::ScalarType>& StorageTypes();

// Returns the storage tensor of a persistent id (`key`, `dtype`, `numel`,
// `location` as recorded, e.g. "cuda:1").
using StorageLoader = std::function<absl::StatusOr<at::Tensor>(
    const std::string& key, c10::ScalarType dtype, int64_t numel, const std::string& location)>;

// The object `data` (of `size` bytes) pickles; `source` names it in errors.
absl::StatusOr<PyRef> Unpickle(const std::string& source, const char* data, size_t size,
                               StorageLoader load_storage);

}  // namespace framework

#endif  // FRAMEWORK_FORMATS_UNPICKLER_H_
