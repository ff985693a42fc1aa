// A pickle writer for the data.pkl of torch.save files: protocol 2, and only
// the subset torch.load's weights_only unpickler accepts (OrderedDict, tensors
// rebuilt with torch._utils._rebuild_tensor_v2 over persistent storages, and
// plain data). Written here for the same reason as unpickler.h: LibTorch's
// pickler writes TorchScript archives, which torch.load(weights_only=True)
// does not open as a state dict.
//
//   PickleWriter pickle;
//   pickle.Proto(); pickle.EmptyOrderedDict(); pickle.Mark();
//   pickle.String("fc.weight"); PickleTensor(pickle, path, "fc.weight", tensor, storages);
//   pickle.SetItems(); pickle.Stop();
#ifndef FRAMEWORK_FORMATS_PICKLE_WRITER_H_
#define FRAMEWORK_FORMATS_PICKLE_WRITER_H_

#include <cstdint>
#include <string>
#include <vector>

#include <torch/types.h>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"

namespace framework {

class PickleWriter {
 public:
  void Proto() { bytes_ += "\x80\x02"; }
  void Stop() { bytes_ += '.'; }
  void Mark() { bytes_ += '('; }
  void Tuple() { bytes_ += 't'; }
  void EmptyTuple() { bytes_ += ')'; }
  void Reduce() { bytes_ += 'R'; }
  void SetItems() { bytes_ += 'u'; }
  void BinPersId() { bytes_ += 'Q'; }
  void False() { bytes_ += '\x89'; }
  void Global(const std::string& module, const std::string& name) {
    absl::StrAppend(&bytes_, "c", module, "\n", name, "\n");
  }
  void String(const std::string& text) {
    bytes_ += 'X';
    AppendLittle(text.size(), 4);
    bytes_ += text;
  }
  void Int(int64_t value) {
    if (value >= INT32_MIN && value <= INT32_MAX) {
      bytes_ += 'J';
      AppendLittle(static_cast<uint32_t>(static_cast<int32_t>(value)), 4);
    } else {
      bytes_ += "\x8a\x08";
      AppendLittle(static_cast<uint64_t>(value), 8);
    }
  }
  void IntTuple(c10::IntArrayRef values) {
    Mark();
    for (int64_t v : values) Int(v);
    Tuple();
  }
  void None() { bytes_ += 'N'; }
  void Bool(bool value) { bytes_ += value ? '\x88' : '\x89'; }
  void Float(double value) {
    bytes_ += 'G';
    uint64_t bits;
    std::memcpy(&bits, &value, 8);
    for (int i = 7; i >= 0; --i) bytes_ += static_cast<char>((bits >> (8 * i)) & 0xff);
  }
  void EmptyDict() { bytes_ += '}'; }
  void EmptyList() { bytes_ += ']'; }
  void Appends() { bytes_ += 'e'; }
  void EmptyOrderedDict() {
    Global("collections", "OrderedDict");
    EmptyTuple();
    Reduce();
  }
  const std::string& bytes() const { return bytes_; }

 private:
  void AppendLittle(uint64_t value, int bytes) {
    for (int i = 0; i < bytes; ++i) bytes_ += static_cast<char>((value >> (8 * i)) & 0xff);
  }
  std::string bytes_;
};

// Pickles `tensor` as torch._utils._rebuild_tensor_v2 over a storage that
// becomes record data/<index> (appended to `storages`); `path` and `name`
// are for messages.
absl::Status PickleTensor(PickleWriter& pickle, const std::string& path, const std::string& name,
                          const at::Tensor& tensor, std::vector<at::Tensor>& storages);

// Pickles plain JSON data: objects as dicts, arrays as lists.
void PickleJson(PickleWriter& pickle, const nlohmann::json& value);

}  // namespace framework

#endif  // FRAMEWORK_FORMATS_PICKLE_WRITER_H_
