// The errors of flags a user set, in one wording for every binary (the
// experiments, //tools:evaluate, //tools:ckpt): "--<flag>: <problem>", or,
// for a flag whose value came from a flag file, "--<flag> (<file>:<line>):
// <problem>". And the one parser of flags whose value is a JSON object
// (--model_options, --optimizer_options, --scheduler_options).
#ifndef FRAMEWORK_EXPERIMENT_FLAG_ERROR_H_
#define FRAMEWORK_EXPERIMENT_FLAG_ERROR_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace framework {

// InvalidArgument "<FlagName(flag)>: <problem>".
absl::Status FlagError(absl::string_view flag, absl::string_view problem);

// "--epochs", or "--epochs (experiments/lenet.flags:12)" when the value in
// effect was read from that line of a flag file.
std::string FlagName(absl::string_view flag);

// Where the value of `flag` in effect was set: a flag file's "path:line"
// (the flag-file reader notes them in the order gflags applies them), or
// cleared when a later command-line argument sets it. Start-up only.
void NoteFlagLocation(const std::string& flag, const std::string& location);
void ClearFlagLocation(const std::string& flag);

// The JSON object `text` (empty text: {}), or a FlagError naming `flag`, the
// text and where the parse failed.
absl::StatusOr<nlohmann::json> ParseJsonObjectFlag(absl::string_view flag,
                                                   const std::string& text);

}  // namespace framework

#endif  // FRAMEWORK_EXPERIMENT_FLAG_ERROR_H_
