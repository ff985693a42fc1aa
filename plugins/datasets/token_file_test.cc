// The token_file data set: windows tile the file as token_file.h says, the
// same (seed, epoch, index) gives the same window, --train_samples walks on
// through the file, validation windows are fixed, and bad files are named.
#include "plugins/datasets/token_file.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <torch/types.h>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace plugins {
namespace {

constexpr int64_t kVocab = 50;

void WriteTokens(const std::string& path, const std::vector<uint16_t>& ids) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(ids.data()), ids.size() * 2);
}

// A directory of random token files (vocabulary kVocab).
struct TokenDir {
  std::string dir;
  std::vector<uint16_t> train, val;
};

TokenDir MakeDir(const std::string& name, int64_t train_tokens, int64_t val_tokens, uint32_t seed) {
  TokenDir made;
  made.dir = testing::TempDir() + "/" + name;
  std::filesystem::create_directories(made.dir);
  std::mt19937 random(seed);
  for (int64_t i = 0; i < train_tokens; ++i) made.train.push_back(random() % kVocab);
  for (int64_t i = 0; i < val_tokens; ++i) made.val.push_back(random() % kVocab);
  WriteTokens(made.dir + "/train.bin", made.train);
  WriteTokens(made.dir + "/val.bin", made.val);
  nlohmann::json meta = {{"tokenizer", "char"}, {"vocab_size", kVocab}};
  for (int64_t i = 0; i < kVocab; ++i) meta["itos"].push_back(std::string(1, static_cast<char>('0' + i)));
  std::ofstream(made.dir + "/meta.json") << meta.dump();
  return made;
}

// Where the window `inputs` row starts in `tokens` (every window is found
// exactly once: the files are random, a window of 8+ tokens is unique).
int64_t Find(const std::vector<uint16_t>& tokens, const torch::Tensor& row) {
  const int64_t t = row.size(0);
  auto r = row.accessor<int64_t, 1>();
  int64_t found = -1;
  for (int64_t start = 0; start + t <= static_cast<int64_t>(tokens.size()); ++start) {
    bool same = true;
    for (int64_t i = 0; i < t && same; ++i) same = tokens[start + i] == r[i];
    if (same) {
      EXPECT_EQ(found, -1) << "window found twice";
      found = start;
    }
  }
  return found;
}

TEST(TokenFileTest, TrainingWindowsTileTheFileWithAShiftPerPass) {
  const uint32_t seed = std::random_device()();
  std::printf("token files drawn with seed %u\n", seed);
  const TokenDir files = MakeDir("tile", 1000, 300, seed);
  TokenFileOptions options;
  options.dir = files.dir;
  options.block_size = 16;
  options.seed = 7;
  absl::StatusOr<framework::DataSplits> data = LoadTokenFiles(options);
  ASSERT_TRUE(data.ok()) << data.status();
  const int64_t windows = (1000 - 16) / 16;
  ASSERT_EQ(data->train.size(), windows);
  EXPECT_EQ(data->train.ModelFacts(), (nlohmann::json{{"vocab_size", kVocab}, {"block_size", 16}}));
  std::set<int64_t> shifts;
  for (int64_t epoch = 0; epoch < 6; ++epoch) {
    const torch::Tensor all = torch::arange(windows, torch::kInt64);
    auto [inputs, targets] = data->train.Gather(all, epoch);
    ASSERT_EQ(inputs.sizes(), (std::vector<int64_t>{windows, 16}));
    // Targets are the inputs one token on.
    EXPECT_TRUE(torch::equal(inputs.narrow(1, 1, 15), targets.narrow(1, 0, 15)));
    std::vector<int64_t> starts;
    for (int64_t i = 0; i < windows; ++i) starts.push_back(Find(files.train, inputs[i]));
    const int64_t shift = starts[0];
    EXPECT_EQ(shift, TrainingWindowStart(7, epoch, 0, windows, windows, 16));
    EXPECT_LT(shift, 16);
    shifts.insert(shift);
    // Consecutive, non-overlapping, covering [shift, shift + windows * 16).
    for (int64_t i = 0; i < windows; ++i) EXPECT_EQ(starts[i], shift + i * 16) << "epoch " << epoch;
    // The last target token is inside the file.
    EXPECT_LE(starts.back() + 17, 1000);
    // A pure function of (seed, epoch, index): any order, any subset.
    const torch::Tensor some = torch::tensor({5, 0, 3}, torch::kInt64);
    auto [again, unused] = data->train.Gather(some, epoch);
    EXPECT_TRUE(torch::equal(again, inputs.index_select(0, some)));
  }
  EXPECT_GE(shifts.size(), 2u) << "the shift does not change between passes";
  // Another seed, other shifts.
  bool differs = false;
  for (int64_t epoch = 0; epoch < 6; ++epoch) {
    differs |= TrainingWindowStart(7, epoch, 0, windows, windows, 16) !=
               TrainingWindowStart(8, epoch, 0, windows, windows, 16);
  }
  EXPECT_TRUE(differs);
}

TEST(TokenFileTest, FewerSamplesPerEpochWalkOnThroughTheFile) {
  const TokenDir files = MakeDir("walk", 1000, 300, 3);
  TokenFileOptions options;
  options.dir = files.dir;
  options.block_size = 16;
  absl::StatusOr<framework::DataSplits> data = LoadTokenFiles(options);
  ASSERT_TRUE(data.ok()) << data.status();
  const framework::Dataset head = data->train.Head(20);  // --train_samples=20
  ASSERT_EQ(head.size(), 20);
  const int64_t windows = (1000 - 16) / 16;  // 61
  std::vector<int64_t> starts;
  for (int64_t epoch = 0; epoch < 3; ++epoch) {
    auto [inputs, targets] = head.Gather(torch::arange(20, torch::kInt64), epoch);
    for (int64_t i = 0; i < 20; ++i) starts.push_back(Find(files.train, inputs[i]));
  }
  // Epochs 0-2 are windows 0..59 of the first pass.
  const int64_t shift = starts[0];
  for (int64_t k = 0; k < 60; ++k) EXPECT_EQ(starts[k], shift + k * 16) << k;
  // Window 61 (epoch 3, sample 1) is the second pass's first.
  EXPECT_EQ(TrainingWindowStart(0, 3, 1, 20, windows, 16),
            TrainingWindowStart(0, 1, 0, windows, windows, 16));
}

TEST(TokenFileTest, ValidationWindowsAreFixed) {
  const TokenDir files = MakeDir("valid", 1000, 300, 4);
  TokenFileOptions options;
  options.dir = files.dir;
  options.block_size = 16;
  options.valid_windows = 10;
  absl::StatusOr<framework::DataSplits> data = LoadTokenFiles(options);
  ASSERT_TRUE(data.ok()) << data.status();
  ASSERT_EQ(data->valid.size(), 10);
  for (int64_t epoch : {0, 5}) {
    auto [inputs, targets] = data->valid.Gather(torch::arange(10, torch::kInt64), epoch);
    for (int64_t i = 0; i < 10; ++i) EXPECT_EQ(Find(files.val, inputs[i]), i * 16);
  }
  options.valid_windows = 0;
  data = LoadTokenFiles(options);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->valid.size(), (300 - 1) / 16);
}

TEST(TokenFileTest, BadFilesAreNamed) {
  TokenFileOptions options;
  options.block_size = 16;
  auto error = [&]() { return std::string(LoadTokenFiles(options).status().message()); };

  options.dir = MakeDir("odd", 1000, 300, 5).dir;
  { std::ofstream(options.dir + "/train.bin", std::ios::app) << 'x'; }
  EXPECT_NE(error().find(options.dir + "/train.bin: 2001 bytes, an odd size"), std::string::npos)
      << error();

  options.dir = MakeDir("too_big_id", 1000, 300, 6).dir;
  std::vector<uint16_t> val(300, 1);
  val[123] = kVocab;
  WriteTokens(options.dir + "/val.bin", val);
  EXPECT_NE(error().find(options.dir + "/val.bin: token 123 is id 50, outside the vocabulary of 50"),
            std::string::npos)
      << error();

  options.dir = MakeDir("no_meta", 1000, 300, 7).dir;
  std::filesystem::remove(options.dir + "/meta.json");
  EXPECT_NE(error().find(options.dir + "/meta.json not found"), std::string::npos) << error();

  options.dir = MakeDir("short", 20, 300, 8).dir;
  EXPECT_NE(error().find(options.dir + "/train.bin: 20 tokens are too few for one window of "
                                       "block_size 16"),
            std::string::npos)
      << error();

  options.dir = MakeDir("no_train", 1000, 300, 9).dir;
  std::filesystem::remove(options.dir + "/train.bin");
  EXPECT_NE(error().find(options.dir + "/train.bin"), std::string::npos) << error();

  options.dir = "";
  EXPECT_NE(error().find("--data_dir"), std::string::npos) << error();
}

}  // namespace
}  // namespace plugins
