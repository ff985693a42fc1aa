#include "framework/formats/safetensors.h"

#include <cstdio>
#include <fstream>
#include <random>

#include <torch/types.h>

#include "framework/testing/test_command.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace framework {
namespace {

std::string Temp(const std::string& name) { return ::testing::TempDir() + "/" + name; }

// A file with the given JSON header text and `data_size` data bytes.
std::string RawFile(const std::string& name, const std::string& header, size_t data_size,
                    uint64_t declared_length = 0) {
  const std::string path = Temp(name);
  std::ofstream out(path, std::ios::binary);
  const uint64_t length = declared_length != 0 ? declared_length : header.size();
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>(length >> (8 * i)));
  out << header << std::string(data_size, '\0');
  return path;
}

std::string ErrorOf(const std::string& path) {
  auto contents = ReadSafetensors(path);
  EXPECT_FALSE(contents.ok()) << path;
  return std::string(contents.status().message());
}

// What a read with expected checksums refuses, a check after a read
// without them refuses with the same words.
TEST(SafetensorsTest, ChecksumsCheckedAfterTheReadAsDuringIt) {
  const std::string path = Temp("checked_after.safetensors");
  auto sums = WriteSafetensors(path, {{"a", torch::randn({64})}, {"b", torch::randn({3, 5})}},
                               {}, false);
  ASSERT_TRUE(sums.ok()) << sums.status();
  auto contents = ReadSafetensors(path);  // nothing expected
  ASSERT_TRUE(contents.ok()) << contents.status();
  SafetensorsReadOptions right;
  right.expected_header = &sums->header;
  right.expected = &sums->tensors;
  EXPECT_TRUE(CheckSafetensorsChecksums(path, *contents, right).ok());

  auto both_say = [&](const SafetensorsReadOptions& options, const std::string& words) {
    const absl::Status after = CheckSafetensorsChecksums(path, *contents, options);
    const absl::Status during = ReadSafetensors(path, options).status();
    EXPECT_EQ(after.code(), absl::StatusCode::kDataLoss) << after;
    EXPECT_EQ(after.message(), during.message());
    EXPECT_NE(after.message().find(words), std::string::npos) << after;
  };
  TensorChecksums wrong_b = sums->tensors;
  wrong_b["b"] ^= 1;
  SafetensorsReadOptions damaged = right;
  damaged.expected = &wrong_b;
  both_say(damaged, "tensor 'b' fails its checksum (xxh3");
  const uint64_t wrong_header = sums->header ^ 1;
  SafetensorsReadOptions header = right;
  header.expected_header = &wrong_header;
  both_say(header, "header fails its checksum");
  TensorChecksums extra = sums->tensors;
  extra["c"] = 7;
  SafetensorsReadOptions missing = right;
  missing.expected = &extra;
  both_say(missing, "tensor 'c' is missing");
  TensorChecksums only_a = {{"a", sums->tensors.at("a")}};
  SafetensorsReadOptions unrecorded = right;
  unrecorded.expected = &only_a;
  both_say(unrecorded, "tensor 'b' has no recorded checksum");
}

// OpenSafetensors then ReadSafetensorsData read what ReadSafetensors reads,
// the header first (a resume looks at it while the data is being read) and
// left with the caller.
TEST(SafetensorsTest, ReadsInTwoStepsHeaderFirst) {
  const std::string path = Temp("two_steps.safetensors");
  const std::vector<NamedTensor> tensors = {{"w", torch::randn({4, 3})}, {"b", torch::randn({3})}};
  auto sums = WriteSafetensors(path, tensors, {}, false);
  ASSERT_TRUE(sums.ok()) << sums.status();
  auto opened = OpenSafetensors(path, ChecksumKind::kXxh3);
  ASSERT_TRUE(opened.ok()) << opened.status();
  ASSERT_EQ(opened->header.entries.size(), 2u);
  EXPECT_EQ(opened->header.entries[0].name, "w");
  EXPECT_EQ(opened->header.entries[0].shape, (TensorShape{4, 3}));
  EXPECT_EQ(opened->header_checksum, sums->header);
  const SafetensorsEntry* first = opened->header.entries.data();
  SafetensorsReadOptions options;
  options.expected_header = &sums->header;
  options.expected = &sums->tensors;
  auto contents = ReadSafetensorsData(*opened, options);
  ASSERT_TRUE(contents.ok()) << contents.status();
  EXPECT_TRUE(contents->header.entries.empty());        // the header stays where it was
  EXPECT_EQ(opened->header.entries.data(), first);
  EXPECT_EQ(contents->header_checksum, sums->header);
  ASSERT_EQ(contents->tensors.size(), 2u);
  for (size_t i = 0; i < tensors.size(); ++i) {
    EXPECT_EQ(contents->tensors[i].name, tensors[i].name);
    EXPECT_TRUE(torch::equal(contents->tensors[i].tensor, tensors[i].tensor)) << tensors[i].name;
    ASSERT_TRUE(contents->entry_checksums[i].has_value());
    EXPECT_EQ(*contents->entry_checksums[i], sums->tensors.at(tensors[i].name));
  }
  // A damaged header fails in the data step as in one read.
  const uint64_t wrong = sums->header ^ 1;
  options.expected_header = &wrong;
  EXPECT_EQ(ReadSafetensorsData(*opened, options).status().message(),
            ReadSafetensors(path, options).status().message());
  // Checksums of another kind than the header's are a programmer's error, said so.
  options.expected_header = nullptr;
  options.checksum = ChecksumKind::kCrc32;
  EXPECT_EQ(ReadSafetensorsData(*opened, options).status().code(), absl::StatusCode::kInternal);
  // A file that is not there is an error naming it.
  auto missing = OpenSafetensors(Temp("no_such.safetensors"), ChecksumKind::kXxh3);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("no_such.safetensors"), std::string::npos);
}

TEST(SafetensorsTest, RoundTripsEveryDtypeAndMetadata) {
  std::vector<NamedTensor> tensors = {
      {"f32", torch::randn({3, 4})},
      {"f64", torch::randn({2}, torch::kDouble)},
      {"f16", torch::randn({5}).to(torch::kHalf)},
      {"bf16", torch::randn({5}).to(torch::kBFloat16)},
      {"i64", torch::arange(7)},
      {"i32", torch::arange(3, torch::kInt)},
      {"i16", torch::arange(3, torch::kShort)},
      {"i8", torch::arange(-2, 3, torch::kChar)},
      {"u8", torch::arange(9, torch::kByte)},
      {"bool", torch::tensor({true, false, true})},
      {"scalar", torch::tensor(2.5)},
      {"empty", torch::zeros({0, 3})},
      {"view", torch::randn({4, 6}).t()},  // non-contiguous
  };
  const std::string path = Temp("all.safetensors");
  auto crcs = WriteSafetensors(path, tensors, {{"note", "hi"}}, true);
  ASSERT_TRUE(crcs.ok()) << crcs.status();
  SafetensorsReadOptions verify;
  verify.expected_header = &crcs->header;
  verify.expected = &crcs->tensors;
  auto contents = ReadSafetensors(path, verify);
  ASSERT_TRUE(contents.ok()) << contents.status();
  EXPECT_EQ(contents->header.metadata.at("note"), "hi");
  std::map<std::string, torch::Tensor> read;
  for (auto& named : contents->tensors) read[named.name] = named.tensor;
  for (const NamedTensor& named : tensors) {
    ASSERT_EQ(read.count(named.name), 1u) << named.name;
    EXPECT_EQ(read[named.name].scalar_type(), named.tensor.scalar_type()) << named.name;
    EXPECT_TRUE(read[named.name].equal(named.tensor)) << named.name;
  }
}

TEST(SafetensorsTest, ReadsStraightIntoMatchingDestinations) {
  const std::string path = Temp("destinations.safetensors");
  const torch::Tensor weight = torch::randn({3, 4});
  const torch::Tensor bias = torch::randn({4});
  const torch::Tensor steps = torch::arange(5);
  auto crcs = WriteSafetensors(path, {{"weight", weight}, {"bias", bias}, {"steps", steps}}, {}, false);
  ASSERT_TRUE(crcs.ok());
  TensorDestinations destinations = {
      {"weight", torch::zeros({3, 4})},                // fits: filled in place
      {"bias", torch::zeros({4}, torch::kDouble)},     // other dtype: not used
      {"steps", torch::zeros({10}, torch::kLong)}};    // other shape: not used
  const void* weight_memory = destinations["weight"].data_ptr();
  SafetensorsReadOptions options;
  options.expected = &crcs->tensors;
  options.destinations = &destinations;
  auto contents = ReadSafetensors(path, options);
  ASSERT_TRUE(contents.ok()) << contents.status();
  std::map<std::string, torch::Tensor> read;
  for (auto& named : contents->tensors) read[named.name] = named.tensor;
  EXPECT_EQ(read["weight"].data_ptr(), weight_memory);
  EXPECT_TRUE(destinations["weight"].equal(weight));
  EXPECT_TRUE(read["bias"].equal(bias));
  EXPECT_TRUE(read["steps"].equal(steps));
  EXPECT_TRUE(destinations["bias"].equal(torch::zeros({4}, torch::kDouble)));
  // A corrupt byte is still caught when reading into a destination.
  {
    // Flipped, not overwritten: a byte that already held the new value
    // (1 in 256 for random weights) would change nothing.
    std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
    file.seekg(-60, std::ios::end);  // inside "weight" (I64 "steps" comes first)
    const char byte = static_cast<char>(file.get());
    file.seekp(-60, std::ios::end);
    file.put(static_cast<char>(byte ^ 0x55));
  }
  auto corrupt = ReadSafetensors(path, options);
  ASSERT_FALSE(corrupt.ok());
  EXPECT_NE(corrupt.status().message().find("fails its checksum"), std::string::npos);
}

int64_t ReadCalls() {
  std::ifstream io("/proc/self/io");
  std::string key;
  int64_t value = 0;
  while (io >> key >> value) {
    if (key == "syscr:") return value;
  }
  return -1;
}

// A transformer's state: thousands of small tensors, each read straight into
// its destination (no copy), with a few read calls rather than one each.
TEST(SafetensorsTest, ThousandsOfSmallTensorsGoStraightToTheirDestinationsInFewReads) {
  const std::string path = Temp("thousands.safetensors");
  std::vector<NamedTensor> tensors;
  TensorDestinations destinations;
  for (int i = 0; i < 5000; ++i) {
    const std::string name = "layer" + std::to_string(i) + ".weight";
    tensors.push_back({name, torch::randn({i % 7, 3})});
    destinations[name] = torch::full({i % 7, 3}, -1.0);
  }
  auto checksums = WriteSafetensors(path, tensors, {{"format", "many"}}, false);
  ASSERT_TRUE(checksums.ok()) << checksums.status();
  std::map<std::string, const void*> memory;
  for (const auto& [name, tensor] : destinations) memory[name] = tensor.data_ptr();
  SafetensorsReadOptions options;
  options.expected = &checksums->tensors;
  options.destinations = &destinations;
  const int64_t before = ReadCalls();
  ASSERT_GE(before, 0) << "no /proc/self/io";
  auto contents = ReadSafetensors(path, options);
  const int64_t calls = ReadCalls() - before;
  ASSERT_TRUE(contents.ok()) << contents.status();
  ASSERT_EQ(contents->tensors.size(), tensors.size());
  for (const NamedTensor& named : tensors) {
    EXPECT_TRUE(destinations.at(named.name).equal(named.tensor)) << named.name;
  }
  for (const NamedTensor& named : contents->tensors) {
    if (named.tensor.numel() > 0) EXPECT_EQ(named.tensor.data_ptr(), memory.at(named.name));
  }
  // The header (two reads), the data (5000 tensors, 251 KB: a few preadv
  // calls of at most IOV_MAX pieces) and reading /proc/self/io itself.
  EXPECT_LE(calls, 16) << "read calls for 5000 tensors";
}

// Unwanted tensors are skipped, not read: damage to their bytes goes
// unnoticed, while the wanted ones around them are read and verified.
TEST(SafetensorsTest, ReadsOnlyTheWantedTensors) {
  std::vector<NamedTensor> tensors;
  for (int i = 0; i < 6; ++i) {
    tensors.push_back({"t" + std::to_string(i), torch::arange(1000 * (i + 1), torch::kFloat32)});
  }
  tensors.push_back({"empty", torch::zeros({0})});
  const std::string path = Temp("wanted.safetensors");
  auto sums = WriteSafetensors(path, tensors, {}, false);
  ASSERT_TRUE(sums.ok()) << sums.status();
  // Damage a byte in the middle of t2 and one in t5, the last with data.
  auto header = ReadSafetensorsHeader(path);
  ASSERT_TRUE(header.ok()) << header.status();
  {
    std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
    for (const SafetensorsEntry& entry : header->entries) {
      if (entry.name != "t2" && entry.name != "t5") continue;
      const auto at = static_cast<std::streamoff>(header->data_start + (entry.begin + entry.end) / 2);
      file.seekg(at);
      const char byte = static_cast<char>(file.get());
      file.seekp(at);
      file.put(static_cast<char>(~byte));
    }
  }
  SafetensorsReadOptions options;
  options.expected = &sums->tensors;
  options.wanted = [](const std::string& name) { return name != "t2" && name != "t5"; };
  auto contents = ReadSafetensors(path, options);
  ASSERT_TRUE(contents.ok()) << contents.status();
  std::vector<std::string> names;
  for (const NamedTensor& named : contents->tensors) {
    names.push_back(named.name);
    for (const NamedTensor& written : tensors) {
      if (written.name == named.name) EXPECT_TRUE(torch::equal(written.tensor, named.tensor));
    }
  }
  EXPECT_EQ(names, (std::vector<std::string>{"t0", "t1", "t3", "t4", "empty"}));
  options.wanted = [](const std::string& name) { return name == "t5"; };
  auto damaged = ReadSafetensors(path, options);
  ASSERT_FALSE(damaged.ok());
  EXPECT_NE(damaged.status().message().find("tensor 't5' fails its checksum"), std::string::npos)
      << damaged.status();
}

// With verify_unwanted the others are read through scratch memory and
// checksummed, a tensor of several read calls among them, and dropped.
TEST(SafetensorsTest, VerifiesTheUnwantedTensorsWithoutKeepingThem) {
  std::vector<NamedTensor> tensors = {
      {"small", torch::arange(100, torch::kFloat32)},
      {"big", torch::arange(3'000'000, torch::kFloat32)},  // 12 MB: several read calls
      {"kept", torch::arange(5000, torch::kInt64)},
      {"tail", torch::arange(7, torch::kFloat32)},
  };
  const std::string path = Temp("verify_unwanted.safetensors");
  auto sums = WriteSafetensors(path, tensors, {}, false);
  ASSERT_TRUE(sums.ok()) << sums.status();
  SafetensorsReadOptions options;
  options.expected = &sums->tensors;
  options.wanted = [](const std::string& name) { return name == "kept"; };
  options.verify_unwanted = true;
  auto contents = ReadSafetensors(path, options);
  ASSERT_TRUE(contents.ok()) << contents.status();
  ASSERT_EQ(contents->tensors.size(), 1u);
  EXPECT_EQ(contents->tensors[0].name, "kept");
  EXPECT_TRUE(torch::equal(contents->tensors[0].tensor, tensors[2].tensor));
  const TensorChecksums verified = contents->ChecksumsByName();
  EXPECT_EQ(verified.size(), 4u);  // every one verified
  for (const auto& [name, value] : sums->tensors) {
    EXPECT_EQ(verified.at(name), value) << name;
  }
  // One byte of `big`, late in it (a later read call), damaged.
  auto header = ReadSafetensorsHeader(path);
  ASSERT_TRUE(header.ok()) << header.status();
  for (const SafetensorsEntry& entry : header->entries) {
    if (entry.name != "big") continue;
    std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
    const auto at = static_cast<std::streamoff>(header->data_start + entry.end - 1000);
    file.seekg(at);
    const char byte = static_cast<char>(file.get());
    file.seekp(at);
    file.put(static_cast<char>(~byte));
  }
  auto damaged = ReadSafetensors(path, options);
  ASSERT_FALSE(damaged.ok());
  EXPECT_NE(damaged.status().message().find("tensor 'big' fails its checksum"), std::string::npos)
      << damaged.status();
  options.verify_unwanted = false;  // skipped, so unnoticed
  EXPECT_TRUE(ReadSafetensors(path, options).ok());
}

TEST(SafetensorsTest, RejectsUnsupportedDtypesAndDuplicateNames) {
  EXPECT_FALSE(WriteSafetensors(Temp("c.safetensors"), {{"c", torch::zeros({2}, torch::kComplexFloat)}},
                                {}, false).ok());
  EXPECT_FALSE(WriteSafetensors(Temp("d.safetensors"), {{"a", torch::zeros({1})}, {"a", torch::zeros({1})}},
                                {}, false).ok());
}

TEST(SafetensorsTest, MalformedHeadersAreErrorsNotCrashes) {
  const std::string ok_entry = R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  EXPECT_NE(ErrorOf(RawFile("empty_header", "", 0)).find("header is not a JSON object"),
            std::string::npos);
  // A name twice (a reader that kept the last would read half the data).
  EXPECT_NE(ErrorOf(RawFile("twice", "{" + ok_entry + "," +
                                         R"("a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
                            16))
                .find("'a' appears twice"),
            std::string::npos);
  {
    const std::string path = Temp("short");
    std::ofstream(path) << "abc";
    EXPECT_NE(ErrorOf(path).find("shorter than the 8-byte header length"), std::string::npos);
  }
  EXPECT_NE(ErrorOf(RawFile("huge_length", "{" + ok_entry + "}", 8, 1ULL << 40))
                .find("header length 1099511627776 is larger than the file"),
            std::string::npos);
  EXPECT_NE(ErrorOf(RawFile("not_json", "{nope", 8)).find("header is not a JSON object"),
            std::string::npos);
  EXPECT_NE(ErrorOf(RawFile("unknown_dtype",
                            R"({"a":{"dtype":"F8","shape":[2],"data_offsets":[0,2]}})", 2))
                .find("tensor 'a': unknown safetensors dtype 'F8'"),
            std::string::npos);
  EXPECT_NE(ErrorOf(RawFile("out_of_range",
                            R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8))
                .find("out of range of the 8-byte data section"),
            std::string::npos);
  EXPECT_NE(ErrorOf(RawFile("overlap",
                            R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                            R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12))
                .find("overlaps another tensor"),
            std::string::npos);
  EXPECT_NE(ErrorOf(RawFile("size_mismatch",
                            R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8))
                .find("8 bytes for a F32 tensor of shape [3] (12 bytes)"),
            std::string::npos);
  EXPECT_NE(ErrorOf(RawFile("hole", R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12))
                .find("belong to no tensor"),
            std::string::npos);
  EXPECT_NE(ErrorOf(RawFile("trailing", "{" + ok_entry + "}", 12)).find("trailing bytes"),
            std::string::npos);
  EXPECT_NE(ErrorOf(RawFile("overflow",
                            R"({"a":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", 8))
                .find("too large"),
            std::string::npos);
  EXPECT_NE(ErrorOf(RawFile("negative", R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4))
                .find("non-negative"),
            std::string::npos);
  EXPECT_NE(ErrorOf(RawFile("bad_metadata", R"({"__metadata__":{"a":1}})", 0)).find("not a string"),
            std::string::npos);
  EXPECT_NE(ErrorOf(RawFile("missing_fields", R"({"a":{"dtype":"F32"}})", 0))
                .find("needs dtype, shape and two data_offsets"),
            std::string::npos);
  // Every error names the file.
  EXPECT_NE(ErrorOf(RawFile("named", "{x", 0)).find(Temp("named")), std::string::npos);
}

// Runs Python with json + numpy only (an independent reader and writer).
std::string Python(const std::string& script) {
  const std::string path = Temp("script.py");
  std::ofstream(path) << script;
  return RunCommandForTest("/usr/bin/python3 " + path);
}

TEST(SafetensorsTest, IndependentReaderAndWriterAgree) {
  const std::string ours = Temp("ours.safetensors");
  torch::manual_seed(0);
  const torch::Tensor weight = torch::randn({3, 5});
  const torch::Tensor steps = torch::arange(4);
  ASSERT_TRUE(WriteSafetensors(ours, {{"w", weight}, {"steps", steps}}, {{"k", "v"}}, false).ok());
  nlohmann::json expected = {{"w", std::vector<float>(weight.data_ptr<float>(), weight.data_ptr<float>() + 15)},
                             {"steps", {0, 1, 2, 3}}};
  const std::string theirs = Temp("theirs.safetensors");
  const std::string output = Python(R"(
import json, struct, numpy as np
def read(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    kinds = {"F32": "<f4", "I64": "<i8", "F64": "<f8", "U8": "u1"}
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, t = e["data_offsets"]
        out[name] = np.frombuffer(body[b:t], dtype=kinds[e["dtype"]]).reshape(e["shape"])
    return header.get("__metadata__"), out
meta, tensors = read(")" + ours + R"(")
expected = json.loads(')" + expected.dump() + R"(')
assert meta == {"k": "v"}, meta
assert np.array_equal(tensors["w"].ravel(), np.array(expected["w"], dtype="<f4")), tensors["w"]
assert tensors["w"].shape == (3, 5)
assert tensors["steps"].tolist() == expected["steps"]
# And the reverse: a file written with json + numpy.
a = np.arange(6, dtype="<f8").reshape(2, 3) / 7
b = np.array([1, 2, 250], dtype="u1")
header = {"b": {"dtype": "U8", "shape": [3], "data_offsets": [48, 51]},
          "a": {"dtype": "F64", "shape": [2, 3], "data_offsets": [0, 48]},
          "__metadata__": {"from": "numpy"}}
text = json.dumps(header).encode()
with open(")" + theirs + R"(", "wb") as f:
    f.write(struct.pack("<Q", len(text)) + text + a.tobytes() + b.tobytes())
print("ok")
)");
  EXPECT_NE(output.find("ok"), std::string::npos) << output;
  auto contents = ReadSafetensors(theirs);
  ASSERT_TRUE(contents.ok()) << contents.status();
  EXPECT_EQ(contents->header.metadata.at("from"), "numpy");
  std::map<std::string, torch::Tensor> read;
  for (auto& named : contents->tensors) read[named.name] = named.tensor;
  EXPECT_TRUE(read["a"].equal(torch::arange(6, torch::kDouble).reshape({2, 3}) / 7));
  EXPECT_TRUE(read["b"].equal(torch::tensor({1, 2, 250}, torch::kByte)));
}

}  // namespace
}  // namespace framework

namespace framework {
namespace {

// Many small tensors between large ones, some read into destinations and
// some into the shared buffer, with both checksums: every byte arrives and
// verifies, and a flipped byte anywhere is caught and named.
TEST(SafetensorsTest, ManySmallAndLargeTensorsVerifyWhileReading) {
  const unsigned seed = std::random_device()();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 random(seed);
  torch::manual_seed(seed);
  std::vector<NamedTensor> tensors;
  for (int i = 0; i < 300; ++i) {
    const int64_t size = random() % 10 == 0 ? 3'000'000 + random() % 1000 : random() % 50;
    tensors.push_back({"t" + std::to_string(i), torch::randn({size})});
  }
  tensors.push_back({"empty_last", torch::zeros({0}, torch::kByte)});
  for (ChecksumKind kind : {ChecksumKind::kXxh3, ChecksumKind::kCrc32}) {
    const std::string path = Temp(std::string("many_") + ChecksumName(kind));
    auto checksums = WriteSafetensors(path, tensors, {}, false, kind);
    ASSERT_TRUE(checksums.ok()) << checksums.status();
    ASSERT_EQ(checksums->tensors.size(), tensors.size());
    TensorDestinations destinations;
    for (const NamedTensor& named : tensors) {
      if (random() % 2 == 0) destinations[named.name] = torch::zeros_like(named.tensor);
    }
    SafetensorsReadOptions options;
    options.checksum = kind;
    options.expected_header = &checksums->header;
    options.expected = &checksums->tensors;
    options.destinations = &destinations;
    auto contents = ReadSafetensors(path, options);
    ASSERT_TRUE(contents.ok()) << contents.status();
    std::map<std::string, torch::Tensor> read;
    for (auto& named : contents->tensors) read[named.name] = named.tensor;
    for (const NamedTensor& named : tensors) {
      EXPECT_TRUE(read.at(named.name).equal(named.tensor)) << named.name;
    }
    EXPECT_EQ(contents->ChecksumsByName(), checksums->tensors);
    EXPECT_EQ(contents->header_checksum, checksums->header);

    auto header = ReadSafetensorsHeader(path);
    ASSERT_TRUE(header.ok());
    std::vector<const SafetensorsEntry*> nonempty;
    for (const SafetensorsEntry& entry : header->entries) {
      if (entry.end > entry.begin) nonempty.push_back(&entry);
    }
    const SafetensorsEntry& victim = *nonempty[random() % nonempty.size()];
    const uint64_t at = header->data_start + victim.begin + random() % (victim.end - victim.begin);
    {
      std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
      file.seekg(static_cast<std::streamoff>(at));
      const char byte = static_cast<char>(file.get());
      file.seekp(static_cast<std::streamoff>(at));
      file.put(static_cast<char>(byte ^ 0x10));
    }
    auto corrupt = ReadSafetensors(path, options);
    ASSERT_FALSE(corrupt.ok()) << "flipped byte " << at << " of " << victim.name;
    EXPECT_NE(corrupt.status().message().find("'" + victim.name + "' fails its checksum"),
              std::string::npos)
        << corrupt.status();
  }
}

}  // namespace
}  // namespace framework
