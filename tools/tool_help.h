// --help and --helpshort for the command-line tools: the tool's usage and its
// own flags with their values, instead of gflags' list that starts with pages
// of LibTorch's caffe2_* flags (still there under --helpfull); and the whole
// command line of a tool that takes flags only.
#ifndef TOOLS_TOOL_HELP_H_
#define TOOLS_TOOL_HELP_H_

#include <functional>

#include "absl/status/status.h"

namespace framework {

// After gflags::ParseCommandLineNonHelpFlags: when --help or --helpshort was
// given, prints `usage` and the flags defined in `source_file` (pass
// __FILE__) and returns true, and the tool exits 0.
bool HandleToolHelp(const char* usage, const char* source_file);

// main() of a tool that takes flags only (evaluate, tokenize, sample): sets
// `usage`, parses the flags (--help as above), refuses a positional argument
// (exit 2), runs `run` and prints its error as "<name>: <message>" (exit 1).
int RunFlagsOnlyTool(int argc, char** argv, const char* name, const char* usage,
                     const char* source_file, const std::function<absl::Status()>& run);

}  // namespace framework

#endif  // TOOLS_TOOL_HELP_H_
