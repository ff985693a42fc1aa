// gflags flag files (one --name=value a line, # comments), checked before
// gflags reads them so that an unknown flag is reported with its file and
// line rather than by gflags' own message.
#ifndef FRAMEWORK_EXPERIMENT_FLAG_FILE_H_
#define FRAMEWORK_EXPERIMENT_FLAG_FILE_H_

#include <string>

#include "absl/status/status.h"

namespace framework {

// Checks the text of a flag file; `name` is its path in messages.
absl::Status CheckFlagFileText(const std::string& name, const std::string& text);

// Checks every --flagfile=PATH argument.
absl::Status CheckFlagFiles(int argc, char** argv);

}  // namespace framework

#endif  // FRAMEWORK_EXPERIMENT_FLAG_FILE_H_
