#include "plugins/datasets/token_vocabulary.h"

#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace plugins {
namespace {

// The length of the UTF-8 character at `text[at]`, 0 when it is not one
// (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF).
size_t Utf8Length(absl::string_view text, size_t at) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(at);
  size_t length = 0;
  uint32_t code = 0;
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) length = 2, code = lead & 0x1F;
  else if (lead >= 0xE0 && lead <= 0xEF) length = 3, code = lead & 0x0F;
  else if (lead >= 0xF0 && lead <= 0xF4) length = 4, code = lead & 0x07;
  else return 0;
  if (at + length > text.size()) return 0;
  for (size_t i = 1; i < length; ++i) {
    if ((byte(at + i) & 0xC0) != 0x80) return 0;
    code = (code << 6) | (byte(at + i) & 0x3F);
  }
  if ((length == 3 && (code < 0x800 || (code >= 0xD800 && code <= 0xDFFF))) ||
      (length == 4 && (code < 0x10000 || code > 0x10FFFF))) {
    return 0;
  }
  return length;
}

absl::Status NotUtf8(const std::string& source, size_t offset, absl::string_view text) {
  return absl::InvalidArgumentError(absl::StrFormat(
      "%s: byte %d (0x%02x) is not UTF-8 text; use the byte tokenizer for such data", source,
      offset, static_cast<unsigned char>(text[offset])));
}

}  // namespace

absl::StatusOr<TokenVocabulary> TokenVocabulary::FromTexts(const std::vector<NamedText>& texts,
                                                           const std::string& tokenizer) {
  TokenVocabulary vocabulary;
  vocabulary.tokenizer_ = tokenizer;
  if (tokenizer == "byte") {
    for (int b = 0; b < 256; ++b) vocabulary.pieces_.push_back(std::string(1, static_cast<char>(b)));
    return vocabulary;
  }
  if (tokenizer != "char") {
    return absl::InvalidArgumentError(
        absl::StrCat("tokenizer must be char or byte, got '", tokenizer, "'"));
  }
  // Sorted by code point: UTF-8's byte order is code point order.
  std::set<std::string> characters;
  for (const auto& [source, text] : texts) {
    for (size_t at = 0; at < text.size();) {
      const size_t length = Utf8Length(text, at);
      if (length == 0) return NotUtf8(source, at, text);
      characters.insert(std::string(text.substr(at, length)));
      at += length;
    }
  }
  if (characters.size() > 65536) {
    return absl::InvalidArgumentError(absl::StrCat(
        characters.size(), " distinct characters do not fit uint16 token ids"));
  }
  for (const std::string& character : characters) {
    vocabulary.ids_[character] = static_cast<uint16_t>(vocabulary.pieces_.size());
    vocabulary.pieces_.push_back(character);
  }
  return vocabulary;
}

absl::StatusOr<TokenVocabulary> TokenVocabulary::FromJson(const nlohmann::json& meta,
                                                          const std::string& source) {
  auto bad = [&](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", what));
  };
  if (!meta.is_object()) return bad("is not a JSON object");
  if (!meta.contains("tokenizer") || !meta["tokenizer"].is_string()) {
    return bad("lacks 'tokenizer' (char or byte)");
  }
  if (!meta.contains("vocab_size") || !meta["vocab_size"].is_number_integer()) {
    return bad("lacks an integer 'vocab_size'");
  }
  const std::string tokenizer = meta["tokenizer"].get<std::string>();
  const int64_t vocab_size = meta["vocab_size"].get<int64_t>();
  TokenVocabulary vocabulary;
  vocabulary.tokenizer_ = tokenizer;
  if (tokenizer == "byte") {
    if (vocab_size != 256) return bad(absl::StrCat("'vocab_size' is ", vocab_size, ", byte: 256"));
    return FromTexts({}, "byte");
  }
  if (tokenizer != "char") return bad(absl::StrCat("'tokenizer' must be char or byte, got '",
                                                    tokenizer, "'"));
  if (!meta.contains("itos") || !meta["itos"].is_array()) {
    return bad("lacks 'itos', the character of each token id");
  }
  for (const nlohmann::json& piece : meta["itos"]) {
    if (!piece.is_string()) return bad("'itos' holds a value that is not a string");
    const std::string text = piece.get<std::string>();
    if (vocabulary.ids_.count(text) != 0) {
      return bad(absl::StrCat("'itos' lists ", nlohmann::json(text).dump(), " twice"));
    }
    vocabulary.ids_[text] = static_cast<uint16_t>(vocabulary.pieces_.size());
    vocabulary.pieces_.push_back(text);
  }
  if (vocabulary.size() != vocab_size) {
    return bad(absl::StrCat("'vocab_size' is ", vocab_size, " but 'itos' lists ",
                            vocabulary.size(), " characters"));
  }
  return vocabulary;
}

absl::StatusOr<TokenVocabulary> TokenVocabulary::Read(const std::string& dir) {
  const std::string path = absl::StrCat(dir, "/", kTokenMetaFile);
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(absl::StrCat(
        path, " not found: a token data set is a directory of train.bin, val.bin and meta.json, "
              "as //tools:tokenize writes it"));
  }
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json meta = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (meta.is_discarded()) return absl::InvalidArgumentError(absl::StrCat(path, ": not JSON"));
  return FromJson(meta, path);
}

absl::StatusOr<std::vector<uint16_t>> TokenVocabulary::Encode(absl::string_view text,
                                                              const std::string& source) const {
  std::vector<uint16_t> ids;
  ids.reserve(text.size());
  if (tokenizer_ == "byte") {
    for (char c : text) ids.push_back(static_cast<unsigned char>(c));
    return ids;
  }
  for (size_t at = 0; at < text.size();) {
    const size_t length = Utf8Length(text, at);
    if (length == 0) return NotUtf8(source, at, text);
    const std::string character(text.substr(at, length));
    auto it = ids_.find(character);
    if (it == ids_.end()) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": byte ", at, ": character ",
                                                     nlohmann::json(character).dump(),
                                                     " is not in the vocabulary"));
    }
    ids.push_back(it->second);
    at += length;
  }
  return ids;
}

std::string TokenVocabulary::Decode(const std::vector<int64_t>& ids) const {
  std::string text;
  for (int64_t id : ids) {
    text += id >= 0 && id < size() ? pieces_[id] : std::string("\xEF\xBF\xBD");
  }
  return text;
}

nlohmann::json TokenVocabulary::ToJson() const {
  nlohmann::json meta = {{"tokenizer", tokenizer_}, {"vocab_size", size()}};
  if (tokenizer_ == "char") meta["itos"] = pieces_;
  return meta;
}

}  // namespace plugins
