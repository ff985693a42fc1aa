// The token_file data set: nanoGPT's layout, a directory of train.bin and
// val.bin (little-endian uint16 token ids) and meta.json (the vocabulary,
// token_vocabulary.h), as //tools:tokenize writes it. The files are read with
// pread when a batch needs them, never whole, so their size is the disk's.
//
// A sample is a window of block_size + 1 tokens: inputs its first
// block_size, targets its last block_size (the next token at every
// position). Training windows tile the file: a pass is the
// N = (tokens - block_size) / block_size windows at shift + j * block_size,
// the shift in [0, block_size) drawn anew for each pass from (seed, pass),
// so every token is seen at every position over the passes. Sample i of
// epoch e is window k = e * S + i of that sequence (S samples per epoch: N,
// or fewer with --train_samples, when epochs walk through the file), a pure
// function of (seed, epoch, index). Validation windows are fixed, at
// j * block_size from the start, so the number is comparable between runs.
//
// Options (--dataset_options): block_size, valid_windows (0: all of them).
// The model learns the vocabulary size and block_size from the data set.
#ifndef PLUGINS_DATASETS_TOKEN_FILE_H_
#define PLUGINS_DATASETS_TOKEN_FILE_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "framework/data/dataset.h"

namespace plugins {

struct TokenFileOptions {
  std::string dir;
  int64_t block_size = 128;
  int64_t valid_windows = 0;  // 0: every window of val.bin
  uint64_t seed = 0;
};

absl::StatusOr<framework::DataSplits> LoadTokenFiles(const TokenFileOptions& options);

// Where sample `index` of epoch `epoch` starts in the training file, for
// `samples_per_epoch` samples per epoch out of `windows` per pass.
int64_t TrainingWindowStart(uint64_t seed, int64_t epoch, int64_t index, int64_t samples_per_epoch,
                            int64_t windows, int64_t block_size);

}  // namespace plugins

#endif  // PLUGINS_DATASETS_TOKEN_FILE_H_
