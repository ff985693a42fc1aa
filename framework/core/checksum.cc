#include "framework/core/checksum.h"

#include <xxhash.h>
#include <zlib.h>

#include <algorithm>
#include <cstdio>

namespace framework {
namespace {

uint64_t Crc32Update(uint64_t crc, const void* data, size_t size) {
  const auto* bytes = static_cast<const Bytef*>(data);
  uLong value = static_cast<uLong>(crc);
  while (size > 0) {
    // zlib takes the length as a 32-bit uInt.
    const uInt chunk = static_cast<uInt>(std::min<size_t>(size, size_t{1} << 30));
    value = crc32(value, bytes, chunk);
    bytes += chunk;
    size -= chunk;
  }
  return value;
}

}  // namespace

struct StreamingChecksum::Xxh3State {
  XXH3_state_t* state = XXH3_createState();
  ~Xxh3State() { XXH3_freeState(state); }
};

const char* ChecksumName(ChecksumKind kind) {
  return kind == ChecksumKind::kCrc32 ? "crc32" : "xxh3";
}

std::string FormatChecksum(ChecksumKind kind, uint64_t value) {
  char text[17];
  if (kind == ChecksumKind::kCrc32) {
    std::snprintf(text, sizeof(text), "%08x", static_cast<unsigned>(value));
  } else {
    std::snprintf(text, sizeof(text), "%016llx", static_cast<unsigned long long>(value));
  }
  return text;
}

std::optional<uint64_t> ParseChecksum(ChecksumKind kind, std::string_view text) {
  const size_t digits = kind == ChecksumKind::kCrc32 ? 8 : 16;
  if (text.size() != digits) return std::nullopt;
  uint64_t value = 0;
  for (char c : text) {
    int digit;
    if (c >= '0' && c <= '9') {
      digit = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      digit = c - 'a' + 10;
    } else {
      return std::nullopt;
    }
    value = (value << 4) | static_cast<uint64_t>(digit);
  }
  return value;
}

StreamingChecksum::StreamingChecksum(ChecksumKind kind) : kind_(kind) {
  if (kind_ == ChecksumKind::kXxh3) xxh3_ = std::make_unique<Xxh3State>();
  Reset();
}

void StreamingChecksum::Reset() {
  crc32_ = 0;
  if (xxh3_ != nullptr) XXH3_64bits_reset(xxh3_->state);
}

StreamingChecksum::~StreamingChecksum() = default;

void StreamingChecksum::Update(const void* data, size_t size) {
  if (kind_ == ChecksumKind::kCrc32) {
    crc32_ = Crc32Update(crc32_, data, size);
  } else {
    XXH3_64bits_update(xxh3_->state, data, size);
  }
}

uint64_t StreamingChecksum::Digest() const {
  return kind_ == ChecksumKind::kCrc32 ? crc32_ : XXH3_64bits_digest(xxh3_->state);
}

uint64_t Checksum(ChecksumKind kind, const void* data, size_t size) {
  if (kind == ChecksumKind::kCrc32) return Crc32Update(0, data, size);
  return XXH3_64bits(data, size);
}

}  // namespace framework
