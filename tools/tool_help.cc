#include "tools/tool_help.h"

#include <cstdio>
#include <string>
#include <vector>

#include "gflags/gflags.h"

namespace framework {

bool HandleToolHelp(const char* usage, const char* source_file) {
  std::string help, helpshort;
  gflags::GetCommandLineOption("help", &help);
  gflags::GetCommandLineOption("helpshort", &helpshort);
  if (help != "true" && helpshort != "true") return false;
  std::printf("%s\nFlags, with their values:\n", usage);
  std::vector<gflags::CommandLineFlagInfo> flags;
  gflags::GetAllFlags(&flags);
  for (const gflags::CommandLineFlagInfo& flag : flags) {
    if (flag.filename != source_file) continue;
    std::printf("  --%s=%s\n      %s\n", flag.name.c_str(), flag.current_value.c_str(),
                flag.description.c_str());
  }
  std::printf("\nAll flags, LibTorch's and logging's included: --helpfull\n");
  return true;
}

int RunFlagsOnlyTool(int argc, char** argv, const char* name, const char* usage,
                     const char* source_file, const std::function<absl::Status()>& run) {
  gflags::SetUsageMessage(usage);
  gflags::ParseCommandLineNonHelpFlags(&argc, &argv, true);
  if (HandleToolHelp(usage, source_file)) return 0;
  gflags::HandleCommandLineHelpFlags();
  if (argc > 1) {
    std::fprintf(stderr, "%s: unexpected argument '%s' (flags look like --name=value)\n", name,
                 argv[1]);
    return 2;
  }
  const absl::Status status = run();
  if (!status.ok()) {
    std::fprintf(stderr, "%s: %s\n", name, std::string(status.message()).c_str());
    return 1;
  }
  return 0;
}

}  // namespace framework
