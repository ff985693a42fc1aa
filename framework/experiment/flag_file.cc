#include "framework/experiment/flag_file.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "gflags/gflags.h"

namespace framework {

absl::Status CheckFlagFileText(const std::string& name, const std::string& text) {
  std::istringstream in(text);
  std::string line;
  int line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    absl::string_view flag = absl::StripAsciiWhitespace(line);
    if (flag.empty() || flag[0] == '#') continue;
    if (flag[0] != '-') {
      return absl::InvalidArgumentError(absl::StrCat(
          name, ":", line_number, ": '", flag, "' is not a flag (lines look like --name=value)"));
    }
    while (!flag.empty() && flag[0] == '-') flag.remove_prefix(1);
    const std::string flag_name(flag.substr(0, flag.find('=')));
    gflags::CommandLineFlagInfo info;
    if (gflags::GetCommandLineFlagInfo(flag_name.c_str(), &info)) continue;
    // Boolean flags may be negated as --noname.
    if (absl::StartsWith(flag_name, "no") &&
        gflags::GetCommandLineFlagInfo(flag_name.substr(2).c_str(), &info) && info.type == "bool") {
      continue;
    }
    return absl::InvalidArgumentError(absl::StrCat(name, ":", line_number, ": unknown flag --",
                                                   flag_name,
                                                   " (run with --helpshort to list the flags)"));
  }
  return absl::OkStatus();
}

absl::Status CheckFlagFiles(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (!absl::ConsumePrefix(&arg, "--flagfile=")) continue;
    const std::string path(arg);
    std::ifstream in(path);
    if (!in) {
      return absl::NotFoundError(
          absl::StrCat("cannot open flag file ", path, ": ", std::strerror(errno)));
    }
    std::stringstream text;
    text << in.rdbuf();
    if (absl::Status status = CheckFlagFileText(path, text.str()); !status.ok()) return status;
  }
  return absl::OkStatus();
}

}  // namespace framework
