// The tensor records of a checkpoint's manifest (and of a rank's report of
// its share): for each tensor by name, the file that holds it, its dtype,
// shape, device and checksum.
//
// A transformer's checkpoint has thousands of tensors, and a resume parses,
// walks and frees every record while the model waits. So the records are one
// vector in name order (a lookup is a binary search), not a tree node per
// tensor, and a record names its file by an index into the few file names
// instead of holding a copy of one ("model.safetensors" is longer than a
// string keeps inline: a heap block per record). Building and freeing
// 10,000 records as a std::map of such records was a tenth of a warm resume.
//
//   TensorRecords records;
//   records.Add("fc.weight", "model.safetensors") = {dtype, shape, device, sum};
//   ...                                  // any order
//   absl::Status sorted = records.SortByName();  // an error names a repeat
//   const TensorRecord* record = records.Find("fc.weight");
//   for (const auto& [name, record] : records) use(name, records.file(record));
#ifndef FRAMEWORK_CHECKPOINT_TENSOR_RECORDS_H_
#define FRAMEWORK_CHECKPOINT_TENSOR_RECORDS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "framework/formats/tensor_shape.h"

namespace framework {

struct TensorRecord {
  int32_t file = 0;    // index into TensorRecords::files()
  std::string dtype;   // safetensors spelling: F32, BF16, ...
  TensorShape shape;
  std::string device;  // where it lived when saved, e.g. "cuda:1"
  uint64_t checksum = 0;
};

class TensorRecords {
 public:
  struct Named {
    std::string name;
    TensorRecord record;
  };

  // A new record of `name` in `file`, at the end, for the caller to fill
  // (its `file` is set). Names may come in any order; SortByName() puts
  // them in name order before they are looked up or printed.
  TensorRecord& Add(std::string name, std::string_view file);

  // Moves every record of `other` in (file indices translated).
  void Merge(TensorRecords&& other);

  // Puts the records in name order (nothing to do when they were added in
  // it, as a parsed manifest's are). An error naming a name added twice.
  absl::Status SortByName();
  bool sorted() const { return sorted_; }

  // The record of `name`, or null. Only once sorted (a programmer error
  // otherwise).
  const TensorRecord* Find(std::string_view name) const;

  const std::string& file(const TensorRecord& record) const { return files_[record.file]; }
  const std::vector<std::string>& files() const { return files_; }

  void reserve(size_t n) { records_.reserve(n); }
  size_t size() const { return records_.size(); }
  bool empty() const { return records_.empty(); }
  std::vector<Named>::const_iterator begin() const { return records_.begin(); }
  std::vector<Named>::const_iterator end() const { return records_.end(); }

 private:
  int32_t FileIndex(std::string_view file);

  std::vector<std::string> files_;
  std::vector<Named> records_;
  bool sorted_ = true;  // names strictly increasing
};

}  // namespace framework

#endif  // FRAMEWORK_CHECKPOINT_TENSOR_RECORDS_H_
