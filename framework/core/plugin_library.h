// Plugins loaded at run time from shared objects (--plugins=a.so,b.so).
//
// A plugin library is compiled against the framework's headers only and links
// no copy of the framework: its REGISTER_* lines call into the binary that
// loads it (experiment binaries export their symbols), so what it registers
// lands in the same registries the binary reads. Loading is all or nothing:
// the library's registrations are held back until its framework version has
// been checked against the binary's and none of its names is taken.
//
//   absl::Status status = framework::LoadPluginLibraries({"/x/libtiny_model.so"});
//
// Errors name the library: a missing file, the dynamic loader's message, a
// library that is not a plugin or was built against another framework version
// (both versions named), a name registered twice (both sources named).
#ifndef FRAMEWORK_CORE_PLUGIN_LIBRARY_H_
#define FRAMEWORK_CORE_PLUGIN_LIBRARY_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "framework/core/registry.h"

namespace framework {

// Loads each library in order; stops at the first error. Loading the same
// path twice is a no-op.
absl::Status LoadPluginLibraries(const std::vector<std::string>& paths);

// The value of a --plugins flag: comma-separated paths, each relative to the
// user's directory (see user_path.h).
absl::Status LoadPluginLibraryList(const std::string& comma_separated);

// Paths of the libraries loaded so far, in load order.
std::vector<std::string> LoadedPluginLibraries();

namespace internal {
// For registry.cc: while a library loads, registrations are queued here.
bool QueueIfLoadingPlugin(PendingRegistration registration);
std::string PluginLibraryBeingLoaded();
}  // namespace internal

}  // namespace framework

#endif  // FRAMEWORK_CORE_PLUGIN_LIBRARY_H_
