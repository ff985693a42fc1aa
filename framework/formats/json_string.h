// A JSON string literal appended to text being built, for the writers of
// files with thousands of entries (safetensors headers, checkpoint
// manifests) that print their JSON directly instead of building a document
// with a node (and allocations) per value. nlohmann-json, which the rest of
// the framework uses, has no way to print one string without a node; this is
// the few lines it would take.
#ifndef FRAMEWORK_FORMATS_JSON_STRING_H_
#define FRAMEWORK_FORMATS_JSON_STRING_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace framework {

// Appends `value` as a quoted JSON string (RFC 8259 escapes). Text that is
// not valid UTF-8 is an error (a JSON reader would refuse the file), and
// nothing is appended.
absl::Status AppendJsonString(std::string_view value, std::string* out);

}  // namespace framework

#endif  // FRAMEWORK_FORMATS_JSON_STRING_H_
