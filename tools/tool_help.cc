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

}  // namespace framework
