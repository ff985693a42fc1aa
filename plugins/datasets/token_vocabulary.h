// The vocabulary of a token data set: how text becomes the uint16 token ids
// of train.bin and val.bin (nanoGPT's layout) and back, as meta.json records
// it. Two tokenizers, both exact round trips:
//   char: one id per Unicode character of the text (UTF-8), the characters
//         sorted by code point, as nanoGPT's shakespeare_char prepare.py;
//   byte: one id per byte (vocabulary 256), for text that is not UTF-8.
// Written here rather than taken from a library: Debian has no tokenizer
// library for C++ of this size, and both rules are a few lines.
//
//   absl::StatusOr<TokenVocabulary> vocabulary =
//       TokenVocabulary::FromTexts({{"input.txt", text}}, "char");
//   absl::StatusOr<std::vector<uint16_t>> ids = vocabulary->Encode(text, "input.txt");
//   std::string back = vocabulary->Decode(*ids);
#ifndef PLUGINS_DATASETS_TOKEN_VOCABULARY_H_
#define PLUGINS_DATASETS_TOKEN_VOCABULARY_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace plugins {

// The file beside train.bin and val.bin that holds the vocabulary.
inline constexpr char kTokenMetaFile[] = "meta.json";

class TokenVocabulary {
 public:
  // A text and where it comes from (a file), for messages.
  using NamedText = std::pair<std::string, absl::string_view>;
  // The vocabulary of `texts` together under `tokenizer` ("char" or
  // "byte"); an error names the text and the byte offset that is not UTF-8.
  static absl::StatusOr<TokenVocabulary> FromTexts(const std::vector<NamedText>& texts,
                                                   const std::string& tokenizer);
  // As meta.json holds it; errors name `source` and the key.
  static absl::StatusOr<TokenVocabulary> FromJson(const nlohmann::json& meta,
                                                  const std::string& source);
  // Reads `dir`/meta.json.
  static absl::StatusOr<TokenVocabulary> Read(const std::string& dir);

  const std::string& tokenizer() const { return tokenizer_; }
  int64_t size() const { return static_cast<int64_t>(pieces_.size()); }

  // Errors name `source`, the offset, and the character the vocabulary lacks.
  absl::StatusOr<std::vector<uint16_t>> Encode(absl::string_view text,
                                               const std::string& source) const;
  // Ids at or above size() become U+FFFD.
  std::string Decode(const std::vector<int64_t>& ids) const;

  // {"tokenizer", "vocab_size", "itos"} (itos only for char).
  nlohmann::json ToJson() const;

 private:
  std::string tokenizer_;
  std::vector<std::string> pieces_;            // id -> UTF-8 text (char) or one byte
  std::map<std::string, uint16_t> ids_;        // char: UTF-8 text -> id
};

}  // namespace plugins

#endif  // PLUGINS_DATASETS_TOKEN_VOCABULARY_H_
