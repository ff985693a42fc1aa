#include "framework/formats/event_file.h"

#include <cstring>
#include <functional>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "framework/core/crc32c.h"
#include "framework/core/durable_file.h"

namespace framework {
namespace {

// Protocol buffer wire types.
constexpr int kVarint = 0;
constexpr int kFixed64 = 1;
constexpr int kLengthDelimited = 2;
constexpr int kFixed32 = 5;

// Field numbers: tensorflow.Event, Summary, Summary.Value, SessionLog.
constexpr int kEventWallTime = 1;
constexpr int kEventStep = 2;
constexpr int kEventFileVersionField = 3;
constexpr int kEventSummary = 5;
constexpr int kEventSessionLog = 6;
constexpr int kSummaryValue = 1;
constexpr int kValueTag = 1;
constexpr int kValueSimpleValue = 2;
constexpr int kSessionLogStatus = 1;
constexpr int kSessionLogStart = 1;

void PutVarint(std::string& out, uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

void PutTag(std::string& out, int field, int wire_type) {
  PutVarint(out, (static_cast<uint64_t>(field) << 3) | wire_type);
}

template <typename T>
void PutLittleEndian(std::string& out, T value) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));  // x86-64 and aarch64 are little endian
  out.append(bytes, sizeof(T));
}

void PutBytes(std::string& out, int field, const std::string& bytes) {
  PutTag(out, field, kLengthDelimited);
  PutVarint(out, bytes.size());
  out += bytes;
}

std::string EventHeader(double wall_time, int64_t step) {
  std::string event;
  PutTag(event, kEventWallTime, kFixed64);
  PutLittleEndian(event, wall_time);
  PutTag(event, kEventStep, kVarint);
  PutVarint(event, static_cast<uint64_t>(step));
  return event;
}

uint32_t ReadLittleEndian32(const std::string& bytes, size_t offset) {
  uint32_t value;
  std::memcpy(&value, bytes.data() + offset, 4);
  return value;
}

}  // namespace

std::string EncodeFileVersionEvent(double wall_time) {
  std::string event;
  PutTag(event, kEventWallTime, kFixed64);
  PutLittleEndian(event, wall_time);
  PutBytes(event, kEventFileVersionField, kEventFileVersion);
  return event;
}

std::string EncodeScalarsEvent(double wall_time, int64_t step,
                               const std::vector<std::pair<std::string, float>>& values) {
  std::string summary;
  for (const auto& [tag, value] : values) {
    std::string encoded;
    PutBytes(encoded, kValueTag, tag);
    PutTag(encoded, kValueSimpleValue, kFixed32);
    PutLittleEndian(encoded, value);
    PutBytes(summary, kSummaryValue, encoded);
  }
  std::string event = EventHeader(wall_time, step);
  PutBytes(event, kEventSummary, summary);
  return event;
}

std::string EncodeSessionStartEvent(double wall_time, int64_t step) {
  std::string session_log;
  PutTag(session_log, kSessionLogStatus, kVarint);
  PutVarint(session_log, kSessionLogStart);
  std::string event = EventHeader(wall_time, step);
  PutBytes(event, kEventSessionLog, session_log);
  return event;
}

namespace {

// Summary.Value.metadata, SummaryMetadata.plugin_data, PluginData.
constexpr int kValueMetadata = 9;
constexpr int kMetadataPluginData = 1;
constexpr int kPluginName = 1;
constexpr int kPluginContent = 2;
// HParamsPluginData: version, experiment | session_start_info | session_end_info.
constexpr int kHParamsExperiment = 2;
constexpr int kHParamsSessionStart = 3;
constexpr int kHParamsSessionEnd = 4;
// Experiment, HParamInfo, MetricInfo, MetricName.
constexpr int kExperimentTimeCreated = 3;
constexpr int kExperimentHParamInfos = 4;
constexpr int kExperimentMetricInfos = 5;
constexpr int kHParamInfoName = 1;
constexpr int kHParamInfoType = 4;
constexpr int kMetricInfoName = 1;
constexpr int kMetricNameTag = 2;
// SessionStartInfo (hparams map: key 1, value 2), SessionEndInfo.
constexpr int kSessionStartHParams = 1;
constexpr int kSessionStartTime = 5;
constexpr int kSessionEndStatus = 1;
constexpr int kSessionEndTime = 2;
constexpr int kStatusSuccess = 1;
constexpr int kStatusFailure = 2;
// google.protobuf.Value.
constexpr int kValueNumber = 2;
constexpr int kValueString = 3;
constexpr int kValueBool = 4;

void PutDouble(std::string& out, int field, double value) {
  PutTag(out, field, kFixed64);
  PutLittleEndian(out, value);
}

void PutVarintField(std::string& out, int field, uint64_t value) {
  PutTag(out, field, kVarint);
  PutVarint(out, value);
}

// An event of one Summary.Value: `tag`, the hparams plugin, `content`.
std::string HParamsEvent(double wall_time, int64_t step, const char* tag, int data_field,
                         const std::string& data) {
  std::string plugin_data_content;  // HParamsPluginData (version 0: not written)
  PutBytes(plugin_data_content, data_field, data);
  std::string plugin_data;
  PutBytes(plugin_data, kPluginName, "hparams");
  PutBytes(plugin_data, kPluginContent, plugin_data_content);
  std::string metadata;
  PutBytes(metadata, kMetadataPluginData, plugin_data);
  std::string value;
  PutBytes(value, kValueTag, tag);
  PutBytes(value, kValueMetadata, metadata);
  std::string summary;
  PutBytes(summary, kSummaryValue, value);
  std::string event = EventHeader(wall_time, step);
  PutBytes(event, kEventSummary, summary);
  return event;
}

}  // namespace

std::string EncodeHParamsExperimentEvent(double wall_time, const std::vector<HParam>& hparams,
                                         const std::vector<std::string>& metric_tags) {
  std::string experiment;
  PutDouble(experiment, kExperimentTimeCreated, wall_time);
  for (const HParam& hparam : hparams) {
    std::string info;
    PutBytes(info, kHParamInfoName, hparam.name);
    PutVarintField(info, kHParamInfoType, static_cast<uint64_t>(hparam.type));
    PutBytes(experiment, kExperimentHParamInfos, info);
  }
  for (const std::string& tag : metric_tags) {
    std::string name;
    PutBytes(name, kMetricNameTag, tag);
    std::string info;
    PutBytes(info, kMetricInfoName, name);
    PutBytes(experiment, kExperimentMetricInfos, info);
  }
  return HParamsEvent(wall_time, 0, kHParamsExperimentTag, kHParamsExperiment, experiment);
}

std::string EncodeHParamsSessionStartEvent(double wall_time, const std::vector<HParam>& hparams) {
  std::string start;
  for (const HParam& hparam : hparams) {
    std::string value;
    switch (hparam.type) {
      case HParam::Type::kNumber:
        PutDouble(value, kValueNumber, hparam.number);
        break;
      case HParam::Type::kBool:
        PutVarintField(value, kValueBool, hparam.boolean ? 1 : 0);
        break;
      case HParam::Type::kString:
        PutBytes(value, kValueString, hparam.text);
        break;
    }
    std::string entry;
    PutBytes(entry, 1, hparam.name);
    PutBytes(entry, 2, value);
    PutBytes(start, kSessionStartHParams, entry);
  }
  PutDouble(start, kSessionStartTime, wall_time);
  return HParamsEvent(wall_time, 0, kHParamsSessionStartTag, kHParamsSessionStart, start);
}

std::string EncodeHParamsSessionEndEvent(double wall_time, int64_t step, bool success) {
  std::string end;
  PutVarintField(end, kSessionEndStatus, success ? kStatusSuccess : kStatusFailure);
  PutDouble(end, kSessionEndTime, wall_time);
  return HParamsEvent(wall_time, step, kHParamsSessionEndTag, kHParamsSessionEnd, end);
}

std::string FrameRecord(const std::string& data) {
  std::string record;
  PutLittleEndian(record, static_cast<uint64_t>(data.size()));
  PutLittleEndian(record, MaskCrc32c(Crc32c(record.data(), 8)));
  record += data;
  PutLittleEndian(record, MaskCrc32c(Crc32c(data.data(), data.size())));
  return record;
}

absl::StatusOr<std::unique_ptr<EventFileWriter>> EventFileWriter::Create(const std::string& path,
                                                                         double wall_time) {
  absl::StatusOr<std::unique_ptr<WritableFile>> file = Env::Default()->NewWritableFile(path);
  if (!file.ok()) return file.status();
  std::unique_ptr<EventFileWriter> writer(new EventFileWriter(*std::move(file), path));
  if (absl::Status status = writer->Append(EncodeFileVersionEvent(wall_time)); !status.ok()) {
    return status;
  }
  return writer;
}

absl::Status EventFileWriter::Append(const std::string& event) {
  const std::string record = FrameRecord(event);
  return file_->Append(record.data(), record.size());
}

absl::StatusOr<std::vector<std::string>> ReadRecords(const std::string& path,
                                                     bool keep_intact_prefix) {
  absl::StatusOr<std::string> bytes = ReadFileToString(path);
  if (!bytes.ok()) return bytes.status();
  std::vector<std::string> records;
  size_t offset = 0;
  while (offset < bytes->size()) {
    auto bad = [&](const std::string& what) -> absl::StatusOr<std::vector<std::string>> {
      if (keep_intact_prefix) return records;
      return absl::DataLossError(absl::StrCat(path, ": record at offset ", offset, ": ", what));
    };
    if (bytes->size() - offset < 12) return bad("truncated header");
    uint64_t length;
    std::memcpy(&length, bytes->data() + offset, 8);
    if (MaskCrc32c(Crc32c(bytes->data() + offset, 8)) != ReadLittleEndian32(*bytes, offset + 8)) {
      return bad("length checksum mismatch");
    }
    if (length > bytes->size() - offset - 12 || bytes->size() - offset - 12 - length < 4) {
      return bad(absl::StrCat("length ", length, " runs past the end of the file"));
    }
    std::string data = bytes->substr(offset + 12, length);
    if (MaskCrc32c(Crc32c(data.data(), data.size())) !=
        ReadLittleEndian32(*bytes, offset + 12 + length)) {
      return bad("data checksum mismatch");
    }
    records.push_back(std::move(data));
    offset += 16 + length;
  }
  return records;
}

namespace {

// Calls `visit(field, wire type, varint value, length-delimited bytes)` for
// each top-level field of the message `bytes`, until it returns false.
absl::Status VisitFields(
    absl::string_view bytes,
    const std::function<bool(int, int, uint64_t, absl::string_view)>& visit) {
  size_t offset = 0;
  auto varint = [&](uint64_t& value) {
    value = 0;
    for (int shift = 0; shift < 64 && offset < bytes.size(); shift += 7) {
      const auto byte = static_cast<unsigned char>(bytes[offset++]);
      value |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return true;
    }
    return false;
  };
  while (offset < bytes.size()) {
    uint64_t key = 0, value = 0;
    if (!varint(key)) break;
    const int field = static_cast<int>(key >> 3);
    const int wire_type = static_cast<int>(key & 7);
    absl::string_view payload;
    switch (wire_type) {
      case kVarint:
        if (!varint(value)) return absl::DataLossError("malformed event: bad varint");
        break;
      case kFixed64: offset += 8; break;
      case kFixed32: offset += 4; break;
      case kLengthDelimited:
        if (!varint(value) || value > bytes.size() - offset) {
          return absl::DataLossError("malformed event: bad length");
        }
        payload = bytes.substr(offset, value);
        offset += value;
        break;
      default:
        return absl::DataLossError("malformed event: unknown wire type");
    }
    if (offset > bytes.size()) return absl::DataLossError("malformed event: truncated field");
    if (!visit(field, wire_type, value, payload)) return absl::OkStatus();
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<int64_t> EventStep(const std::string& event) {
  int64_t step = 0;
  absl::Status status = VisitFields(event, [&](int field, int wire_type, uint64_t value,
                                               absl::string_view) {
    if (field != kEventStep || wire_type != kVarint) return true;
    step = static_cast<int64_t>(value);
    return false;
  });
  if (!status.ok()) return status;
  return step;
}

absl::StatusOr<std::vector<std::string>> EventSummaryTags(const std::string& event) {
  std::vector<std::string> tags;
  absl::Status status = VisitFields(event, [&](int field, int wire_type, uint64_t,
                                               absl::string_view summary) {
    if (field != kEventSummary || wire_type != kLengthDelimited) return true;
    absl::Status values = VisitFields(summary, [&](int field, int wire_type, uint64_t,
                                                   absl::string_view value) {
      if (field != kSummaryValue || wire_type != kLengthDelimited) return true;
      VisitFields(value, [&](int field, int wire_type, uint64_t, absl::string_view tag) {
        if (field != kValueTag || wire_type != kLengthDelimited) return true;
        tags.emplace_back(tag);
        return false;
      }).IgnoreError();
      return true;
    });
    return values.ok();
  });
  if (!status.ok()) return status;
  return tags;
}

}  // namespace framework
