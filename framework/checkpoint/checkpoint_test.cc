#include "framework/checkpoint/checkpoint.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <random>
#include <tuple>

#include <signal.h>

#include "absl/strings/str_cat.h"
#include "framework/checkpoint/checkpoint_manager.h"
#include "framework/model/state_dict.h"
#include "framework/testing/test_task.h"
#include "framework/core/durable_file.h"
#include "framework/testing/fault_injecting_env.h"
#include "gtest/gtest.h"

namespace framework {
namespace {

namespace fs = std::filesystem;
using testing_task::TinyData;
using testing_task::TinyRun;
using testing_task::TinySpec;

class CheckpointTest : public ::testing::Test {
 protected:
  // A checkpoint of a TinyRun after one epoch, in a fresh directory.
  std::string MakeCheckpoint(const std::string& name) {
    const std::string dir = ::testing::TempDir() + "/" + name;
    fs::remove_all(dir);
    TinyRun run(data_, 1);
    EXPECT_TRUE(run.loop->Run().ok());
    auto state = CaptureTrainingState(*run.loop, TinySpec(), {{"seed", "3"}});
    EXPECT_TRUE(state.ok());
    EXPECT_TRUE(WriteCheckpoint(dir, *state).ok());
    return dir;
  }

  // Rewrites the manifest through `edit`, sealed with a valid checksum so
  // that the checks behind it are what the edit meets.
  void EditManifest(const std::string& dir, const std::function<void(nlohmann::json&)>& edit) {
    nlohmann::json json = nlohmann::json::parse(*ReadFileToString(dir + "/checkpoint.json"));
    edit(json);
    std::ofstream(dir + "/checkpoint.json", std::ios::trunc) << SealManifestText(json.dump(1));
  }

  absl::Status Restore(const std::string& dir, const DeviceMap& devices = DeviceMap(torch::kCPU)) {
    auto state = ReadCheckpoint(dir, devices);
    if (!state.ok()) return state.status();
    TinyRun run(data_, 1);
    return RestoreTrainingState(*state, *run.loop, dir);
  }

  DataSplits data_ = TinyData();
};

TEST_F(CheckpointTest, RoundTripsAndIsReadableWithoutTheModelCode) {
  const std::string dir = MakeCheckpoint("round_trip");
  EXPECT_TRUE(Restore(dir).ok());
  auto manifest = ReadCheckpointManifest(dir);
  ASSERT_TRUE(manifest.ok());
  EXPECT_EQ(manifest->format_version, kCheckpointFormatVersion);
  EXPECT_EQ(manifest->torch_version, "1.13.0");
  EXPECT_EQ(manifest->position.epoch, 1);
  EXPECT_EQ(manifest->flags.at("seed"), "3");
  const TensorRecords& records = manifest->tensors;
  ASSERT_NE(records.Find("hidden.weight"), nullptr);
  const TensorRecord& weight = *records.Find("hidden.weight");
  EXPECT_EQ(records.file(weight), "model.safetensors");
  EXPECT_EQ(weight.dtype, "F32");
  EXPECT_EQ(weight.shape, (TensorShape{16, 64}));
  EXPECT_EQ(weight.device, "cpu");
  ASSERT_NE(records.Find("optimizer.0.0.momentum_buffer"), nullptr);
  EXPECT_EQ(records.file(*records.Find("optimizer.0.0.momentum_buffer")), "state.safetensors");
  ASSERT_NE(records.Find("rng.cpu"), nullptr);
  EXPECT_EQ(records.Find("rng.cpu")->dtype, "U8");
  // The model file is a plain safetensors file of the state dict.
  auto header = ReadSafetensorsHeader(dir + "/model.safetensors");
  ASSERT_TRUE(header.ok());
  EXPECT_EQ(header->entries.size(), 4u);
  EXPECT_EQ(header->metadata.at("format"), "torchtrain.model");
}

TEST_F(CheckpointTest, BadInputsAreClearErrorsNamingTheFile) {
  const std::string dir = MakeCheckpoint("bad_inputs");
  auto copy = [&](const std::string& name) {
    const std::string target = ::testing::TempDir() + "/" + name;
    fs::remove_all(target);
    fs::copy(dir, target, fs::copy_options::recursive);
    return target;
  };
  auto expect_error = [&](const std::string& target, const std::string& fragment) {
    absl::Status status = Restore(target);
    EXPECT_FALSE(status.ok()) << target;
    EXPECT_NE(status.message().find(fragment), std::string::npos) << status;
    EXPECT_NE(status.message().find(target), std::string::npos) << status;
  };

  const std::string truncated = copy("truncated");
  fs::resize_file(truncated + "/model.safetensors", fs::file_size(truncated + "/model.safetensors") / 2);
  expect_error(truncated, "model.safetensors: malformed safetensors file");

  const std::string flipped = copy("flipped");
  {
    std::fstream file(flipped + "/state.safetensors", std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(-100, std::ios::end);
    file.put('\x7f');
  }
  expect_error(flipped, "fails its checksum");

  const std::string magic = copy("wrong_magic");
  EditManifest(magic, [](nlohmann::json& j) { j["format"] = "something.else"; });
  expect_error(magic, "not a torchtrain checkpoint manifest");

  const std::string garbage = copy("garbage_header");
  std::ofstream(garbage + "/model.safetensors", std::ios::trunc) << "PK\x03\x04 not safetensors at all";
  expect_error(garbage, "header length");

  const std::string newer = copy("newer_version");
  EditManifest(newer, [](nlohmann::json& j) { j["format_version"] = kCheckpointFormatVersion + 1; });
  expect_error(newer, absl::StrCat("format version ", kCheckpointFormatVersion + 1,
                                   " is newer than this build reads (", kCheckpointFormatVersion,
                                   ")"));

  const std::string no_optimizer = copy("missing_optimizer_entry");
  // Drop one optimizer tensor from the state file and the manifest.
  {
    auto contents = ReadSafetensors(no_optimizer + "/state.safetensors");
    ASSERT_TRUE(contents.ok());
    std::vector<NamedTensor> kept;
    for (auto& named : contents->tensors) {
      if (named.name != "optimizer.0.2.momentum_buffer") kept.push_back(named);
    }
    auto written = WriteSafetensors(no_optimizer + "/state.safetensors", kept, {}, false);
    ASSERT_TRUE(written.ok());
    const std::string header = FormatChecksum(ChecksumKind::kXxh3, written->header);
    EditManifest(no_optimizer, [header](nlohmann::json& j) {
      j["tensors"].erase("optimizer.0.2.momentum_buffer");
      j["file_headers"]["state.safetensors"] = header;
    });
  }
  expect_error(no_optimizer, "missing optimizer entry 'optimizer.0.2.momentum_buffer'");

  const std::string empty = ::testing::TempDir() + "/empty_checkpoint";
  fs::create_directories(empty);
  expect_error(empty, "incomplete checkpoint (no checkpoint.json)");
}

TEST_F(CheckpointTest, AnyChangedByteOfAnyFileFailsVerification) {
  const std::string dir = MakeCheckpoint("flipped");
  ASSERT_TRUE(VerifyCheckpoint(dir).ok());
  TinyRun run(data_, 1);
  TensorDestinations destinations;
  for (NamedTensor& named : StateDict(*run.model)) destinations[named.name] = named.tensor;
  ASSERT_TRUE(ReadCheckpoint(dir, DeviceMap(torch::kCPU), &destinations).ok());
  const uint64_t seed = std::random_device{}();
  std::mt19937_64 random(seed);
  std::cout << "byte-flip offsets drawn with seed " << seed << "\n";
  for (const char* file : {kCheckpointManifest, kCheckpointModelFile, kCheckpointStateFile}) {
    const std::string path = dir + "/" + file;
    const std::string original = *ReadFileToString(path);
    // The first and last 200 bytes (headers, the manifest's ends) and 200
    // drawn anywhere.
    std::vector<size_t> offsets;
    for (size_t i = 0; i < std::min<size_t>(200, original.size()); ++i) {
      offsets.push_back(i);
      offsets.push_back(original.size() - 1 - i);
    }
    for (int i = 0; i < 200; ++i) offsets.push_back(random() % original.size());
    for (size_t offset : offsets) {
      std::string changed = original;
      changed[offset] = static_cast<char>(changed[offset] ^ (1 << (random() % 8)));
      std::ofstream(path, std::ios::binary | std::ios::trunc) << changed;
      EXPECT_FALSE(VerifyCheckpoint(dir).ok()) << file << " offset " << offset << " seed " << seed;
      // As --resume reads it: the model's file straight into a model, while
      // the manifest is parsed, its checksums compared afterwards.
      EXPECT_FALSE(ReadCheckpoint(dir, DeviceMap(torch::kCPU), &destinations).ok())
          << file << " offset " << offset << " seed " << seed;
    }
    std::ofstream(path, std::ios::binary | std::ios::trunc) << original;
    ASSERT_TRUE(VerifyCheckpoint(dir).ok());
  }
}

TEST_F(CheckpointTest, VersionOneCheckpointsWithoutManifestChecksumsStillLoad) {
  // Version 1 is version 2 (the kept test data, CRC-32) less its newer fields.
  const std::string dir = ::testing::TempDir() + "/version_one";
  fs::remove_all(dir);
  fs::copy("framework/checkpoint/testdata/format_v2_crc32", dir, fs::copy_options::recursive);
  fs::permissions(dir + "/checkpoint.json", fs::perms::owner_write, fs::perm_options::add);
  EditManifest(dir, [](nlohmann::json& j) {
    j["format_version"] = 1;
    j.erase("file_headers");
    j.erase("manifest_crc32");
    j.erase("commit_sequence");
    j.erase("parent");
  });
  EXPECT_TRUE(VerifyCheckpoint(dir).ok());
  EXPECT_TRUE(Restore(dir).ok());
}

TEST_F(CheckpointTest, AChangedManifestValueIsCaughtByItsChecksum) {
  // The case: position.epoch edited, the JSON still valid.
  const std::string dir = MakeCheckpoint("edited_epoch");
  const std::string path = dir + "/" + kCheckpointManifest;
  std::string text = *ReadFileToString(path);
  const size_t at = text.find("\"epoch\": ");
  ASSERT_NE(at, std::string::npos);
  text.replace(at, 10, "\"epoch\": 7");
  std::ofstream(path, std::ios::trunc) << text;
  absl::Status status = VerifyCheckpoint(dir);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("manifest checksum mismatch"), std::string::npos) << status;
}

// A manifest record whose dtype or shape is not its tensor's (the manifest
// sealed again, the file's bytes and checksums untouched) is refused, naming
// the file and the tensor, read as --resume reads it (straight into the
// model while the manifest is parsed: the records are matched during the
// read) and as tools read it.
TEST_F(CheckpointTest, ARecordOfAnotherDtypeOrShapeIsRefused) {
  TinyRun run(data_, 1);
  TensorDestinations destinations;
  for (NamedTensor& named : StateDict(*run.model)) destinations[named.name] = named.tensor;
  const std::vector<std::pair<std::string, std::function<void(nlohmann::json&)>>> edits = {
      {"shape", [](nlohmann::json& record) { record["shape"] = {64, 16}; }},
      {"dtype", [](nlohmann::json& record) { record["dtype"] = "F64"; }},
  };
  // (Not a structured binding: C++17 lets no lambda capture one.)
  for (const auto& what_and_edit : edits) {
    const std::string& what = what_and_edit.first;
    const std::function<void(nlohmann::json&)>& edit = what_and_edit.second;
    const std::string dir = MakeCheckpoint("record_" + what);
    EditManifest(dir, [&](nlohmann::json& j) { edit(j["tensors"]["hidden.weight"]); });
    for (const TensorDestinations* into : {static_cast<const TensorDestinations*>(nullptr),
                                           static_cast<const TensorDestinations*>(&destinations)}) {
      auto read = ReadCheckpoint(dir, DeviceMap(torch::kCPU), into);
      ASSERT_FALSE(read.ok()) << what;
      EXPECT_NE(read.status().message().find(dir + "/model.safetensors: tensor 'hidden.weight' "
                                             "does not match its manifest entry"),
                std::string::npos)
          << what << (into != nullptr ? ", into the model: " : ": ") << read.status();
    }
  }
}

TEST_F(CheckpointTest, CheckpointOfAnotherModelListsKeyDifferences) {
  const std::string dir = MakeCheckpoint("other_model");
  auto state = ReadCheckpoint(dir, DeviceMap(torch::kCPU));
  ASSERT_TRUE(state.ok());
  // Another model: renamed, missing and mis-shaped keys.
  std::vector<NamedTensor> other;
  for (const NamedTensor& named : state->model) {
    if (named.name == "hidden.weight") other.push_back({"encoder.weight", named.tensor});
    if (named.name == "hidden.bias") other.push_back({named.name, named.tensor});
    if (named.name == "out.weight") other.push_back({named.name, torch::zeros({5, 16})});
  }
  state->model = other;
  TinyRun run(data_, 1);
  absl::Status status = RestoreTrainingState(*state, *run.loop, dir);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("missing keys: hidden.weight, out.bias"), std::string::npos) << status;
  EXPECT_NE(status.message().find("unexpected keys: encoder.weight"), std::string::npos);
  EXPECT_NE(status.message().find("mis-shaped keys: out.weight (file [5, 16], model [4, 16])"),
            std::string::npos);
}

TEST_F(CheckpointTest, RemapsTensorsRecordedOnCudaDevices) {
  const std::string dir = MakeCheckpoint("cuda_recorded");
  // As if written on a two-GPU machine.
  EditManifest(dir, [](nlohmann::json& j) {
    int i = 0;
    for (auto& [name, tensor] : j["tensors"].items()) {
      if (name.rfind("rng.", 0) != 0) tensor["device"] = (i++ % 2 == 0) ? "cuda:0" : "cuda:1";
    }
  });
  // Default: onto the run's device (CPU here), where PyTorch would fail.
  auto state = ReadCheckpoint(dir, DeviceMap(torch::kCPU));
  ASSERT_TRUE(state.ok()) << state.status();
  for (const NamedTensor& named : state->model) EXPECT_TRUE(named.tensor.device().is_cpu());
  EXPECT_TRUE(Restore(dir).ok());

  auto both = DeviceMap::Parse("cuda:1=cpu, cuda:0=cpu", torch::kCPU);
  ASSERT_TRUE(both.ok());
  EXPECT_TRUE(ReadCheckpoint(dir, *both).ok());

  auto one = DeviceMap::Parse("cuda:1=cpu", torch::kCPU);
  ASSERT_TRUE(one.ok());
  auto partial = ReadCheckpoint(dir, *one);
  ASSERT_FALSE(partial.ok());
  EXPECT_NE(partial.status().message().find("saved on cuda:0, which is not mapped"), std::string::npos)
      << partial.status();
  EXPECT_NE(partial.status().message().find("add cuda:0=cpu to --map_location"), std::string::npos);

  for (const std::string spec : {"cuda", "cuda:0", "cuda:1=cuda:0"}) {
    auto unusable = DeviceMap::Parse(spec, torch::kCPU);
    ASSERT_FALSE(unusable.ok()) << spec;
    EXPECT_NE(unusable.status().message().find("needs CUDA"), std::string::npos) << unusable.status();
  }
  EXPECT_FALSE(DeviceMap::Parse("cuda:1=", torch::kCPU).ok());
  EXPECT_FALSE(DeviceMap::Parse("tpu", torch::kCPU).ok());
}

TEST_F(CheckpointTest, CrashBeforeRenameLeavesNoCheckpoint) {
  const std::string parent = ::testing::TempDir() + "/crash";
  fs::remove_all(parent);
  fs::create_directories(parent);
  const std::string good = MakeCheckpoint("crash/step-0000000001");
  // Each point: the file operation the process dies at, as kill -9 would,
  // and whether the checkpoint was committed by then.
  const std::vector<std::tuple<const char*, const char*, bool>> points = {
      {"create", "state.safetensors", false},       // after the model file
      {"rename", "step-0000000002", false},         // before the commit
      {"sync_directory", "/crash", true}};           // after the rename
  for (const auto& [operation, path_part, commits] : points) {
    SCOPED_TRACE(std::string(operation) + " " + path_part);
    const pid_t child = fork();
    if (child == 0) {
      TinyRun run(data_, 1);
      auto state = CaptureTrainingState(*run.loop, TinySpec(), {});
      auto faults = std::make_unique<ScopedFaultInjection>([operation = std::string(operation), part = std::string(path_part)](
                           const char* op, const std::string& path) {
        const bool ends_with = path.size() >= part.size() &&
                               path.compare(path.size() - part.size(), part.size(), part) == 0;
        if (op == operation && ends_with) raise(SIGKILL);
        return 0;
      });
      WriteOptions options;
      // Dies inside; reaching the next line would be a failure of the test.
      (void)WriteCheckpoint(parent + "/step-0000000002", *state, options);
      _exit(0);
    }
    int status = 0;
    waitpid(child, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    const bool committed = fs::exists(parent + "/step-0000000002");
    EXPECT_EQ(committed, commits);
    if (committed) {
      EXPECT_TRUE(VerifyCheckpoint(parent + "/step-0000000002").ok());
      fs::remove_all(parent + "/step-0000000002");
    }
    EXPECT_TRUE(VerifyCheckpoint(good).ok());
    // The manager clears the temporary directory on its next start.
    ASSERT_TRUE(CheckpointManager::Create({parent}, {}, {}).ok());
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(parent)) names.push_back(entry.path().filename());
    EXPECT_EQ(names, std::vector<std::string>{"step-0000000001"});
  }
}

TEST(CheckpointNameTest, ParsesOnlyTheManagersNames) {
  EXPECT_EQ(CheckpointName(938, 0), "step-0000000938");
  EXPECT_EQ(CheckpointName(938, 2), "step-0000000938.2");
  EXPECT_EQ(ParseCheckpointName("step-0000000938.2"), std::make_pair(int64_t{938}, 2));
  EXPECT_FALSE(ParseCheckpointName("step-938").has_value());
  EXPECT_FALSE(ParseCheckpointName(".tmp-step-0000000938-12").has_value());
  EXPECT_FALSE(ParseCheckpointName("best").has_value());
}

TEST(CheckpointNameTest, LeftoversAreOnlyTheManagersTemporaryNames) {
  const std::string tmp = TemporaryCheckpointPath("/runs/x/checkpoints/step-0000000938");
  EXPECT_EQ(tmp.rfind("/runs/x/checkpoints/.tmp-step-0000000938-", 0), 0u) << tmp;
  EXPECT_TRUE(IsLeftoverCheckpointName(std::filesystem::path(tmp).filename().string()));
  EXPECT_TRUE(IsLeftoverCheckpointName(DoomedCheckpointName("step-0000000938.1")));
  EXPECT_FALSE(IsLeftoverCheckpointName(".tmp-my-notes"));
  EXPECT_FALSE(IsLeftoverCheckpointName("step-0000000938"));
}

}  // namespace
}  // namespace framework

namespace framework {
namespace {

// A checkpoint written by format version 2 (CRC-32 checksums, before XXH3),
// kept as test data: it must still verify, load and restore, and damage to
// it must still be caught.
// The manifest's tensor records are printed by hand (core of a many-tensor
// save): an independent JSON reader reads every name back, escapes and
// all, and so does our reader; listing reads a manifest without them.
TEST_F(CheckpointTest, ManifestTensorRecordsSurviveAnIndependentReader) {
  CheckpointManifest manifest;
  manifest.format_version = kCheckpointFormatVersion;
  manifest.torch_version = "1.13.1";
  manifest.created = "2026-12-02T00:00:00Z";
  manifest.model_spec = TinySpec();
  manifest.position.metric_sums = {0.0};
  const std::vector<std::string> names = {"plain.weight", "quote\"back\\slash", "tab\tnew\nline",
                                          "caf\xc3\xa9 \xe2\x82\xac", std::string("nul\0in", 6)};
  manifest.files = {{kCheckpointModelFile, {0, 10}}, {kCheckpointStateFile, {0, 20}}};
  for (size_t i = 0; i < names.size(); ++i) {
    TensorRecord& record =
        manifest.tensors.Add(names[i], i % 2 == 0 ? kCheckpointModelFile : kCheckpointStateFile);
    record.dtype = "F32";
    record.shape = {static_cast<int64_t>(i), 3};
    record.device = i == 1 ? "cuda:1" : "cpu";
    record.checksum = 0x0123456789abcdefULL + i;
  }
  ASSERT_TRUE(manifest.tensors.SortByName().ok());
  auto text = manifest.ToText();
  ASSERT_TRUE(text.ok()) << text.status();
  const nlohmann::json independent = nlohmann::json::parse(SealManifestText(*text));
  ASSERT_EQ(independent.at("tensors").size(), names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    const nlohmann::json& record = independent.at("tensors").at(names[i]);
    EXPECT_EQ(record.at("shape"), nlohmann::json({static_cast<int64_t>(i), 3}));
    EXPECT_EQ(record.at("xxh3"), FormatChecksum(ChecksumKind::kXxh3, 0x0123456789abcdefULL + i));
  }
  auto parsed = CheckpointManifest::FromText(SealManifestText(*text), "test manifest");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->tensors.size(), names.size());
  for (const auto& [name, record] : manifest.tensors) {
    const TensorRecord* found = parsed->tensors.Find(name);
    ASSERT_NE(found, nullptr) << name;
    const TensorRecord& back = *found;
    EXPECT_EQ(parsed->tensors.file(back), manifest.tensors.file(record));
    EXPECT_EQ(back.shape, record.shape);
    EXPECT_EQ(back.device, record.device);
    EXPECT_EQ(back.checksum, record.checksum);
  }
  auto summary = CheckpointManifest::FromText(SealManifestText(*text), "test manifest",
                                              ManifestContents::kWithoutTensors);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_TRUE(summary->tensors.empty());
  EXPECT_EQ(summary->model_spec.ToJson(), manifest.model_spec.ToJson());

  // A name that is not UTF-8 would make a file no JSON reader opens.
  const TensorRecord copied = manifest.tensors.begin()->record;
  manifest.tensors.Add("bad\xff", kCheckpointModelFile) = copied;
  ASSERT_TRUE(manifest.tensors.SortByName().ok());
  EXPECT_FALSE(manifest.ToText().ok());
}

TEST_F(CheckpointTest, ReadsFormatVersion2WithCrc32) {
  const std::string kept = "framework/checkpoint/testdata/format_v2_crc32";
  auto manifest = ReadCheckpointManifest(kept);
  ASSERT_TRUE(manifest.ok()) << manifest.status();
  EXPECT_EQ(manifest->format_version, 2);
  EXPECT_EQ(manifest->checksum, ChecksumKind::kCrc32);
  EXPECT_EQ(manifest->position.global_step, 13);
  EXPECT_TRUE(VerifyCheckpoint(kept).ok());
  EXPECT_TRUE(Restore(kept).ok());

  const std::string damaged = ::testing::TempDir() + "/damaged_v2";
  fs::remove_all(damaged);
  fs::copy(kept, damaged, fs::copy_options::recursive);
  {
    std::fstream file(damaged + "/model.safetensors", std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(-5, std::ios::end);
    file.put('\x7f');
  }
  absl::Status status = VerifyCheckpoint(damaged);
  EXPECT_NE(status.message().find("fails its checksum (crc32"), std::string::npos) << status;

  // Read into a model as --resume reads (the model's file is read before the
  // manifest says which checksum it has; crc32 is then checked on a re-read).
  TinyRun run(data_, 1);
  TensorDestinations destinations;
  for (NamedTensor& named : StateDict(*run.model)) destinations[named.name] = named.tensor;
  EXPECT_TRUE(ReadCheckpoint(kept, DeviceMap(torch::kCPU), &destinations).ok());
  status = ReadCheckpoint(damaged, DeviceMap(torch::kCPU), &destinations).status();
  EXPECT_NE(status.message().find("fails its checksum (crc32"), std::string::npos) << status;
}

TEST_F(CheckpointTest, WritesTheCurrentFormatWithXxh3AndItsFiles) {
  const std::string dir = MakeCheckpoint("version4");
  nlohmann::json json = nlohmann::json::parse(*ReadFileToString(dir + "/checkpoint.json"));
  EXPECT_EQ(json["format_version"], kCheckpointFormatVersion);
  EXPECT_EQ(json["checksum"], "xxh3");
  // One process: the two files of rank 0, with their sizes.
  ASSERT_EQ(json["files"].size(), 2u) << json["files"];
  for (const char* file : {kCheckpointModelFile, kCheckpointStateFile}) {
    EXPECT_EQ(json["files"][file]["rank"], 0) << file;
    EXPECT_EQ(json["files"][file]["bytes"], fs::file_size(dir + "/" + file)) << file;
  }
  // A version-3 checkpoint (no "files") still reads.
  const std::string older = ::testing::TempDir() + "/version3";
  fs::remove_all(older);
  fs::copy(dir, older, fs::copy_options::recursive);
  EditManifest(older, [](nlohmann::json& j) {
    j.erase("files");
    j["format_version"] = 3;
  });
  EXPECT_TRUE(Restore(older).ok()) << Restore(older);
  for (auto& [name, record] : json["tensors"].items()) {
    ASSERT_TRUE(record["xxh3"].is_string()) << name;
    EXPECT_EQ(record["xxh3"].get<std::string>().size(), 16u) << name;
    EXPECT_FALSE(record.contains("crc32")) << name;
  }
  // A checksum that is not 16 hex digits is a manifest error that says so.
  EditManifest(dir, [](nlohmann::json& j) { j["file_headers"]["model.safetensors"] = 12345; });
  absl::Status status = ReadCheckpointManifest(dir).status();
  EXPECT_NE(status.message().find("bad xxh3 of model.safetensors: 12345"), std::string::npos)
      << status;
}

}  // namespace
}  // namespace framework

namespace framework {
namespace {

// Bytes this process has read through read(2)/pread(2), page cache or not.
int64_t BytesRead() {
  std::ifstream io("/proc/self/io");
  std::string key;
  int64_t value = 0;
  while (io >> key >> value) {
    if (key == "rchar:") return value;
  }
  return -1;
}

// Verification happens while loading: tensor data is read once, and only the
// tensor files' headers (which a reader parses before it checksums them) are
// read twice.
TEST_F(CheckpointTest, ReadingACheckpointReadsEachDataByteOnce) {
  const std::string dir = MakeCheckpoint("read_once");
  const int64_t size = static_cast<int64_t>(CheckpointSizeBytes(dir));
  int64_t headers = 0;
  for (const char* file : {kCheckpointModelFile, kCheckpointStateFile}) {
    headers += static_cast<int64_t>(ReadSafetensorsHeader(dir + "/" + file)->data_start);
  }
  TinyRun run(data_, 1);
  TensorDestinations destinations;
  for (NamedTensor& named : StateDict(*run.model)) destinations[named.name] = named.tensor;
  // What reading /proc/self/io itself adds.
  const int64_t first_probe = BytesRead();
  const int64_t probe = BytesRead() - first_probe;
  const int64_t before = BytesRead();
  ASSERT_GE(before, 0) << "no /proc/self/io";
  auto state = ReadCheckpoint(dir, DeviceMap(torch::kCPU), &destinations);
  const int64_t read = BytesRead() - before - probe;
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_GE(read, size);
  EXPECT_LE(read, size + headers) << "checkpoint of " << size << " bytes";
}

// The read state lists tensors by name (as the manifest does, and as every
// reader before saw them), whatever order the files hold them in: here a
// model whose parameters were registered out of name order ("w2" before
// "w10" before "w1"), read as --resume reads it (straight into the model,
// the model's file while the manifest is parsed) and as tools read it.
TEST_F(CheckpointTest, ReadStateComesByNameWhateverTheFileOrder) {
  const std::string dir = ::testing::TempDir() + "/by_name";
  fs::remove_all(dir);
  TrainingState state;
  state.model_spec = TinySpec();
  for (const char* name : {"w2", "w10", "w1", "a.z", "a.b"}) {
    state.model.push_back({name, torch::rand({3})});
  }
  for (const char* name : {"optimizer.0.1.m", "optimizer.0.0.m"}) {
    state.optimizer.push_back({name, torch::rand({2})});
  }
  ASSERT_TRUE(WriteCheckpoint(dir, state).ok());
  auto header = ReadSafetensorsHeader(dir + "/" + kCheckpointModelFile);
  ASSERT_TRUE(header.ok()) << header.status();
  ASSERT_EQ(header->entries.front().name, "w2");  // the file keeps the given order
  TensorDestinations destinations;
  for (const NamedTensor& named : state.model) destinations[named.name] = torch::zeros({3});
  for (const TensorDestinations* into : {static_cast<const TensorDestinations*>(nullptr),
                                         static_cast<const TensorDestinations*>(&destinations)}) {
    auto read = ReadCheckpoint(dir, DeviceMap(torch::kCPU), into);
    ASSERT_TRUE(read.ok()) << read.status();
    std::vector<std::string> model, optimizer;
    for (const NamedTensor& named : read->model) model.push_back(named.name);
    for (const NamedTensor& named : read->optimizer) optimizer.push_back(named.name);
    EXPECT_EQ(model, (std::vector<std::string>{"a.b", "a.z", "w1", "w10", "w2"}));
    EXPECT_EQ(optimizer, (std::vector<std::string>{"optimizer.0.0.m", "optimizer.0.1.m"}));
    for (const NamedTensor& named : read->model) {
      auto original = std::find_if(state.model.begin(), state.model.end(),
                                   [&](const NamedTensor& n) { return n.name == named.name; });
      EXPECT_TRUE(torch::equal(named.tensor, original->tensor)) << named.name;
      if (into != nullptr) {
        EXPECT_TRUE(named.tensor.is_same(destinations.at(named.name))) << named.name;
      }
    }
  }
}

}  // namespace
}  // namespace framework
