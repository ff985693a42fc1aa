#include "plugins/datasets/token_file.h"

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <utility>
#include <vector>

#include <torch/types.h>

#include "absl/strings/str_cat.h"
#include "framework/core/declared_options.h"
#include "framework/core/env.h"
#include "framework/core/random_state.h"
#include "plugins/datasets/token_vocabulary.h"

namespace plugins {
namespace {

// A file of uint16 token ids, read by position.
class TokenFile {
 public:
  static absl::StatusOr<std::shared_ptr<const TokenFile>> Open(const std::string& path,
                                                               int64_t vocab_size) {
    absl::StatusOr<std::unique_ptr<framework::RandomAccessFile>> file =
        framework::Env::Default()->NewRandomAccessFile(path, /*sequential=*/false);
    if (!file.ok()) return file.status();
    absl::StatusOr<uint64_t> bytes = (*file)->Size();
    if (!bytes.ok()) return bytes.status();
    if (*bytes % 2 != 0) {
      return absl::DataLossError(absl::StrCat(path, ": ", *bytes,
                                              " bytes, an odd size: not uint16 token ids"));
    }
    auto token_file = std::shared_ptr<TokenFile>(new TokenFile(*std::move(file), *bytes / 2));
    // Every id checked once, a chunk at a time, so a bad file fails here,
    // naming where, not in the middle of training.
    constexpr int64_t kChunk = 1 << 20;
    std::vector<uint16_t> ids;
    for (int64_t start = 0; start < token_file->tokens(); start += kChunk) {
      const int64_t count = std::min(kChunk, token_file->tokens() - start);
      if (absl::Status status = token_file->Read(start, count, ids); !status.ok()) return status;
      auto bad = std::find_if(ids.begin(), ids.end(), [&](uint16_t id) { return id >= vocab_size; });
      if (bad != ids.end()) {
        return absl::DataLossError(absl::StrCat(
            path, ": token ", start + (bad - ids.begin()), " is id ", *bad,
            ", outside the vocabulary of ", vocab_size, " (", kTokenMetaFile, ")"));
      }
    }
    return std::shared_ptr<const TokenFile>(std::move(token_file));
  }

  int64_t tokens() const { return tokens_; }
  const std::string& path() const { return file_->path(); }

  absl::Status Read(int64_t start, int64_t count, std::vector<uint16_t>& ids) const {
    ids.resize(count);
    absl::StatusOr<size_t> read = file_->Read(start * 2, count * 2, ids.data());
    if (!read.ok()) return read.status();
    if (*read != static_cast<size_t>(count * 2)) {
      return absl::DataLossError(absl::StrCat(path(), ": short read at token ", start,
                                              " (the file shrank?)"));
    }
    // The files are little-endian, as this machine (x86-64, aarch64) is.
    static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "token files are little-endian");
    return absl::OkStatus();
  }

 private:
  TokenFile(std::unique_ptr<framework::RandomAccessFile> file, int64_t tokens)
      : file_(std::move(file)), tokens_(tokens) {}
  std::unique_ptr<framework::RandomAccessFile> file_;
  int64_t tokens_;
};

class TokenWindows : public framework::SampleSource {
 public:
  // `fixed`: the validation windows, at j * block_size; otherwise training's.
  TokenWindows(std::shared_ptr<const TokenFile> file, int64_t block_size, int64_t windows,
               int64_t samples, uint64_t seed, bool fixed)
      : file_(std::move(file)),
        block_size_(block_size),
        windows_(windows),
        samples_(samples),
        seed_(seed),
        fixed_(fixed) {}

  int64_t size() const override { return samples_; }

  std::pair<torch::Tensor, torch::Tensor> Gather(const torch::Tensor& indices,
                                                 int64_t epoch) const override {
    const torch::Tensor where = indices.to(torch::kInt64).contiguous();
    const int64_t count = where.numel();
    const int64_t* index = where.data_ptr<int64_t>();
    torch::Tensor windows = torch::empty({count, block_size_ + 1}, torch::kInt64);
    int64_t* out = windows.data_ptr<int64_t>();
    std::vector<uint16_t> ids;
    for (int64_t b = 0; b < count; ++b) {
      const int64_t start =
          fixed_ ? index[b] * block_size_
                 : TrainingWindowStart(seed_, epoch, index[b], samples_, windows_, block_size_);
      if (absl::Status status = file_->Read(start, block_size_ + 1, ids); !status.ok()) {
        throw std::runtime_error(std::string(status.message()));
      }
      std::copy(ids.begin(), ids.end(), out + b * (block_size_ + 1));
    }
    return {windows.narrow(1, 0, block_size_), windows.narrow(1, 1, block_size_)};
  }

  std::shared_ptr<const framework::SampleSource> Head(int64_t count) const override {
    return std::make_shared<TokenWindows>(file_, block_size_, windows_, count, seed_, fixed_);
  }

 private:
  std::shared_ptr<const TokenFile> file_;
  int64_t block_size_;
  int64_t windows_;
  int64_t samples_;
  uint64_t seed_;
  bool fixed_;
};

}  // namespace

int64_t TrainingWindowStart(uint64_t seed, int64_t epoch, int64_t index, int64_t samples_per_epoch,
                            int64_t windows, int64_t block_size) {
  const int64_t k = epoch * samples_per_epoch + index;
  const int64_t pass = k / windows;
  const int64_t shift =
      static_cast<int64_t>(framework::MixSeed(seed ^ framework::MixSeed(static_cast<uint64_t>(pass))) %
                           static_cast<uint64_t>(block_size));
  return shift + (k % windows) * block_size;
}

absl::StatusOr<framework::DataSplits> LoadTokenFiles(const TokenFileOptions& options) {
  if (options.dir.empty()) {
    return absl::InvalidArgumentError(
        "--data_dir: the token_file data set needs the directory of train.bin, val.bin and "
        "meta.json (make one with //tools:tokenize)");
  }
  absl::StatusOr<TokenVocabulary> vocabulary = TokenVocabulary::Read(options.dir);
  if (!vocabulary.ok()) return vocabulary.status();
  const int64_t t = options.block_size;
  framework::DataSplits splits;
  for (const char* name : {"train.bin", "val.bin"}) {
    const bool training = std::string(name) == "train.bin";
    absl::StatusOr<std::shared_ptr<const TokenFile>> file =
        TokenFile::Open(absl::StrCat(options.dir, "/", name), vocabulary->size());
    if (!file.ok()) return file.status();
    const int64_t tokens = (*file)->tokens();
    // Training windows start anywhere in [0, block_size) and tile from
    // there; validation's start at 0.
    const int64_t windows = training ? (tokens - t) / t : (tokens - 1) / t;
    if (windows < 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          (*file)->path(), ": ", tokens, " tokens are too few for one window of block_size ", t,
          " (--dataset_options): it needs at least ", training ? 2 * t : t + 1));
    }
    int64_t samples = windows;
    if (!training && options.valid_windows > 0) samples = std::min(samples, options.valid_windows);
    framework::Dataset& split = training ? splits.train : splits.valid;
    split.source =
        std::make_shared<TokenWindows>(*file, t, windows, samples, options.seed, !training);
    split.model_facts = {{"vocab_size", vocabulary->size()}, {"block_size", t}};
  }
  return splits;
}

REGISTER_DATASET(
    "token_file",
    [](const framework::DataOptions& options) {
      TokenFileOptions token;
      token.dir = options.data_dir;
      token.block_size = options.options.Int("block_size");
      token.valid_windows = options.options.Int("valid_windows");
      token.seed = options.seed;
      return LoadTokenFiles(token);
    },
    framework::DeclaredOptions{
        framework::IntOption("block_size", 128, "Tokens a sample's inputs hold (its context).")
            .AtLeast(1),
        framework::IntOption("valid_windows", 0,
                             "Validation windows, from the start of val.bin (0: all).")
            .AtLeast(0),
    });

}  // namespace plugins
