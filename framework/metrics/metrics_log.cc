#include "framework/metrics/metrics_log.h"

#include <cerrno>
#include <cstring>
#include <fstream>

#include "absl/strings/str_cat.h"

namespace framework {
namespace {

absl::Status WriteError(const std::string& path) {
  return absl::PermissionDeniedError(
      absl::StrCat("cannot write ", path, ": ", std::strerror(errno)));
}

}  // namespace

absl::Status MetricsLog::Reset(const std::vector<EpochRecord>& history) {
  std::ofstream out(path_, std::ios::trunc);
  if (!out) return WriteError(path_);
  for (const EpochRecord& record : history) out << record.ToJson().dump() << "\n";
  out.flush();
  if (!out) return WriteError(path_);
  return absl::OkStatus();
}

absl::Status MetricsLog::OnEpochEnd(TrainingLoop& /*loop*/,
                                    const EpochRecord& record) {
  std::ofstream out(path_, std::ios::app);
  if (!out) return WriteError(path_);
  out << record.ToJson().dump() << "\n";
  out.flush();
  if (!out) return WriteError(path_);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<EpochRecord>> ReadMetricsLog(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
  }
  std::vector<EpochRecord> records;
  std::string line;
  int line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (line.empty()) continue;
    nlohmann::json json = nlohmann::json::parse(line, nullptr, false);
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
