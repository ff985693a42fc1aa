#include "framework/core/plugin_library.h"

#include <dlfcn.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "framework/core/user_path.h"
#include "glog/logging.h"

namespace framework {
namespace {

// Loading happens on one thread at a time; the mutex makes that explicit.
struct LoaderState {
  std::mutex load_mutex;
  std::string loading;  // the library whose constructors are running
  std::vector<PendingRegistration> pending;
  std::vector<std::string> loaded;
};

LoaderState& State() {
  static auto* state = new LoaderState();
  return *state;
}

absl::Status LoadOne(const std::string& path) {
  LoaderState& state = State();
  if (std::find(state.loaded.begin(), state.loaded.end(), path) != state.loaded.end()) {
    return absl::OkStatus();
  }
  struct stat info;
  if (stat(path.c_str(), &info) != 0) {
    return absl::NotFoundError(
        absl::StrCat("plugin library ", path, " cannot be read: ", std::strerror(errno)));
  }
  state.loading = path;
  state.pending.clear();
  // RTLD_NOW: an undefined symbol (a plugin that needs more of the framework
  // than this binary has) fails here, by name, not at its first call.
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  state.loading.clear();
  std::vector<PendingRegistration> pending = std::move(state.pending);
  state.pending.clear();
  if (handle == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot load plugin library ", path, ": ", dlerror()));
  }
  // The library's own copy of the symbol: the lookup covers the library and
  // its dependencies, not this binary.
  const auto* version =
      static_cast<const char*>(dlsym(handle, "torchtrain_plugin_framework_version"));
  if (version == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "plugin library ", path,
        " is not a torchtrain plugin (it exports no torchtrain_plugin_framework_version; "
        "plugins include framework headers and register with REGISTER_*)"));
  }
  if (std::strcmp(version, kFrameworkVersion) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "plugin library ", path, " was built against framework version ", version,
        ", but this binary is version ", kFrameworkVersion, "; rebuild the plugin"));
  }
  for (const PendingRegistration& registration : pending) {
    if (absl::Status status = registration.check(); !status.ok()) {
      return absl::AlreadyExistsError(
          absl::StrCat("plugin library ", path, ": ", status.message()));
    }
  }
  for (const PendingRegistration& registration : pending) registration.commit();
  state.loaded.push_back(path);
  LOG(INFO) << "Loaded plugin library " << path << " (" << pending.size() << " registration(s))";
  return absl::OkStatus();
}

}  // namespace

absl::Status LoadPluginLibraries(const std::vector<std::string>& paths) {
  std::lock_guard<std::mutex> lock(State().load_mutex);
  for (const std::string& path : paths) {
    if (absl::Status status = LoadOne(path); !status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::Status LoadPluginLibraryList(const std::string& comma_separated) {
  std::vector<std::string> paths;
  for (absl::string_view path : absl::StrSplit(comma_separated, ',', absl::SkipWhitespace())) {
    paths.push_back(ResolveUserPath(std::string(path)));
  }
  return LoadPluginLibraries(paths);
}

std::vector<std::string> LoadedPluginLibraries() {
  std::lock_guard<std::mutex> lock(State().load_mutex);
  return State().loaded;
}

namespace internal {

// Called from static constructors inside dlopen(), on the loading thread,
// which holds load_mutex.
bool QueueIfLoadingPlugin(PendingRegistration registration) {
  LoaderState& state = State();
  if (state.loading.empty()) return false;
  state.pending.push_back(std::move(registration));
  return true;
}

std::string PluginLibraryBeingLoaded() { return State().loading; }

}  // namespace internal
}  // namespace framework
