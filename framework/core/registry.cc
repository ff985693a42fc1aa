#include "framework/core/registry.h"

#include "framework/core/plugin_library.h"

namespace framework {

const char kFrameworkVersion[] = TORCHTRAIN_VERSION;

bool DeferWhileLoadingPlugin(PendingRegistration registration) {
  return internal::QueueIfLoadingPlugin(std::move(registration));
}

std::string RegistrationSource(const std::string& file) {
  const std::string library = internal::PluginLibraryBeingLoaded();
  if (library.empty()) return file;
  return file.empty() ? library : absl::StrCat(file, " in ", library);
}

}  // namespace framework
