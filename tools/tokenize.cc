// tokenize: text files -> a token data set (train.bin, val.bin, meta.json;
// nanoGPT's layout, read by the token_file data set).
//
//   tools/bazel run //tools:tokenize -- --input=/usr/share/games/fortunes --out=data/fortunes
//
// --input lists files and directories (comma-separated); a directory's
// regular files are taken in name order, without its symbolic links and
// fortune's strfile indexes (*.dat), so Debian's fortunes directory reads as
// its text. The texts are joined in that order and split as nanoGPT's
// prepare.py splits: the first (1 - val_fraction) of the tokens train, the
// rest validate. --out must not hold a data set already (nothing is
// overwritten); the files are written beside it and renamed into place.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "framework/core/durable_file.h"
#include "framework/core/user_path.h"
#include "gflags/gflags.h"
#include "nlohmann/json.hpp"
#include "plugins/datasets/token_vocabulary.h"
#include "tools/tool_help.h"

DEFINE_string(input, "/usr/share/games/fortunes",
              "Comma-separated text files and directories (default: Debian's fortunes).");
DEFINE_string(out, "", "Directory to create with train.bin, val.bin and meta.json (required).");
DEFINE_string(tokenizer, "char", "char: one id per Unicode character; byte: one per byte.");
DEFINE_double(val_fraction, 0.1, "Share of the tokens, from the end, that validate (0 < f < 1).");

namespace {

namespace fs = std::filesystem;

absl::StatusOr<std::vector<std::string>> InputFiles() {
  std::vector<std::string> files;
  for (absl::string_view item : absl::StrSplit(FLAGS_input, ',', absl::SkipEmpty())) {
    const std::string path = framework::ResolveUserPath(std::string(item));
    std::error_code error;
    if (fs::is_directory(path, error)) {
      std::vector<std::string> found;
      for (const fs::directory_entry& entry : fs::directory_iterator(path, error)) {
        const std::string name = entry.path().filename().string();
        if (entry.is_symlink() || !entry.is_regular_file()) continue;
        if (name.size() > 4 && name.substr(name.size() - 4) == ".dat") continue;
        found.push_back(entry.path().string());
      }
      if (error) return absl::NotFoundError(absl::StrCat("--input: ", path, ": ", error.message()));
      std::sort(found.begin(), found.end());
      if (found.empty()) return absl::NotFoundError(absl::StrCat("--input: ", path, " holds no text files"));
      files.insert(files.end(), found.begin(), found.end());
    } else if (fs::is_regular_file(path, error)) {
      files.push_back(path);
    } else {
      return absl::NotFoundError(absl::StrCat(
          "--input: ", path, " is neither a file nor a directory",
          FLAGS_input == "/usr/share/games/fortunes" ? " (install Debian's fortunes package)" : ""));
    }
  }
  if (files.empty()) return absl::InvalidArgumentError("--input: no files given");
  return files;
}

std::string Bytes(const std::vector<uint16_t>& ids) {
  return std::string(reinterpret_cast<const char*>(ids.data()), ids.size() * sizeof(uint16_t));
}

absl::Status Tokenize() {
  if (FLAGS_out.empty()) return absl::InvalidArgumentError("--out: the directory to write is required");
  if (!(FLAGS_val_fraction > 0 && FLAGS_val_fraction < 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--val_fraction: must be in (0, 1), got ", FLAGS_val_fraction));
  }
  const std::string out = framework::ResolveUserPath(FLAGS_out);
  for (const char* name : {"train.bin", "val.bin", plugins::kTokenMetaFile}) {
    if (fs::exists(fs::path(out) / name)) {
      return absl::AlreadyExistsError(absl::StrCat(
          "--out: ", out, " already holds ", name, "; nothing is overwritten: choose another "
          "directory or remove it"));
    }
  }
  absl::StatusOr<std::vector<std::string>> files = InputFiles();
  if (!files.ok()) return files.status();
  // Each file read once; the vocabulary is of them all, each error names
  // its file.
  std::vector<std::string> contents;
  nlohmann::json sources = nlohmann::json::array();
  for (const std::string& file : *files) {
    absl::StatusOr<std::string> read = framework::ReadFileToString(file);
    if (!read.ok()) return read.status();
    sources.push_back({{"path", file}, {"bytes", read->size()}});
    contents.push_back(*std::move(read));
  }
  std::vector<plugins::TokenVocabulary::NamedText> texts;
  for (size_t i = 0; i < files->size(); ++i) texts.emplace_back((*files)[i], contents[i]);
  absl::StatusOr<plugins::TokenVocabulary> vocabulary =
      plugins::TokenVocabulary::FromTexts(texts, FLAGS_tokenizer);
  if (!vocabulary.ok()) return vocabulary.status();
  std::vector<uint16_t> ids;
  for (const auto& [file, text] : texts) {
    absl::StatusOr<std::vector<uint16_t>> encoded = vocabulary->Encode(text, file);
    if (!encoded.ok()) return encoded.status();
    ids.insert(ids.end(), encoded->begin(), encoded->end());
  }
  const size_t train_tokens =
      static_cast<size_t>(static_cast<double>(ids.size()) * (1.0 - FLAGS_val_fraction));
  if (train_tokens == 0 || train_tokens == ids.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--input: ", ids.size(), " tokens are too few to split at --val_fraction=",
        FLAGS_val_fraction));
  }
  const std::vector<uint16_t> train(ids.begin(), ids.begin() + train_tokens);
  const std::vector<uint16_t> val(ids.begin() + train_tokens, ids.end());
  nlohmann::json meta = vocabulary->ToJson();
  meta["dtype"] = "uint16";
  meta["split"] = {{"val_fraction", FLAGS_val_fraction},
                   {"train_tokens", train.size()},
                   {"val_tokens", val.size()},
                   {"rule", "train: the first tokens, val: the last"}};
  meta["sources"] = sources;

  std::error_code error;
  fs::create_directories(out, error);
  if (error) return absl::InternalError(absl::StrCat("--out: ", out, ": ", error.message()));
  // meta.json last: a directory with it is complete.
  const std::vector<std::pair<std::string, std::string>> writes = {
      {"train.bin", Bytes(train)}, {"val.bin", Bytes(val)}, {plugins::kTokenMetaFile, meta.dump(1)}};
  for (const auto& [name, contents] : writes) {
    const std::string path = (fs::path(out) / name).string();
    if (absl::Status status = framework::WriteStringToFile(path + ".partial", contents, true);
        !status.ok()) {
      return status;
    }
    if (absl::Status status = framework::RenameDurably(path + ".partial", path); !status.ok()) {
      return status;
    }
  }
  std::printf("%s: %zu files, %zu tokens (%zu train, %zu val), %s vocabulary of %lld\n",
              out.c_str(), files->size(), ids.size(), train.size(), val.size(),
              vocabulary->tokenizer().c_str(), static_cast<long long>(vocabulary->size()));
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  static const char kUsage[] =
      "usage: tokenize --out=DIR [--input=FILES_OR_DIRS] [--tokenizer=char|byte] "
      "[--val_fraction=0.1]\n"
      "Writes a token data set (train.bin, val.bin, meta.json) for --dataset=token_file.\n";
  return framework::RunFlagsOnlyTool(argc, argv, "tokenize", kUsage, __FILE__, Tokenize);
}
