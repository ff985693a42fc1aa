#include "framework/formats/pytorch_file.h"

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <caffe2/serialize/inline_container.h>
#include <torch/types.h>

#include "framework/testing/test_command.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace framework {
namespace {

class PyTorchFileTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(::testing::TempDir() + "/pt");
    std::filesystem::create_directories(*dir_);
    const std::string output =
        RunCommandForTest("/usr/bin/python3 framework/formats/pytorch_file_test_files.py " + *dir_);
    expected_ = new nlohmann::json(nlohmann::json::parse(output.substr(output.find('{'))));
  }

  static std::string Path(const std::string& name) { return *dir_ + "/" + name; }

  // Reads `file` and checks every tensor against Python's description.
  void ExpectMatches(const std::string& file, const DeviceMap& devices = DeviceMap(torch::kCPU)) {
    auto tensors = ReadPyTorchStateDict(Path(file), devices);
    ASSERT_TRUE(tensors.ok()) << tensors.status();
    const nlohmann::json& expected = expected_->at(file);
    ASSERT_EQ(tensors->size(), expected.size()) << file;
    for (const NamedTensor& named : *tensors) {
      ASSERT_TRUE(expected.contains(named.name)) << file << ": " << named.name;
      const nlohmann::json& e = expected.at(named.name);
      static const std::map<std::string, std::string> kNames = {
          {"float32", "Float"}, {"float64", "Double"}, {"float16", "Half"},
          {"bfloat16", "BFloat16"}, {"int64", "Long"}, {"int32", "Int"},
          {"int8", "Char"}, {"uint8", "Byte"}, {"bool", "Bool"}};
      EXPECT_EQ(std::string(c10::toString(named.tensor.scalar_type())),
                kNames.at(e.at("dtype").get<std::string>()))
          << file << ": " << named.name;
      EXPECT_EQ(named.tensor.sizes().vec(), e.at("shape").get<std::vector<int64_t>>())
          << file << ": " << named.name;
      const std::vector<double> values = e.at("values").get<std::vector<double>>();
      const at::Tensor actual = named.tensor.to(torch::kDouble).flatten().contiguous();
      ASSERT_EQ(actual.numel(), static_cast<int64_t>(values.size()));
      for (size_t i = 0; i < values.size(); ++i) {
        EXPECT_EQ(actual[i].item<double>(), values[i]) << file << ": " << named.name << "[" << i << "]";
      }
    }
  }

  static std::string* dir_;
  static nlohmann::json* expected_;
};

std::string* PyTorchFileTest::dir_ = nullptr;
nlohmann::json* PyTorchFileTest::expected_ = nullptr;

TEST_F(PyTorchFileTest, ReadsOrderedDictWithMetadata) { ExpectMatches("ordered.pt"); }
TEST_F(PyTorchFileTest, ReadsEveryCommonDtype) { ExpectMatches("dtypes.pt"); }
TEST_F(PyTorchFileTest, ReadsProtocol4) { ExpectMatches("protocol4.pt"); }
TEST_F(PyTorchFileTest, ReadsTheModelPartOfACheckpointDict) { ExpectMatches("checkpoint.pt"); }
TEST_F(PyTorchFileTest, StripsTheDataParallelPrefix) { ExpectMatches("data_parallel.pt"); }

TEST_F(PyTorchFileTest, ReadsViewsThatShareOneStorage) {
  ExpectMatches("views.pt");
  auto tensors = ReadPyTorchStateDict(Path("views.pt"), DeviceMap(torch::kCPU));
  ASSERT_TRUE(tensors.ok());
  std::map<std::string, at::Tensor> by_name;
  for (auto& named : *tensors) by_name[named.name] = named.tensor;
  // One storage, as in Python.
  EXPECT_EQ(by_name["transposed"].data_ptr<float>(), by_name["base"].data_ptr<float>());
  EXPECT_FALSE(by_name["strided"].is_contiguous());
}

TEST_F(PyTorchFileTest, RemapsStoragesRecordedOnCuda) {
  ExpectMatches("cuda.pt");  // default: onto the CPU
  auto unmapped = DeviceMap::Parse("cuda:0=cpu", torch::kCPU);
  ASSERT_TRUE(unmapped.ok());
  auto tensors = ReadPyTorchStateDict(Path("cuda.pt"), *unmapped);
  ASSERT_FALSE(tensors.ok());
  EXPECT_NE(tensors.status().message().find("saved on cuda:1, which is not mapped"), std::string::npos)
      << tensors.status();
  auto mapped = DeviceMap::Parse("cuda:1=cpu", torch::kCPU);
  EXPECT_TRUE(ReadPyTorchStateDict(Path("cuda.pt"), *mapped).ok());
}

TEST_F(PyTorchFileTest, RefusesGlobalsAStateDictDoesNotNeedWithoutRunningThem) {
  auto tensors = ReadPyTorchStateDict(Path("evil.pt"), DeviceMap(torch::kCPU));
  ASSERT_FALSE(tensors.ok());
  EXPECT_NE(tensors.status().message().find("refusing to load global 'posix.system'"), std::string::npos)
      << tensors.status();
  EXPECT_FALSE(std::filesystem::exists(Path("EXECUTED")));
}

TEST_F(PyTorchFileTest, LegacyAndForeignFilesAreClearErrors) {
  auto legacy = ReadPyTorchStateDict(Path("legacy.pt"), DeviceMap(torch::kCPU));
  ASSERT_FALSE(legacy.ok());
  EXPECT_NE(legacy.status().message().find("legacy (non-zip) format of PyTorch before 1.6"),
            std::string::npos);
  auto none = ReadPyTorchStateDict(Path("no_state_dict.pt"), DeviceMap(torch::kCPU));
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("no state_dict found; top-level keys are epoch, notes"),
            std::string::npos)
      << none.status();
  std::ofstream(Path("text.pt")) << "hello";
  EXPECT_FALSE(ReadPyTorchStateDict(Path("text.pt"), DeviceMap(torch::kCPU)).ok());
  // A zip cut short.
  std::filesystem::copy_file(Path("ordered.pt"), Path("cut.pt"),
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::resize_file(Path("cut.pt"), std::filesystem::file_size(Path("cut.pt")) / 2);
  auto cut = ReadPyTorchStateDict(Path("cut.pt"), DeviceMap(torch::kCPU));
  ASSERT_FALSE(cut.ok());
  EXPECT_NE(cut.status().message().find(Path("cut.pt")), std::string::npos);
}

// A .pt archive around a hand-made pickle and raw storage records.
std::string HandMadeArchive(const std::string& name, const std::string& pickle,
                            const std::map<std::string, std::string>& records = {}) {
  const std::string path = ::testing::TempDir() + "/" + name;
  caffe2::serialize::PyTorchStreamWriter writer(path);
  writer.writeRecord("data.pkl", pickle.data(), pickle.size());
  for (const auto& [record, bytes] : records) writer.writeRecord(record, bytes.data(), bytes.size());
  writer.writeEndOfFile();
  return path;
}

std::string PickleText(const std::string& text) {
  std::string length(4, '\0');
  for (int i = 0; i < 4; ++i) length[i] = static_cast<char>((text.size() >> (8 * i)) & 0xff);
  return "X" + length + text;
}

std::string PickleLong(uint64_t value) {
  std::string bytes = "\x8a\x08";
  for (int i = 0; i < 8; ++i) bytes += static_cast<char>((value >> (8 * i)) & 0xff);
  return bytes;
}

absl::Status ReadHandMade(const std::string& name, const std::string& pickle,
                          const std::map<std::string, std::string>& records = {}) {
  return ReadPyTorchStateDict(HandMadeArchive(name, pickle, records), DeviceMap(torch::kCPU)).status();
}

TEST(HostilePickleTest, NestingCyclesAndSizesAreBoundedErrors) {
  using namespace std::string_literals;  // the pickles hold NUL bytes
  // 200 nested lists: consumers recurse, so depth is bounded.
  absl::Status deep = ReadHandMade("deep.pt", "\x80\x02" + std::string(200, ']') + std::string(199, 'a') + ".");
  EXPECT_NE(deep.message().find("nests objects more than 100 deep"), std::string::npos) << deep;
  // A list appended to itself, and a cycle through two lists.
  absl::Status self = ReadHandMade("self.pt", "\x80\x02]2a.");
  EXPECT_NE(self.message().find("inside itself"), std::string::npos) << self;
  absl::Status cycle = ReadHandMade("cycle.pt", "\x80\x02]q\x00]q\x01h\x00" "a0h\x01" "a."s);
  EXPECT_NE(cycle.message().find("changes an object after placing it inside another"),
            std::string::npos) << cycle;
  // 2^61 doubles is 2^64 bytes, which wraps to the 0 bytes of the record.
  const std::string storage = "(" + PickleText("storage") + "ctorch\nDoubleStorage\n" +
                              PickleText("0") + PickleText("cpu");
  absl::Status wrapped = ReadHandMade("wrapped.pt", "\x80\x02" + storage + PickleLong(uint64_t{1} << 61) + "tQ.",
                                      {{"data/0", ""}});
  EXPECT_NE(wrapped.message().find("storage data/0 has 0 bytes"), std::string::npos) << wrapped;
  // A view whose extent overflows: size 2^62 along a stride of 4.
  const std::string view = "ctorch._utils\n_rebuild_tensor_v2\n(" + storage + "K\x01tQK\x00"s +
                           PickleLong(uint64_t{1} << 62) + "\x85K\x04\x85tR.";
  absl::Status overflow = ReadHandMade("overflow.pt", "\x80\x02" + view, {{"data/0", std::string(8, '\0')}});
  EXPECT_NE(overflow.message().find("overflows 64 bits"), std::string::npos) << overflow;
}

TEST_F(PyTorchFileTest, PythonWeightsOnlyLoadsWhatWeWrite) {
  torch::manual_seed(1);
  const at::Tensor base = torch::randn({4, 6});
  std::vector<NamedTensor> tensors = {
      {"conv.weight", torch::randn({2, 1, 3, 3})}, {"f64", torch::randn({3}, torch::kDouble)},
      {"f16", torch::randn({3}).to(torch::kHalf)}, {"bf16", torch::randn({3}).to(torch::kBFloat16)},
      {"steps", torch::tensor(int64_t{1} << 40)},  {"i32", torch::arange(5, torch::kInt)},
      {"i8", torch::arange(-3, 3, torch::kChar)},  {"u8", torch::arange(250, 256, torch::kByte)},
      {"mask", torch::tensor({true, false})},      {"transposed", base.t()},
  };
  const std::string path = Path("ours.pt");
  ASSERT_TRUE(WritePyTorchStateDict(path, tensors).ok());
  const std::string output = RunCommandForTest("/usr/bin/python3 -c \""
                                 "import json, torch, collections\n"
                                 "sd = torch.load('" + path + "', weights_only=True)\n"
                                 "assert isinstance(sd, collections.OrderedDict), type(sd)\n"
                                 "print(json.dumps({k: [str(v.dtype), list(v.shape), v.double().flatten().tolist()] for k, v in sd.items()}))\"");
  // ordered_json keeps Python's key order.
  const nlohmann::ordered_json loaded = nlohmann::ordered_json::parse(output.substr(output.find('{')));
  ASSERT_EQ(loaded.size(), tensors.size());
  size_t i = 0;
  for (auto it = loaded.begin(); it != loaded.end(); ++it, ++i) {
    EXPECT_EQ(it.key(), tensors[i].name);  // same order
  }
  for (const NamedTensor& named : tensors) {
    const nlohmann::ordered_json& entry = loaded.at(named.name);
    EXPECT_EQ(entry[1].get<std::vector<int64_t>>(), named.tensor.sizes().vec()) << named.name;
    const at::Tensor values = named.tensor.to(torch::kDouble).flatten().contiguous();
    const std::vector<double> python = entry[2].get<std::vector<double>>();
    for (int64_t j = 0; j < values.numel(); ++j) {
      EXPECT_EQ(python[j], values[j].item<double>()) << named.name << "[" << j << "]";
    }
  }
  EXPECT_EQ(loaded.at("bf16")[0], "torch.bfloat16");
  EXPECT_EQ(loaded.at("mask")[0], "torch.bool");
  EXPECT_EQ(loaded.at("steps")[0], "torch.int64");
  // And our reader reads it back.
  auto back = ReadPyTorchStateDict(path, DeviceMap(torch::kCPU));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE((*back)[9].tensor.equal(base.t()));
}

}  // namespace
}  // namespace framework
