#include "framework/metrics/metrics_log.h"

#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "framework/core/durable_file.h"

namespace framework {

// Written whole on reset (no crash can leave a mix of old and new lines), and
// one appended line per epoch, flushed to the kernel before the epoch's
// checkpoint is taken; a line cut short by a crash is dropped by the reset
// that the resume does.
absl::Status MetricsLog::Reset(const std::vector<EpochRecord>& history) {
  std::string text;
  for (const EpochRecord& record : history) absl::StrAppend(&text, record.ToJson().dump(), "\n");
  return ReplaceFileContents(path_, text, /*sync=*/false);
}

absl::Status MetricsLog::OnEpochEnd(TrainingLoop& /*loop*/, const EpochRecord& record) {
  absl::StatusOr<std::unique_ptr<WritableFile>> out = Env::Default()->NewAppendableFile(path_);
  if (!out.ok()) return out.status();
  const std::string line = record.ToJson().dump() + "\n";
  if (absl::Status status = (*out)->Append(line.data(), line.size()); !status.ok()) return status;
  return (*out)->Close();
}

absl::StatusOr<std::vector<EpochRecord>> ReadMetricsLog(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFileToString(path);
  if (!text.ok()) return text.status();
  std::vector<EpochRecord> records;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    ++line_number;
    if (line.empty()) continue;
    nlohmann::json json = nlohmann::json::parse(std::string(line), nullptr, false);
    if (json.is_discarded()) {
      return absl::DataLossError(
          absl::StrCat(path, ":", line_number, ": not valid JSON"));
    }
    absl::StatusOr<EpochRecord> record = EpochRecord::FromJson(json);
    if (!record.ok()) {
      return absl::DataLossError(
          absl::StrCat(path, ":", line_number, ": ", record.status().message()));
    }
    records.push_back(*std::move(record));
  }
  return records;
}

}  // namespace framework
