// The errors of flags a user set, in one wording for every binary (the
// experiments, //tools:evaluate, //tools:ckpt): "--<flag>: <problem>". And the
// one parser of flags whose value is a JSON object (--model_options,
// --optimizer_options, --scheduler_options).
#ifndef FRAMEWORK_EXPERIMENT_FLAG_ERROR_H_
#define FRAMEWORK_EXPERIMENT_FLAG_ERROR_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace framework {

// InvalidArgument "--<flag>: <problem>".
absl::Status FlagError(absl::string_view flag, absl::string_view problem);

// The JSON object `text` (empty text: {}), or a FlagError naming `flag`, the
// text and where the parse failed.
absl::StatusOr<nlohmann::json> ParseJsonObjectFlag(absl::string_view flag,
                                                   const std::string& text);

}  // namespace framework

#endif  // FRAMEWORK_EXPERIMENT_FLAG_ERROR_H_
