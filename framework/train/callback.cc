#include "framework/train/callback.h"

#include <exception>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace framework {

Registry<CallbackEntry>& CallbackRegistry() {
  static auto* registry = new Registry<CallbackEntry>("callback");
  return *registry;
}

absl::StatusOr<OptionValues> ResolveCallbackOptions(
    const std::string& name, const nlohmann::json& given,
    const std::function<std::string(const std::string& key)>& where) {
  absl::StatusOr<CallbackEntry> entry = CallbackRegistry().Find(name);
  if (!entry.ok()) return entry.status();
  return ResolveOptions(entry->options, given, absl::StrCat("callback '", name, "'"), where);
}

absl::StatusOr<std::unique_ptr<Callback>> BuildCallback(const CallbackContext& context) {
  // The name is a part of the checkpoint's tensor names and record keys,
  // which split at dots.
  if (context.name.empty() || absl::StrContains(context.name, ".")) {
    return absl::InvalidArgumentError(
        absl::StrCat("callback name '", context.name, "' must be non-empty and have no '.'"));
  }
  absl::StatusOr<CallbackEntry> entry = CallbackRegistry().Find(context.name);
  if (!entry.ok()) return entry.status();
  try {
    absl::StatusOr<std::unique_ptr<Callback>> callback = entry->build(context);
    if (!callback.ok()) {
      return absl::Status(callback.status().code(), absl::StrCat("callback '", context.name,
                                                                 "': ", callback.status().message()));
    }
    return callback;
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("building callback '", context.name, "' failed: ", e.what()));
  }
}

}  // namespace framework
