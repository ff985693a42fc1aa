#include "framework/experiment/flag_file.h"

#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "framework/core/durable_file.h"
#include "framework/experiment/flag_error.h"
#include "gflags/gflags.h"

namespace framework {

namespace {

// Flag files may include others (--flagfile=a,b); gflags exits the process
// on a missing one and recurses without end on a cycle, so both are checked
// here first.
constexpr int kMaxFlagFileNesting = 8;

absl::Status CheckFlagFileTextAt(const std::string& name, const std::string& text, int depth);

// gflags acts on these wherever they appear, by printing and exiting.
bool IsHelpFlag(const std::string& name) {
  for (const char* help : {"help", "helpfull", "helpshort", "helpxml", "helpon", "helpmatch",
                           "helppackage", "version"}) {
    if (name == help) return true;
  }
  return false;
}

absl::Status CheckIncludedFlagFiles(const std::string& name, int line_number,
                                    absl::string_view paths, int depth) {
  for (absl::string_view path_view : absl::StrSplit(paths, ',')) {
    // gflags would try to open "" and exit.
    if (absl::StripAsciiWhitespace(path_view).empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, ":", line_number, ": --flagfile needs a path in each comma-separated place"));
    }
    const std::string path(path_view);
    if (depth >= kMaxFlagFileNesting) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, ":", line_number, ": --flagfile=", path, " nests flag files more than ",
          kMaxFlagFileNesting, " deep (do they include each other?)"));
    }
    std::error_code error;
    if (std::filesystem::exists(path, error) && !std::filesystem::is_regular_file(path, error)) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ":", line_number, ": flag file ", path, " is not a regular file"));
    }
    absl::StatusOr<std::string> included = ReadFileToString(path);
    if (!included.ok()) {
      return absl::Status(included.status().code(),
                          absl::StrCat(name, ":", line_number, ": flag file: ",
                                       included.status().message()));
    }
    if (absl::Status status = CheckFlagFileTextAt(path, *included, depth + 1); !status.ok()) {
      return status;
    }
  }
  return absl::OkStatus();
}

// Checks one line (as gflags splits them) of a flag file.
absl::Status CheckFlagLine(const std::string& name, int line_number, absl::string_view line,
                           int depth) {
  absl::string_view flag = absl::StripAsciiWhitespace(line);
  if (flag.empty() || flag[0] == '#') return absl::OkStatus();
  if (flag[0] != '-') {
    return absl::InvalidArgumentError(absl::StrCat(
        name, ":", line_number, ": '", flag, "' is not a flag (lines look like --name=value)"));
  }
  while (!flag.empty() && flag[0] == '-') flag.remove_prefix(1);
  const std::string flag_name(flag.substr(0, flag.find('=')));
  if (IsHelpFlag(flag_name)) {
    return absl::InvalidArgumentError(absl::StrCat(
        name, ":", line_number, ": --", flag_name,
        " does not belong in a flag file (it would print and exit instead of running); pass "
        "it on the command line"));
  }
  if (flag_name == "fromenv" || flag_name == "tryfromenv") {
    // gflags exits on a name in them that is not a flag (and --fromenv on a
    // missing variable); a recipe should say its values anyway.
    return absl::InvalidArgumentError(absl::StrCat(
        name, ":", line_number, ": --", flag_name,
        " is not allowed in a flag file (a recipe states its values); give them as --name=value"));
  }
  if (flag_name == "flagfile") {
    const size_t equals = flag.find('=');
    const absl::string_view paths = equals == absl::string_view::npos ? "" : flag.substr(equals + 1);
    return CheckIncludedFlagFiles(name, line_number, paths, depth);
  }
  gflags::CommandLineFlagInfo info;
  const std::string location = absl::StrCat(name, ":", line_number);
  if (gflags::GetCommandLineFlagInfo(flag_name.c_str(), &info)) {
    NoteFlagLocation(flag_name, location);
    return absl::OkStatus();
  }
  // Boolean flags may be negated as --noname.
  if (absl::StartsWith(flag_name, "no") &&
      gflags::GetCommandLineFlagInfo(flag_name.substr(2).c_str(), &info) && info.type == "bool") {
    NoteFlagLocation(flag_name.substr(2), location);
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(name, ":", line_number, ": unknown flag --",
                                                 flag_name,
                                                 " (run with --helpshort to list the flags)"));
}

absl::Status CheckFlagFileTextAt(const std::string& name, const std::string& text, int depth) {
  // gflags and this check must read the text alike: text only, and lines
  // end at '\n' or at '\r' (gflags splits at both; line numbers count '\n').
  int line_number = 0;
  for (absl::string_view numbered_line : absl::StrSplit(text, '\n')) {
    ++line_number;
    for (char c : numbered_line) {
      if ((static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\r') || c == 0x7f) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s:%d: control character 0x%02x; a flag file is text", name, line_number, c));
      }
    }
    for (absl::string_view line : absl::StrSplit(numbered_line, '\r')) {
      if (absl::Status s = CheckFlagLine(name, line_number, line, depth); !s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckFlagFileText(const std::string& name, const std::string& text) {
  return CheckFlagFileTextAt(name, text, 0);
}

absl::Status CheckFlagFiles(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (!absl::ConsumePrefix(&arg, "--flagfile=")) {
      // A flag on the command line overrides what a flag file said before it.
      absl::string_view flag = arg;
      if (!absl::ConsumePrefix(&flag, "--")) absl::ConsumePrefix(&flag, "-");
      const std::string flag_name(flag.substr(0, flag.find('=')));
      ClearFlagLocation(flag_name);
      if (absl::StartsWith(flag_name, "no")) ClearFlagLocation(flag_name.substr(2));
      continue;
    }
    const std::string path(arg);
    absl::StatusOr<std::string> text = ReadFileToString(path);
    if (!text.ok()) {
      return absl::Status(text.status().code(),
                          absl::StrCat("flag file: ", text.status().message()));
    }
    if (absl::Status status = CheckFlagFileText(path, *text); !status.ok()) return status;
  }
  return absl::OkStatus();
}

}  // namespace framework
