#include "framework/formats/json_string.h"

#include <simdjson.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace framework {

absl::Status AppendJsonString(std::string_view value, std::string* out) {
  if (!simdjson::validate_utf8(value.data(), value.size())) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", absl::CHexEscape(absl::string_view(value.data(), value.size())), "' is not valid UTF-8"));
  }
  out->push_back('"');
  size_t plain = 0;  // start of the run of characters that need no escape
  for (size_t i = 0; i < value.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(value[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out->append(value.data() + plain, i - plain);
    plain = i + 1;
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\t': out->append("\\t"); break;
      case '\r': out->append("\\r"); break;
      case '\b': out->append("\\b"); break;
      case '\f': out->append("\\f"); break;
      default: absl::StrAppendFormat(out, "\\u%04x", c);
    }
  }
  out->append(value.data() + plain, value.size() - plain);
  out->push_back('"');
  return absl::OkStatus();
}

}  // namespace framework
