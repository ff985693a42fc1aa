#include "framework/checkpoint/tensor_records.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"

namespace framework {

int32_t TensorRecords::FileIndex(std::string_view file) {
  // A handful of files, and a file's records tend to come in runs.
  for (size_t i = files_.size(); i-- > 0;) {
    if (files_[i] == file) return static_cast<int32_t>(i);
  }
  files_.emplace_back(file);
  return static_cast<int32_t>(files_.size() - 1);
}

TensorRecord& TensorRecords::Add(std::string name, std::string_view file) {
  // Equal to the last counts as out of order, so that SortByName() looks.
  if (!records_.empty() && !(records_.back().name < name)) sorted_ = false;
  records_.push_back({std::move(name), TensorRecord{}});
  TensorRecord& record = records_.back().record;
  record.file = FileIndex(file);
  return record;
}

void TensorRecords::Merge(TensorRecords&& other) {
  std::vector<int32_t> translated(other.files_.size());
  for (size_t i = 0; i < other.files_.size(); ++i) translated[i] = FileIndex(other.files_[i]);
  if (!other.records_.empty()) {
    sorted_ = sorted_ && other.sorted_ &&
              (records_.empty() || records_.back().name < other.records_.front().name);
  }
  records_.reserve(records_.size() + other.records_.size());
  for (Named& named : other.records_) {
    named.record.file = translated[named.record.file];
    records_.push_back(std::move(named));
  }
  other.records_.clear();
  other.files_.clear();
  other.sorted_ = true;
}

absl::Status TensorRecords::SortByName() {
  if (sorted_) return absl::OkStatus();
  std::sort(records_.begin(), records_.end(),
            [](const Named& a, const Named& b) { return a.name < b.name; });
  auto repeated = std::adjacent_find(records_.begin(), records_.end(),
                                     [](const Named& a, const Named& b) { return a.name == b.name; });
  if (repeated != records_.end()) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", repeated->name, "' is listed twice"));
  }
  sorted_ = true;
  return absl::OkStatus();
}

const TensorRecord* TensorRecords::Find(std::string_view name) const {
  CHECK(sorted_) << "TensorRecords::Find before SortByName";
  auto it = std::lower_bound(records_.begin(), records_.end(), name,
                             [](const Named& named, std::string_view n) { return named.name < n; });
  if (it == records_.end() || it->name != name) return nullptr;
  return &it->record;
}

}  // namespace framework
