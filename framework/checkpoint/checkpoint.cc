#include "framework/checkpoint/checkpoint.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <functional>
#include <fstream>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <regex>
#include <set>
#include <string_view>
#include <thread>
#include <tuple>
#include <utility>

#include <simdjson.h>
#include <torch/types.h>
#include <torch/version.h>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_format.h"
#include "framework/core/durable_file.h"
#include "framework/distributed/partition_by_bytes.h"
#include "framework/formats/json_parser_pool.h"
#include "framework/formats/json_string.h"

namespace framework {

CheckpointLine ExtendLine(CheckpointLine line, int64_t sequence) {
  if (!line.empty() && line.back().second + 1 == sequence) {
    line.back().second = sequence;
  } else {
    line.push_back({sequence, sequence});
  }
  return line;
}

bool IsOnLine(const CheckpointLine& line, int64_t sequence) {
  for (const auto& [first, last] : line) {
    if (sequence >= first && sequence <= last) return true;
  }
  return false;
}

namespace {

namespace fs = std::filesystem;

std::string UtcNow() {
  const std::time_t now = std::time(nullptr);
  std::tm utc;
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

absl::Status ManifestError(const std::string& source, const std::string& problem) {
  return absl::DataLossError(absl::StrCat(source, ": ", problem));
}

constexpr char kManifestCrcKey[] = "\"manifest_crc32\": \"";
constexpr char kManifestCrcPlaceholder[] = "00000000";

}  // namespace

absl::Status CheckpointSaveFailed(const std::string& final_dir, const absl::Status& cause) {
  return absl::Status(cause.code(), absl::StrCat("saving checkpoint ", final_dir,
                                                 " failed (earlier checkpoints are intact): ",
                                                 cause.message()));
}

std::string CheckpointTensorFileName(const std::string& role, int64_t rank, int64_t world_size) {
  if (world_size <= 1) return absl::StrCat(role, ".safetensors");
  return absl::StrFormat("%s-%05d-of-%05d.safetensors", role, rank, world_size);
}

bool IsCheckpointTensorFileName(const std::string& name) {
  static const std::regex pattern(R"((model|state)(-\d{5,}-of-\d{5,})?\.safetensors)");
  return std::regex_match(name, pattern);
}

bool IsCheckpointModelFile(const std::string& name) {
  return IsCheckpointTensorFileName(name) && absl::StartsWith(name, "model");
}

TrainingState CheckpointShareOf(const TrainingState& state, int64_t rank, int64_t world_size) {
  if (world_size <= 1) return state;
  // The replicated tensors, dealt out to the ranks by bytes: every rank
  // computes the same plan from the same names and sizes.
  // A sharded optimizer's state is the rank's own: not dealt out.
  std::vector<const std::vector<NamedTensor>*> replicated = {&state.model,
                                                             &state.callback_tensors};
  if (!state.optimizer_sharded) replicated.push_back(&state.optimizer);
  std::vector<PartitionItem> items;
  for (const std::vector<NamedTensor>* group : replicated) {
    for (const NamedTensor& named : *group) {
      items.push_back({named.name, static_cast<int64_t>(named.tensor.nbytes())});
    }
  }
  const std::vector<int64_t> owner = PartitionByBytes(items, world_size);
  TrainingState share = state;
  std::vector<std::vector<NamedTensor>*> dealt = {&share.model, &share.callback_tensors};
  if (!state.optimizer_sharded) dealt.push_back(&share.optimizer);
  size_t next = 0;
  for (std::vector<NamedTensor>* group : dealt) {
    std::vector<NamedTensor> mine;
    for (NamedTensor& named : *group) {
      if (owner[next++] == rank) mine.push_back(std::move(named));
    }
    *group = std::move(mine);
  }
  if (rank != 0) share.rng.clear();
  return share;
}

absl::StatusOr<CheckpointShare> WriteCheckpointShare(const std::string& dir,
                                                     const TrainingState& state, int64_t rank,
                                                     int64_t world_size,
                                                     const WriteOptions& options) {
  std::vector<NamedTensor> rest = state.optimizer;
  rest.insert(rest.end(), state.callback_tensors.begin(), state.callback_tensors.end());
  rest.insert(rest.end(), state.rng.begin(), state.rng.end());

  CheckpointShare share;
  share.rank = rank;
  share.optimizer_parameters_with_state = state.optimizer_parameters_with_state;
  const ChecksumKind checksum = ChecksumKind::kXxh3;
  auto write_file = [&](const std::string& role, const std::vector<NamedTensor>& tensors,
                        const std::map<std::string, std::string>& metadata) -> absl::Status {
    const std::string file = CheckpointTensorFileName(role, rank, world_size);
    // The records are made while the file's last bytes are written and
    // synced; a failed write discards them with the share.
    auto record = [&](const SafetensorsChecksums& sums) {
      share.files[file] = {rank, sums.file_bytes};
      share.file_headers[file] = sums.header;
      // One device and dtype string per device and dtype, not per tensor.
      c10::Device last_device = c10::kCPU;
      std::string last_device_name = last_device.str();
      c10::ScalarType last_dtype = c10::kFloat;
      std::string last_dtype_name = *SafetensorsDtypeName(last_dtype);
      for (const NamedTensor& named : tensors) {
        TensorRecord& entry = share.tensors.Add(named.name, file);
        if (named.tensor.scalar_type() != last_dtype) {
          last_dtype = named.tensor.scalar_type();
          last_dtype_name = *SafetensorsDtypeName(last_dtype);
        }
        entry.dtype = last_dtype_name;
        entry.shape.assign(named.tensor.sizes().begin(), named.tensor.sizes().end());
        if (named.tensor.device() != last_device) {
          last_device = named.tensor.device();
          last_device_name = last_device.str();
        }
        entry.device = last_device_name;
        entry.checksum = sums.tensors.at(named.name);
      }
    };
    absl::StatusOr<SafetensorsChecksums> sums =
        WriteSafetensors(dir + "/" + file, tensors, metadata, options.fsync, checksum, record);
    if (!sums.ok()) return sums.status();
    return absl::OkStatus();
  };
  const std::map<std::string, std::string> model_metadata = {
      {"format", "torchtrain.model"},
      {"format_version", std::to_string(kCheckpointFormatVersion)},
      {"model_spec", state.model_spec.ToJson().dump()}};
  if (absl::Status s = write_file("model", state.model, model_metadata); !s.ok()) return s;
  if (absl::Status s = write_file("state", rest, {{"format", "torchtrain.state"}}); !s.ok()) {
    return s;
  }
  if (absl::Status s = share.tensors.SortByName(); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(dir, ": rank ", rank, "'s share: ", s.message()));
  }
  return share;
}

namespace {

// Every rank's parameters with optimizer state (with a sharded optimizer
// each lists its own), in the optimizer's order: by group, then index.
std::vector<std::string> UnionOfParametersWithState(const std::vector<std::string>& own,
                                                    const std::vector<CheckpointShare>& shares) {
  std::set<std::tuple<int64_t, int64_t, std::string>> ordered;
  auto add = [&](const std::string& id) {
    int64_t group = -1, index = -1;
    // Ids are "<group>.<index>"; another shape sorts first, as it is.
    if (std::sscanf(id.c_str(), "%" SCNd64 ".%" SCNd64, &group, &index) != 2) group = index = -1;
    ordered.emplace(group, index, id);
  };
  for (const std::string& id : own) add(id);
  for (const CheckpointShare& share : shares) {
    for (const std::string& id : share.optimizer_parameters_with_state) add(id);
  }
  std::vector<std::string> ids;
  for (const auto& [group, index, id] : ordered) ids.push_back(id);
  return ids;
}

absl::Status WriteManifest(const std::string& dir, const TrainingState& state,
                           std::vector<CheckpointShare> shares, const WriteOptions& options) {
  CheckpointManifest manifest;
  manifest.format_version = kCheckpointFormatVersion;
  manifest.torch_version = TORCH_VERSION;
  manifest.created = UtcNow();
  manifest.model_spec = state.model_spec;
  manifest.position = state.position;
  manifest.history = state.history;
  manifest.scheduler = state.scheduler;
  manifest.callbacks = state.callbacks;
  manifest.loss_scaler = state.loss_scaler;
  manifest.optimizer_parameters_with_state =
      UnionOfParametersWithState(state.optimizer_parameters_with_state, shares);
  manifest.commit_sequence = state.commit_sequence;
  manifest.world_size = state.world_size;
  manifest.parent = state.parent;
  manifest.line = state.line;
  manifest.flags = state.flags;
  manifest.checksum = ChecksumKind::kXxh3;
  for (CheckpointShare& share : shares) {
    for (const auto& [file, record] : share.files) {
      if (!manifest.files.emplace(file, record).second) {
        return absl::InternalError(absl::StrCat("file ", file, " in two ranks' shares"));
      }
    }
    manifest.file_headers.insert(share.file_headers.begin(), share.file_headers.end());
    // The shares' records move in whole (10,000 tensors: no record copied).
    manifest.tensors.Merge(std::move(share.tensors));
  }
  if (absl::Status s = manifest.tensors.SortByName(); !s.ok()) {
    return absl::InternalError(absl::StrCat(s.message(), " in two ranks' shares"));
  }
  absl::StatusOr<std::string> text = manifest.ToText();
  if (!text.ok()) return text.status();
  const std::string manifest_text = SealManifestText(*std::move(text));
  if (absl::Status s = WriteStringToFile(dir + "/" + kCheckpointManifest, manifest_text,
                                         options.fsync);
      !s.ok()) {
    return s;
  }
  if (options.fsync) return Env::Default()->SyncDirectory(dir);
  return absl::OkStatus();
}

}  // namespace

namespace {

// The "files" object of a manifest or a share report.
nlohmann::json FilesJson(const std::map<std::string, CheckpointManifest::FileRecord>& files) {
  nlohmann::json json = nlohmann::json::object();
  for (const auto& [file, record] : files) {
    json[file] = {{"rank", record.rank}, {"bytes", record.bytes}};
  }
  return json;
}

// Reads FilesJson's object (nlohmann-json exceptions for a wrong shape);
// an error for a name that is not a checkpoint file's.
absl::StatusOr<std::map<std::string, CheckpointManifest::FileRecord>> ParseFiles(
    const nlohmann::json& json, const std::string& source) {
  std::map<std::string, CheckpointManifest::FileRecord> files;
  for (const auto& [file, record] : json.items()) {
    if (!IsCheckpointTensorFileName(file)) {
      return ManifestError(source, absl::StrCat("'", file, "' is not a checkpoint file name"));
    }
    files[file] = {record.at("rank").get<int64_t>(), record.at("bytes").get<uint64_t>()};
  }
  return files;
}

// The "tensors" object of a manifest or a share report, one record a line,
// printed directly (thousands of records: no document node per value).
absl::Status AppendTensorRecords(const TensorRecords& tensors, ChecksumKind checksum,
                                 int format_version, std::string* text) {
  if (!tensors.sorted()) return absl::InternalError("tensor records printed before SortByName");
  text->reserve(text->size() + tensors.size() * 160);
  *text += "{";
  bool first = true;
  for (const auto& [name, t] : tensors) {
    *text += first ? "\n  " : ",\n  ";
    first = false;
    if (absl::Status s = AppendJsonString(name, text); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("tensor name: ", s.message()));
    }
    absl::StrAppend(text, ": {\"file\": \"", tensors.file(t), "\", \"dtype\": \"", t.dtype,
                    "\", \"shape\": [", absl::StrJoin(t.shape, ", "), "], \"device\": \"",
                    t.device, "\", \"", ChecksumName(checksum), "\": ");
    if (format_version <= 2) {
      absl::StrAppend(text, t.checksum, "}");
    } else {
      absl::StrAppend(text, "\"", FormatChecksum(checksum, t.checksum), "\"}");
    }
  }
  *text += "\n }";
  return absl::OkStatus();
}

// Parses the records AppendTensorRecords printed; each file must be one of
// `files`.
absl::Status ParseTensorRecords(
    simdjson::dom::object records, ChecksumKind checksum, int format_version,
    const std::set<std::string>& files, const std::string& source, TensorRecords* tensors) {
  tensors->reserve(records.size());
  std::string_view known_file;
  const std::string checksum_key = ChecksumName(checksum);
  for (const simdjson::dom::key_value_pair entry : records) {
    const std::string_view name = entry.key;
    // Built only for an error: a manifest lists thousands of tensors.
    auto what = [&name] { return absl::StrCat("tensor '", std::string(name), "'"); };
    simdjson::dom::object record;
    std::string_view file, dtype, device;
    simdjson::dom::array shape;
    simdjson::dom::element checksum_value;
    if (entry.value.get_object().get(record) != simdjson::SUCCESS ||
        record["file"].get_string().get(file) != simdjson::SUCCESS ||
        record["dtype"].get_string().get(dtype) != simdjson::SUCCESS ||
        record["shape"].get_array().get(shape) != simdjson::SUCCESS ||
        record["device"].get_string().get(device) != simdjson::SUCCESS ||
        record[checksum_key].get(checksum_value) != simdjson::SUCCESS) {
      return ManifestError(source, absl::StrCat(what(), " needs file, dtype, shape, device and ",
                                                checksum_key));
    }
    // A file's records come in runs: its name is looked up once a run.
    if (file != known_file) {
      if (files.count(std::string(file)) == 0) {
        return ManifestError(source, absl::StrCat(what(), " in unknown file ", std::string(file)));
      }
      known_file = file;
    }
    TensorRecord& t = tensors->Add(std::string(name), file);
    t.dtype = std::string(dtype);
    t.device = std::string(device);
    t.shape.reserve(shape.size());
    for (const simdjson::dom::element dim : shape) {
      int64_t d = 0;
      if (dim.get_int64().get(d) != simdjson::SUCCESS) {
        return ManifestError(source, absl::StrCat(what(), ": bad shape ", simdjson::minify(shape)));
      }
      t.shape.push_back(d);
    }
    if (format_version <= 2) {
      uint64_t value = 0;
      if (checksum_value.get_uint64().get(value) != simdjson::SUCCESS || value > UINT32_MAX) {
        return ManifestError(source, absl::StrCat("bad ", checksum_key, " of ", what(), ": ",
                                                  simdjson::minify(checksum_value)));
      }
      t.checksum = value;
    } else {
      std::string_view hex;
      std::optional<uint64_t> value;
      if (checksum_value.get_string().get(hex) == simdjson::SUCCESS) {
        value = ParseChecksum(checksum, hex);
      }
      if (!value.has_value()) {
        return ManifestError(source, absl::StrCat("bad ", checksum_key, " of ", what(), ": ",
                                                  simdjson::minify(checksum_value)));
      }
      t.checksum = *value;
    }
  }
  // Printed in name order, so normally nothing to sort (any order is still
  // accepted).
  if (absl::Status s = tensors->SortByName(); !s.ok()) {
    return ManifestError(source, std::string(s.message()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> CheckpointManifest::ToText() const {
  nlohmann::json history_json = nlohmann::json::array();
  for (const EpochRecord& record : history) history_json.push_back(record.ToJson());
  // Checksums as numbers up to version 2, as hexadecimal strings (64 bits
  // survive every JSON reader) from version 3.
  auto checksum_json = [this](uint64_t value) -> nlohmann::json {
    if (format_version <= 2) return value;
    return FormatChecksum(checksum, value);
  };
  nlohmann::json headers_json = nlohmann::json::object();
  for (const auto& [file, value] : file_headers) headers_json[file] = checksum_json(value);
  nlohmann::json json = {{"format", "torchtrain.checkpoint"},
          {"format_version", format_version},
          {"torch_version", torch_version},
          {"created", created},
          {"model_spec", model_spec.ToJson()},
          {"position", position.ToJson()},
          {"history", history_json},
          {"scheduler", scheduler},
          {"optimizer_parameters_with_state", optimizer_parameters_with_state},
          {"flags", flags},
          {"commit_sequence", commit_sequence},
          {"world_size", world_size},
          {"parent", parent},
          {"line", line},
          {"checksum", ChecksumName(checksum)},
          {"file_headers", headers_json},
          {"manifest_crc32", kManifestCrcPlaceholder}};
  // Only when there are any, so a run without callbacks writes what earlier
  // versions wrote.
  if (!callbacks.empty()) json["callbacks"] = callbacks;
  if (!loss_scaler.is_null()) json["loss_scaler"] = loss_scaler;
  if (format_version >= 4) json["files"] = FilesJson(files);
  std::string text = json.dump(1);
  // The tensors' records close the object, printed one line each.
  text.pop_back();  // "}"
  text += ",\n \"tensors\": ";
  if (absl::Status s = AppendTensorRecords(tensors, checksum, format_version, &text); !s.ok()) {
    return s;
  }
  text += "\n}\n";
  return text;
}

namespace {

// The manifest's fields but "tensors" as a nlohmann-json object (they are
// few and small), and its "tensors" object as simdjson parsed it.
struct ParsedManifest {
  nlohmann::json fields = nlohmann::json::object();
  std::optional<simdjson::dom::object> tensors;
};

absl::StatusOr<ParsedManifest> ParseManifestText(const std::string& text,
                                                 simdjson::dom::parser& parser,
                                                 const std::string& source) {
  simdjson::dom::element document;
  if (parser.parse(text).get(document) != simdjson::SUCCESS) {
    return ManifestError(source, "not valid JSON (truncated or corrupt)");
  }
  simdjson::dom::object object;
  if (document.get_object().get(object) != simdjson::SUCCESS) {
    return ManifestError(source, "not a torchtrain checkpoint manifest");
  }
  ParsedManifest parsed;
  for (const simdjson::dom::key_value_pair field : object) {
    const std::string key(field.key);
    if (key == "tensors") {
      simdjson::dom::object tensors;
      if (field.value.get_object().get(tensors) != simdjson::SUCCESS) {
        return ManifestError(source, "\"tensors\" is not an object");
      }
      parsed.tensors = tensors;
      continue;
    }
    parsed.fields[key] = nlohmann::json::parse(simdjson::minify(field.value));
  }
  return parsed;
}

absl::StatusOr<CheckpointManifest> ManifestFromParsed(const ParsedManifest* parsed,
                                                     const std::string& source,
                                                     ManifestContents contents) {
  CheckpointManifest manifest;
  const nlohmann::json& json = parsed->fields;
  try {
    if (json.value("format", "") != "torchtrain.checkpoint") {
      return ManifestError(source, "not a torchtrain checkpoint manifest");
    }
    manifest.format_version = json.at("format_version").get<int>();
    if (manifest.format_version > kCheckpointFormatVersion) {
      return absl::FailedPreconditionError(absl::StrCat(
          source, ": checkpoint format version ", manifest.format_version,
          " is newer than this build reads (", kCheckpointFormatVersion,
          "); use a newer build of the framework"));
    }
    manifest.torch_version = json.at("torch_version").get<std::string>();
    manifest.created = json.at("created").get<std::string>();
    absl::StatusOr<ModelSpec> spec = ModelSpec::FromJson(json.at("model_spec"));
    if (!spec.ok()) return ManifestError(source, std::string(spec.status().message()));
    manifest.model_spec = *spec;
    absl::StatusOr<LoopPosition> position = LoopPosition::FromJson(json.at("position"));
    if (!position.ok()) return ManifestError(source, std::string(position.status().message()));
    manifest.position = *position;
    for (const nlohmann::json& line : json.at("history")) {
      absl::StatusOr<EpochRecord> record = EpochRecord::FromJson(line);
      if (!record.ok()) return ManifestError(source, std::string(record.status().message()));
      manifest.history.push_back(*record);
    }
    manifest.scheduler = json.at("scheduler");
    manifest.loss_scaler = json.value("loss_scaler", nlohmann::json());
    if (json.contains("callbacks")) {
      manifest.callbacks = json.at("callbacks").get<std::map<std::string, nlohmann::json>>();
    }
    manifest.optimizer_parameters_with_state =
        json.at("optimizer_parameters_with_state").get<std::vector<std::string>>();
    manifest.flags = json.at("flags").get<std::map<std::string, std::string>>();
    // Absent from checkpoints written before lineage was recorded.
    manifest.commit_sequence = json.value("commit_sequence", int64_t{0});
    manifest.world_size = json.value("world_size", int64_t{1});
    manifest.parent = json.value("parent", std::string());
    if (json.contains("line")) manifest.line = json.at("line").get<CheckpointLine>();
    manifest.checksum = manifest.format_version >= 3 ? ChecksumKind::kXxh3 : ChecksumKind::kCrc32;
    if (manifest.format_version >= 3 && json.at("checksum") != ChecksumName(manifest.checksum)) {
      return ManifestError(source, absl::StrCat("unknown checksum ", json.at("checksum").dump()));
    }
    // A number (version 2) or a hexadecimal string (version 3 on).
    auto checksum_of = [&](const nlohmann::json& value,
                           const std::string& what) -> absl::StatusOr<uint64_t> {
      if (manifest.format_version <= 2) return value.get<uint32_t>();
      std::optional<uint64_t> parsed =
          value.is_string() ? ParseChecksum(manifest.checksum, value.get<std::string>())
                            : std::nullopt;
      if (!parsed.has_value()) {
        return ManifestError(source, absl::StrCat("bad ", ChecksumName(manifest.checksum), " of ",
                                                  what, ": ", value.dump()));
      }
      return *parsed;
    };
    if (manifest.format_version >= 2) {
      for (auto it = json.at("file_headers").begin(); it != json.at("file_headers").end(); ++it) {
        absl::StatusOr<uint64_t> value = checksum_of(*it, it.key());
        if (!value.ok()) return value.status();
        manifest.file_headers[it.key()] = *value;
      }
    }
    // Version 4 on: every tensor file and the rank that wrote it.
    if (manifest.format_version >= 4) {
      absl::StatusOr<std::map<std::string, CheckpointManifest::FileRecord>> files =
          ParseFiles(json.at("files"), source);
      if (!files.ok()) return files.status();
      manifest.files = *std::move(files);
    } else {
      manifest.files = {{kCheckpointModelFile, {0, 0}}, {kCheckpointStateFile, {0, 0}}};
    }
    if (!parsed->tensors.has_value()) return ManifestError(source, "no \"tensors\"");
    if (contents == ManifestContents::kWithoutTensors) return manifest;
    std::set<std::string> files;
    for (const auto& [file, record] : manifest.files) files.insert(file);
    if (absl::Status s = ParseTensorRecords(*parsed->tensors, manifest.checksum,
                                            manifest.format_version, files, source,
                                            &manifest.tensors);
        !s.ok()) {
      return s;
    }
  } catch (const nlohmann::json::exception& e) {
    return ManifestError(source, absl::StrCat("bad checkpoint manifest: ", e.what()));
  }
  return manifest;
}

}  // namespace

absl::StatusOr<CheckpointManifest> CheckpointManifest::FromText(const std::string& text,
                                                               const std::string& source,
                                                               ManifestContents contents) {
  JsonParserPool::Lease parser = JsonParserPool::Default().Acquire();
  absl::StatusOr<ParsedManifest> parsed = ParseManifestText(text, *parser, source);
  if (!parsed.ok()) return parsed.status();
  return ManifestFromParsed(&*parsed, source, contents);
}

std::string CallbackTensorPrefix(const std::string& callback) {
  return absl::StrCat(kCheckpointCallbackTensorPrefix, callback, ".");
}

std::string RankGeneratorTensor(int64_t rank) {
  return rank == 0 ? std::string(kCpuGeneratorTensor)
                   : absl::StrCat(kCpuGeneratorTensor, ".rank", rank);
}

std::string CheckpointName(int64_t step, int generation) {
  std::string name = absl::StrFormat("step-%010d", step);
  if (generation > 0) absl::StrAppend(&name, ".", generation);
  return name;
}

std::optional<std::pair<int64_t, int>> ParseCheckpointName(const std::string& name) {
  static const std::regex pattern(R"(step-(\d{10,})(?:\.(\d+))?)");
  std::smatch match;
  if (!std::regex_match(name, match, pattern)) return std::nullopt;
  return std::make_pair(std::stoll(match[1].str()),
                        match[2].matched ? std::stoi(match[2].str()) : 0);
}

namespace {
constexpr char kTemporaryPrefix[] = ".tmp-";
constexpr char kDoomedPrefix[] = ".tmp-deleting-";
}  // namespace

std::string TemporaryCheckpointPath(const std::string& final_dir) {
  const fs::path final_path(final_dir);
  return (final_path.parent_path() /
          absl::StrCat(kTemporaryPrefix, final_path.filename().string(), "-", getpid()))
      .string();
}

std::string DoomedCheckpointName(const std::string& name) {
  return absl::StrCat(kDoomedPrefix, name);
}

bool IsLeftoverCheckpointName(const std::string& name) {
  return name.rfind(absl::StrCat(kTemporaryPrefix, "step-"), 0) == 0 ||
         name.rfind(kDoomedPrefix, 0) == 0;
}

absl::Status WriteCheckpoint(const std::string& final_dir, const TrainingState& state,
                             const WriteOptions& options) {
  std::error_code error;
  if (fs::exists(fs::path(final_dir), error)) {
    return absl::AlreadyExistsError(absl::StrCat("checkpoint ", final_dir, " already exists"));
  }
  const std::string tmp = TemporaryCheckpointPath(final_dir);
  Env& env = *Env::Default();
  absl::Status status = env.RemoveTree(tmp);
  if (status.ok()) status = env.CreateDirectories(tmp);
  absl::StatusOr<CheckpointShare> share =
      status.ok() ? WriteCheckpointShare(tmp, state, 0, 1, options)
                  : absl::StatusOr<CheckpointShare>(status);
  if (!share.ok()) {
    (void)env.RemoveTree(tmp);
    return CheckpointSaveFailed(final_dir, share.status());
  }
  std::vector<CheckpointShare> shares;
  shares.push_back(*std::move(share));
  return CommitCheckpointShares(tmp, final_dir, state, std::move(shares), options);
}

absl::Status CommitCheckpointShares(const std::string& dir, const std::string& final_dir,
                                    const TrainingState& state,
                                    std::vector<CheckpointShare> shares,
                                    const WriteOptions& options) {
  const fs::path final_path(final_dir);
  Env& env = *Env::Default();
  std::error_code error;
  absl::Status status =
      fs::exists(final_path, error)
          ? absl::AlreadyExistsError(absl::StrCat("checkpoint ", final_dir, " already exists"))
          : absl::OkStatus();
  if (status.ok()) status = WriteManifest(dir, state, std::move(shares), options);
  if (status.ok()) status = RenameDurably(dir, final_dir, /*sync=*/false);
  if (status.ok() && options.fsync) {
    // The commit is durable only once the parent directory is synced; if
    // that fails the checkpoint is withdrawn, so that a checkpoint name never
    // stands for a save that reported failure.
    status = env.SyncDirectory(final_path.parent_path().string());
    if (!status.ok()) (void)env.RenameFile(final_dir, dir);
  }
  if (!status.ok()) {
    (void)env.RemoveTree(dir);
    return CheckpointSaveFailed(final_dir, status);
  }
  return absl::OkStatus();
}

absl::StatusOr<CheckpointManifest> ReadCheckpointManifest(const std::string& dir,
                                                          ManifestContents contents) {
  const std::string path = dir + "/" + kCheckpointManifest;
  absl::StatusOr<std::string> text = ReadFileToString(path);
  if (!text.ok()) {
    std::error_code error;
    if (fs::is_directory(dir, error)) {
      return absl::DataLossError(absl::StrCat(dir, ": incomplete checkpoint (no ",
                                              kCheckpointManifest, ")"));
    }
    return text.status();
  }
  // Newer versions are refused when read; from version 2 on, every byte of
  // the manifest is checked before any of it is believed.
  text->reserve(text->size() + simdjson::SIMDJSON_PADDING);  // parsed in place
  JsonParserPool::Lease parser = JsonParserPool::Default().Acquire();  // (its pages are warm)
  absl::StatusOr<ParsedManifest> parsed = ParseManifestText(*text, *parser, path);
  if (!parsed.ok()) return parsed.status();
  const nlohmann::json version = parsed->fields.value("format_version", nlohmann::json());
  if (version.is_number_integer() && version.get<int64_t>() >= 2 &&
      version.get<int64_t>() <= kCheckpointFormatVersion) {
    const size_t at = text->find(kManifestCrcKey);
    const size_t value = at + std::strlen(kManifestCrcKey);
    if (at == std::string::npos || text->size() < value + 8) {
      return ManifestError(path, "no manifest checksum (manifest_crc32)");
    }
    if (SealManifestText(*text) != *text) {
      return ManifestError(path, "manifest checksum mismatch: the file changed after it was written");
    }
  }
  return ManifestFromParsed(&*parsed, path, contents);
}

std::string SealManifestText(std::string text) {
  const size_t at = text.find(kManifestCrcKey);
  if (at == std::string::npos) return text;
  const size_t value = at + std::strlen(kManifestCrcKey);
  if (text.size() < value + 8) return text;
  text.replace(value, 8, kManifestCrcPlaceholder);
  const uint64_t crc = Checksum(ChecksumKind::kCrc32, text.data(), text.size());
  text.replace(value, 8, absl::StrFormat("%08x", crc));
  return text;
}

namespace {

// The model's files of a checkpoint, read straight into the model on a
// thread of their own while the caller parses the manifest that holds their
// checksums (10,000 records take milliseconds during which the device would
// otherwise sit idle); their checksums are compared once it is parsed. Each
// file's header is handed over as soon as it is read, before its data, so
// that the caller matches its tensors to their records meanwhile.
class EarlyModelRead {
 public:
  EarlyModelRead(const std::string& dir, const TensorDestinations* destinations) {
    std::error_code error;
    for (const auto& entry : fs::directory_iterator(dir, error)) {
      const std::string name = entry.path().filename().string();
      if (IsCheckpointModelFile(name)) files_.push_back(name);
    }
    std::sort(files_.begin(), files_.end());
    // Sized once: the reader fills them in place while the caller looks.
    opened_.resize(files_.size());  // (a default StatusOr is an error)
    contents_.resize(files_.size(), absl::UnknownError("not read"));
    reader_ = std::thread([this, dir, destinations] {
      for (size_t i = 0; i < files_.size(); ++i) {
        absl::StatusOr<OpenedSafetensors> opened =
            OpenSafetensors(dir + "/" + files_[i], kChecksum);
        {
          std::lock_guard<std::mutex> lock(mutex_);
          opened_[i] = std::move(opened);
          headers_read_ = i + 1;
        }
        header_read_.notify_all();
        if (!opened_[i].ok()) {
          contents_[i] = opened_[i].status();
          continue;
        }
        SafetensorsReadOptions options;
        options.checksum = kChecksum;
        options.destinations = destinations;
        contents_[i] = ReadSafetensorsData(*opened_[i], options);
      }
    });
  }
  ~EarlyModelRead() { Wait(); }

  // Waits for the header of `file`; its entries (data order), or null where
  // the file is not read here or its header could not be read (Take() says
  // why). They stay valid until this object is destroyed.
  const std::vector<SafetensorsEntry>* Entries(const std::string& file, ChecksumKind checksum) {
    const std::optional<size_t> i = IndexOf(file, checksum);
    if (!i.has_value()) return nullptr;
    std::unique_lock<std::mutex> lock(mutex_);
    header_read_.wait(lock, [&] { return headers_read_ > *i; });
    return opened_[*i].ok() ? &opened_[*i]->header.entries : nullptr;
  }

  // Waits for the reads; what was read of `file` (with its header) with
  // checksums of kind `checksum`, or null (then the caller reads it itself).
  absl::StatusOr<SafetensorsContents>* Take(const std::string& file, ChecksumKind checksum) {
    Wait();
    const std::optional<size_t> i = IndexOf(file, checksum);
    if (!i.has_value()) return nullptr;
    absl::StatusOr<SafetensorsContents>& contents = contents_[*i];
    // (Moving the vector leaves its entries where Entries() showed them.)
    if (contents.ok() && opened_[*i].ok()) contents->header = std::move(opened_[*i]->header);
    return &contents;
  }

 private:
  // What the current format version writes.
  static constexpr ChecksumKind kChecksum = ChecksumKind::kXxh3;

  std::optional<size_t> IndexOf(const std::string& file, ChecksumKind checksum) const {
    if (checksum != kChecksum) return std::nullopt;
    auto it = std::lower_bound(files_.begin(), files_.end(), file);
    if (it == files_.end() || *it != file) return std::nullopt;
    return static_cast<size_t>(it - files_.begin());
  }

  void Wait() {
    if (reader_.joinable()) reader_.join();
  }

  std::vector<std::string> files_;
  std::mutex mutex_;
  std::condition_variable header_read_;
  size_t headers_read_ = 0;  // guarded by mutex_
  std::vector<absl::StatusOr<OpenedSafetensors>> opened_;
  std::vector<absl::StatusOr<SafetensorsContents>> contents_;
  std::thread reader_;
};

// A tensor read and checked against its manifest record.
struct VerifiedTensor {
  const TensorRecord* record;
  // The record's place in the manifest, which lists tensors by name: the
  // read state is put in name order by it, without comparing names.
  size_t order;
  bool in_model_file;
  NamedTensor named;
};

// What the manifest says of one tensor file's tensors: their checksums (as
// the safetensors reader checks them) and, by name, their records with each
// record's place in the manifest. Built before the file's own reads are
// waited for, so that matching 10,000 tensors to their records costs a hash
// lookup each after the read, not a walk of the manifest's ordered map.
struct RecordPlace {
  const TensorRecord* record;
  size_t order;  // in the manifest
};
struct FileExpectations {
  TensorChecksums checksums;
  absl::flat_hash_map<std::string_view, RecordPlace> records;
};

// Each of a file's entries' record (in the entries' order) if the file
// holds exactly the recorded tensors, each of its recorded dtype and shape;
// empty otherwise (the checks after the read then say what differs). The
// header's names are distinct (its reader refuses a repeated one), so as
// many found as recorded means none recorded is missing. Made while the
// file's data is still being read: what it checks here is not looked at
// again, in 10,000 tensors' memory, after the read.
std::vector<const RecordPlace*> RecordsOf(const std::vector<SafetensorsEntry>& entries,
                                          const FileExpectations& expectations) {
  if (entries.size() != expectations.records.size()) return {};
  std::vector<const RecordPlace*> places(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    const SafetensorsEntry& entry = entries[i];
    auto found = expectations.records.find(entry.name);
    if (found == expectations.records.end()) return {};
    const TensorRecord& record = *found->second.record;
    if (entry.dtype != record.dtype || entry.shape != record.shape) return {};
    places[i] = &found->second;
  }
  return places;
}

// Whether a file read whole before its checksums were known matches them:
// the header's checksum and each tensor's against its record (`places`, from
// RecordsOf). A comparison per tensor, where CheckSafetensorsChecksums
// (which names what differs) makes three lookups.
bool ChecksumsMatch(const SafetensorsContents& contents,
                    const std::vector<const RecordPlace*>& places,
                    const SafetensorsReadOptions& options) {
  const std::vector<SafetensorsEntry>& entries = contents.header.entries;
  if ((options.expected_header != nullptr && *options.expected_header != contents.header_checksum) ||
      places.size() != entries.size() || contents.tensors.size() != entries.size() ||
      contents.entry_checksums.size() != entries.size()) {
    return false;
  }
  for (size_t i = 0; i < entries.size(); ++i) {
    if (!contents.entry_checksums[i].has_value() ||
        *contents.entry_checksums[i] != places[i]->record->checksum) {
      return false;
    }
  }
  return true;
}

// Reads every tensor file, checking it against the manifest; the tensors
// come file by file, in each file's order.
absl::StatusOr<std::vector<VerifiedTensor>> ReadVerifiedTensors(
    const std::string& dir, const CheckpointManifest& manifest,
    const TensorDestinations* model_destinations = nullptr,
    const std::function<bool(const std::string& name)>& wanted_state = nullptr,
    bool verify_unwanted = false, EarlyModelRead* early = nullptr) {
  std::vector<VerifiedTensor> tensors;
  tensors.reserve(manifest.tensors.size());
  std::map<std::string, FileExpectations> expected_by_file;
  for (const auto& [file, record] : manifest.files) expected_by_file[file];
  if (expected_by_file.size() == 1) {
    expected_by_file.begin()->second.checksums.reserve(manifest.tensors.size());
    expected_by_file.begin()->second.records.reserve(manifest.tensors.size());
  }
  {
    // (The records name their files by index.)
    std::vector<FileExpectations*> by_index;
    for (const std::string& file : manifest.tensors.files()) {
      by_index.push_back(&expected_by_file[file]);
    }
    size_t order = 0;
    for (const auto& [name, record] : manifest.tensors) {
      FileExpectations& expected = *by_index[record.file];
      expected.checksums.emplace(name, record.checksum);
      expected.records.emplace(name, RecordPlace{&record, order++});
    }
  }
  // The files being read early come last: the others are read while those
  // reads finish.
  // Each file's entry, and whether it is a model file (a regex match: once
  // per file).
  std::vector<std::pair<const std::pair<const std::string, FileExpectations>*, bool>> files;
  for (const auto& entry : expected_by_file) {
    files.push_back({&entry, IsCheckpointModelFile(entry.first)});
  }
  std::stable_partition(files.begin(), files.end(), [&](const auto& file) {
    return early == nullptr || !file.second;
  });
  for (const auto& [entry, model_file] : files) {
    const auto& [file, expectations] = *entry;
    const TensorChecksums& expected = expectations.checksums;
    const std::string path = dir + "/" + file;
    SafetensorsReadOptions options;
    options.checksum = manifest.checksum;
    options.expected = &expected;
    if (manifest.format_version >= 2) {
      auto expected_header = manifest.file_headers.find(file);
      if (expected_header == manifest.file_headers.end()) {
        return absl::DataLossError(absl::StrCat(dir, "/", kCheckpointManifest,
                                                ": no header checksum for ", file));
      }
      options.expected_header = &expected_header->second;
    }
    if (model_file) options.destinations = model_destinations;
    std::error_code type_error;
    if (!fs::is_regular_file(path, type_error)) {
      return absl::DataLossError(absl::StrCat(path, ": missing or not a regular file"));
    }
    if (wanted_state && !model_file) {
      bool any = false;
      for (const auto& [name, checksum] : expected) any = any || wanted_state(name);
      if (!any && !verify_unwanted) continue;  // not even its header is needed
      options.wanted = wanted_state;
      options.verify_unwanted = verify_unwanted;
    }
    absl::StatusOr<SafetensorsContents> contents = absl::UnknownError("not read");
    // Each tensor's record, found while the data of a file read early was
    // still being read.
    std::vector<const RecordPlace*> places;
    if (early != nullptr && model_file) {
      if (const std::vector<SafetensorsEntry>* entries = early->Entries(file, manifest.checksum)) {
        places = RecordsOf(*entries, expectations);
      }
    }
    absl::StatusOr<SafetensorsContents>* read_early =
        early != nullptr && model_file ? early->Take(file, manifest.checksum) : nullptr;
    if (read_early != nullptr) {
      contents = std::move(*read_early);
      if (contents.ok() && !ChecksumsMatch(*contents, places, options)) {
        // Something differs: the reader's own check names it, in the words
        // of a check made during the read.
        if (absl::Status s = CheckSafetensorsChecksums(path, *contents, options); !s.ok()) {
          return s;
        }
        if (!places.empty()) {
          return absl::InternalError(absl::StrCat(path, ": checksums disagree on a second look"));
        }
        // The records were not matched early (a tensor's dtype or shape is
        // not its record's): the checks below say which.
      }
    } else {
      contents = ReadSafetensors(path, options);
    }
    if (!contents.ok()) return contents.status();
    // The records of one file come in a few dtypes: each dtype's name is
    // looked up once, not per tensor.
    c10::ScalarType last_dtype = c10::ScalarType::Undefined;
    std::string last_dtype_name;
    for (size_t i = 0; i < contents->tensors.size(); ++i) {
      NamedTensor& named = contents->tensors[i];
      if (!places.empty()) {
        // Its dtype and shape are its header entry's, checked by RecordsOf.
        tensors.push_back({places[i]->record, places[i]->order, model_file, std::move(named)});
        continue;
      }
      auto found = expectations.records.find(named.name);
      if (found == expectations.records.end()) {  // the reader checked this; kept for safety
        return absl::DataLossError(
            absl::StrCat(path, ": tensor '", named.name, "' has no manifest entry"));
      }
      const RecordPlace* place = &found->second;
      const TensorRecord& record = *place->record;
      if (named.tensor.scalar_type() != last_dtype) {
        last_dtype = named.tensor.scalar_type();
        last_dtype_name = *SafetensorsDtypeName(last_dtype);
      }
      if (named.tensor.sizes() != c10::IntArrayRef(record.shape.data(), record.shape.size()) ||
          last_dtype_name != record.dtype) {
        return absl::DataLossError(absl::StrCat(path, ": tensor '", named.name,
                                                "' does not match its manifest entry"));
      }
      tensors.push_back({&record, place->order, model_file, std::move(named)});
    }
  }
  return tensors;
}

}  // namespace

uint64_t CheckpointSizeBytes(const std::string& dir) {
  uint64_t size = 0;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(dir, error)) {
    if (entry.is_regular_file(error)) size += entry.file_size(error);
  }
  return size;
}

absl::Status VerifyCheckpoint(const std::string& dir) {
  absl::StatusOr<CheckpointManifest> manifest = ReadCheckpointManifest(dir);
  if (!manifest.ok()) return manifest.status();
  return ReadVerifiedTensors(dir, *manifest).status();
}

absl::StatusOr<TrainingState> ReadCheckpoint(
    const std::string& dir, const DeviceMap& devices,
    const TensorDestinations* model_destinations,
    const std::function<bool(const std::string& name)>& wanted_state, bool verify_unwanted) {
  // With every tensor bound for the CPU, the model's files are read into the
  // model while the manifest is parsed (where a tensor goes elsewhere, only
  // the manifest says which, so it comes first).
  std::optional<EarlyModelRead> early;
  if (model_destinations != nullptr && devices.MapsEverythingToCpu()) {
    early.emplace(dir, model_destinations);
  }
  absl::StatusOr<CheckpointManifest> manifest = ReadCheckpointManifest(dir);
  if (!manifest.ok()) return manifest.status();
  // Where each recorded device goes, worked out once per device (a
  // checkpoint has thousands of tensors and a handful of devices).
  // Runs of tensors share a recorded device: the last one is compared
  // first, before the map is searched.
  std::map<std::string, absl::StatusOr<c10::Device>> mapped;
  const std::pair<const std::string, absl::StatusOr<c10::Device>>* last_mapped = nullptr;
  auto map_device = [&](const std::string& recorded) -> const absl::StatusOr<c10::Device>& {
    if (last_mapped != nullptr && last_mapped->first == recorded) return last_mapped->second;
    auto it = mapped.find(recorded);
    if (it == mapped.end()) it = mapped.emplace(recorded, devices.Map(recorded)).first;
    last_mapped = &*it;
    return it->second;
  };
  // Destinations only where the tensor is meant to stay on the CPU: all of
  // them, unless a model tensor goes elsewhere.
  const TensorDestinations* usable = model_destinations;
  TensorDestinations on_cpu;
  if (model_destinations != nullptr) {
    bool all_on_cpu = true;
    for (const auto& [name, record] : manifest->tensors) {
      const absl::StatusOr<c10::Device>& device = map_device(record.device);
      all_on_cpu = all_on_cpu && device.ok() && device->is_cpu();
    }
    if (!all_on_cpu) {
      for (const auto& [name, tensor] : *model_destinations) {
        const TensorRecord* record = manifest->tensors.Find(name);
        if (record == nullptr) continue;
        const absl::StatusOr<c10::Device>& device = map_device(record->device);
        if (device.ok() && device->is_cpu()) on_cpu[name] = tensor;
      }
      usable = &on_cpu;
    }
  }
  absl::StatusOr<std::vector<VerifiedTensor>> tensors =
      ReadVerifiedTensors(dir, *manifest, usable, wanted_state, verify_unwanted,
                          early.has_value() ? &*early : nullptr);
  if (!tensors.ok()) return tensors.status();

  TrainingState state;
  state.model_spec = manifest->model_spec;
  state.position = manifest->position;
  state.history = manifest->history;
  state.scheduler = manifest->scheduler;
  state.callbacks = manifest->callbacks;
  state.loss_scaler = manifest->loss_scaler;
  state.optimizer_parameters_with_state = manifest->optimizer_parameters_with_state;
  state.flags = manifest->flags;
  state.commit_sequence = manifest->commit_sequence;
  state.world_size = manifest->world_size;
  state.parent = manifest->parent;
  state.line = manifest->line;
  // In the manifest's order, which is by name (as every reader before saw
  // the state), placed by each record's position instead of sorted.
  std::vector<VerifiedTensor*> by_name(manifest->tensors.size(), nullptr);
  size_t in_model_file = 0;
  for (VerifiedTensor& verified : *tensors) {
    by_name[verified.order] = &verified;
    in_model_file += verified.in_model_file ? 1 : 0;
  }
  state.model.reserve(in_model_file);
  for (VerifiedTensor* in_order : by_name) {
    if (in_order == nullptr) continue;  // not wanted, or not read
    VerifiedTensor& verified = *in_order;
    const TensorRecord& record = *verified.record;
    NamedTensor& named = verified.named;
    // Generator states stay on the CPU; they are bytes, not data.
    const bool is_rng = named.name.rfind(kRngTensorPrefix, 0) == 0;
    if (!is_rng) {
      const absl::StatusOr<c10::Device>& device = map_device(record.device);
      if (!device.ok()) {
        return absl::Status(device.status().code(), absl::StrCat(dir, ": tensor '", named.name,
                                                                 "' ", device.status().message()));
      }
      if (!device->is_cpu()) named.tensor = named.tensor.to(*device);
    }
    if (verified.in_model_file) {
      state.model.push_back(std::move(named));
    } else if (is_rng) {
      state.rng.push_back(std::move(named));
    } else if (named.name.rfind(kCheckpointCallbackTensorPrefix, 0) == 0) {
      state.callback_tensors.push_back(std::move(named));
    } else {
      state.optimizer.push_back(std::move(named));
    }
  }
  return state;
}

absl::StatusOr<std::vector<NamedTensor>> ReadCheckpointCallbackTensors(const std::string& dir,
                                                                      const std::string& callback,
                                                                      const DeviceMap& devices) {
  absl::StatusOr<TrainingState> state = ReadCheckpoint(dir, devices);
  if (!state.ok()) return state.status();
  if (state->callbacks.count(callback) == 0) {
    std::vector<std::string> names;
    for (const auto& [name, values] : state->callbacks) names.push_back(name);
    return absl::NotFoundError(absl::StrCat(
        dir, " holds no state of callback '", callback, "' (its run's callbacks: ",
        names.empty() ? std::string("none") : absl::StrJoin(names, ", "), ")"));
  }
  const std::string prefix = CallbackTensorPrefix(callback);
  std::vector<NamedTensor> tensors;
  for (NamedTensor& named : state->callback_tensors) {
    if (absl::StartsWith(named.name, prefix)) {
      tensors.push_back({named.name.substr(prefix.size()), std::move(named.tensor)});
    }
  }
  return tensors;
}

absl::StatusOr<std::string> CheckpointShare::ToText() const {
  nlohmann::json headers_json = nlohmann::json::object();
  for (const auto& [file, value] : file_headers) {
    headers_json[file] = FormatChecksum(ChecksumKind::kXxh3, value);
  }
  nlohmann::json json = {{"format", "torchtrain.checkpoint_share"},
                         {"rank", rank},
                         {"files", FilesJson(files)},
                         {"file_headers", headers_json},
                         {"optimizer_parameters_with_state", optimizer_parameters_with_state}};
  std::string text = json.dump();
  text.pop_back();  // "}"
  text += ",\"tensors\": ";
  if (absl::Status s =
          AppendTensorRecords(tensors, ChecksumKind::kXxh3, kCheckpointFormatVersion, &text);
      !s.ok()) {
    return s;
  }
  text += "}";
  return text;
}

absl::StatusOr<CheckpointShare> CheckpointShare::FromText(const std::string& text,
                                                         const std::string& source) {
  // Rank 0 reads one report per rank at every save: a kept parser each time.
  JsonParserPool::Lease parser = JsonParserPool::Default().Acquire();
  absl::StatusOr<ParsedManifest> parsed = ParseManifestText(text, *parser, source);
  if (!parsed.ok()) return parsed.status();
  const nlohmann::json& json = parsed->fields;
  CheckpointShare share;
  std::set<std::string> files;
  try {
    if (json.value("format", "") != "torchtrain.checkpoint_share" || !parsed->tensors) {
      return ManifestError(source, "not a checkpoint share report");
    }
    share.rank = json.at("rank").get<int64_t>();
    absl::StatusOr<std::map<std::string, CheckpointManifest::FileRecord>> parsed_files =
        ParseFiles(json.at("files"), source);
    if (!parsed_files.ok()) return parsed_files.status();
    share.files = *std::move(parsed_files);
    for (const auto& [file, record] : share.files) files.insert(file);
    share.optimizer_parameters_with_state =
        json.at("optimizer_parameters_with_state").get<std::vector<std::string>>();
    for (const auto& [file, value] : json.at("file_headers").items()) {
      std::optional<uint64_t> checksum =
          value.is_string() ? ParseChecksum(ChecksumKind::kXxh3, value.get<std::string>())
                            : std::nullopt;
      if (!checksum) return ManifestError(source, absl::StrCat("bad header checksum of ", file));
      share.file_headers[file] = *checksum;
    }
  } catch (const nlohmann::json::exception& e) {
    return ManifestError(source, absl::StrCat("bad checkpoint share report: ", e.what()));
  }
  if (absl::Status s = ParseTensorRecords(*parsed->tensors, ChecksumKind::kXxh3,
                                          kCheckpointFormatVersion, files, source, &share.tensors);
      !s.ok()) {
    return s;
  }
  return share;
}

}  // namespace framework
