// Linked into test-only binaries (never a user's): installs a
// FaultInjectingEnv (fault_injecting_env.h) armed from the environment,
//
//   TORCHTRAIN_FAULT=<operation>:<path part>=<action>[@<n> | #<n>]
//
// e.g. "write:state.safetensors=enospc@2": every write to the second
// distinct file whose path contains "state.safetensors" fails with ENOSPC;
// "sync_directory:/checkpoints$=eio#3": only the third matching call fails.
// A path part ending in '$' must end the path.
// Actions: kill (SIGKILL, as kill -9 would), enospc, eio, erofs, efbig.
// Operations: create, write, sync, rename, sync_directory, remove,
// create_directory, read, lock (see fault_injecting_env.h). The
// injection is announced on stderr ("TORCHTRAIN_FAULT: ...") before it acts,
// so a test can assert that it landed.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "framework/testing/fault_injecting_env.h"

namespace framework {
namespace {

struct FaultSpec {
  std::string operation;
  std::string path_part;
  std::string action;
  int occurrence = 1;
  bool count_calls = false;  // '#': the n-th matching call, not path
};

[[noreturn]] void BadSpec(const char* spec, const char* why) {
  std::fprintf(stderr, "TORCHTRAIN_FAULT=%s: %s (expected <operation>:<path part>=<action>[@<n>])\n",
               spec, why);
  std::exit(2);
}

FaultSpec ParseSpec(const char* text) {
  const std::string spec = text;
  const size_t colon = spec.find(':');
  const size_t equals = spec.find('=', colon == std::string::npos ? 0 : colon);
  if (colon == std::string::npos || equals == std::string::npos) BadSpec(text, "malformed");
  FaultSpec parsed;
  parsed.operation = spec.substr(0, colon);
  parsed.path_part = spec.substr(colon + 1, equals - colon - 1);
  parsed.action = spec.substr(equals + 1);
  const size_t at = parsed.action.find_first_of("@#");
  if (at != std::string::npos) {
    parsed.count_calls = parsed.action[at] == '#';
    parsed.occurrence = std::atoi(parsed.action.c_str() + at + 1);
    parsed.action.resize(at);
    if (parsed.occurrence < 1) BadSpec(text, "the occurrence must be >= 1");
  }
  static const std::set<std::string> kOperations = {"create", "write", "sync", "rename",
                                                    "sync_directory", "remove",
                                                    "create_directory", "read", "lock"};
  static const std::set<std::string> kActions = {"kill", "enospc", "eio", "erofs", "efbig"};
  if (kOperations.count(parsed.operation) == 0) BadSpec(text, "unknown operation");
  if (kActions.count(parsed.action) == 0) BadSpec(text, "unknown action");
  return parsed;
}

// A path part ending in '$' must end the path; otherwise it may be anywhere.
bool Matches(const std::string& part, const std::string& path) {
  if (!part.empty() && part.back() == '$') {
    const std::string suffix = part.substr(0, part.size() - 1);
    return path.size() >= suffix.size() &&
           path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0;
  }
  return path.find(part) != std::string::npos;
}

int Errno(const std::string& action) {
  if (action == "enospc") return ENOSPC;
  if (action == "eio") return EIO;
  if (action == "erofs") return EROFS;
  return EFBIG;
}

const bool installed = [] {
  const char* text = std::getenv("TORCHTRAIN_FAULT");
  if (text == nullptr || *text == '\0') return false;
  const FaultSpec spec = ParseSpec(text);
  auto* mutex = new std::mutex();
  auto* distinct_paths = new std::vector<std::string>();  // in order of first use
  auto* calls = new int(0);
  auto* env = new FaultInjectingEnv(Env::Default(), [spec, mutex, distinct_paths, calls](
                                                       const char* operation,
                                                       const std::string& path) {
    if (spec.operation != operation || !Matches(spec.path_part, path)) return 0;
    std::lock_guard<std::mutex> lock(*mutex);
    if (spec.count_calls) {
      if (++*calls != spec.occurrence) return 0;
    } else {
      if (std::find(distinct_paths->begin(), distinct_paths->end(), path) ==
          distinct_paths->end()) {
        distinct_paths->push_back(path);
      }
      if (static_cast<int>(distinct_paths->size()) < spec.occurrence ||
          (*distinct_paths)[spec.occurrence - 1] != path) {
        return 0;
      }
    }
    std::fprintf(stderr, "TORCHTRAIN_FAULT: %s at %s %s (occurrence %d)\n", spec.action.c_str(),
                 operation, path.c_str(), spec.occurrence);
    std::fflush(stderr);
    if (spec.action == "kill") raise(SIGKILL);
    return Errno(spec.action);
  });
  SetDefaultEnv(env);
  return true;
}();

}  // namespace
}  // namespace framework
