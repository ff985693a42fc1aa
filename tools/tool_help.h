// --help and --helpshort for the command-line tools: the tool's usage and its
// own flags with their values, instead of gflags' list that starts with pages
// of LibTorch's caffe2_* flags (still there under --helpfull).
#ifndef TOOLS_TOOL_HELP_H_
#define TOOLS_TOOL_HELP_H_

namespace framework {

// After gflags::ParseCommandLineNonHelpFlags: when --help or --helpshort was
// given, prints `usage` and the flags defined in `source_file` (pass
// __FILE__) and returns true, and the tool exits 0.
bool HandleToolHelp(const char* usage, const char* source_file);

}  // namespace framework

#endif  // TOOLS_TOOL_HELP_H_
