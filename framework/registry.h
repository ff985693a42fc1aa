// A name -> factory table that plugins add to at static-initialisation time.
//
// Each registered kind (models, trainers, optimizers, schedulers) owns one
// Registry<Factory> reached through a function-local static, so registration
// from any translation unit is safe regardless of initialisation order.
// Plugin libraries must be linked with `alwayslink = 1`, otherwise the linker
// drops the object file that holds the registration.
#ifndef FRAMEWORK_REGISTRY_H_
#define FRAMEWORK_REGISTRY_H_

#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_join.h"
#include "glog/logging.h"

namespace framework {

template <typename Factory>
class Registry {
 public:
  // `kind` names what is registered ("model", "trainer"...) in error messages.
  explicit Registry(std::string kind) : kind_(std::move(kind)) {}

  // Registering one name twice is a programmer error: two plugins would
  // silently shadow each other.
  // `source` is the file that registers (REGISTER_* pass __FILE__), so
  // errors can name the plugin a saved file needs.
  void Register(const std::string& name, Factory factory, std::string source = "") {
    std::lock_guard<std::mutex> lock(mutex_);
    CHECK(!name.empty()) << "empty " << kind_ << " name";
    const bool inserted = factories_.emplace(name, std::move(factory)).second;
    CHECK(inserted) << kind_ << " '" << name << "' is registered twice";
    sources_[name] = std::move(source);
  }

  // The file that registered `name`; empty if unknown.
  std::string Source(const std::string& name) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = sources_.find(name);
    return it == sources_.end() ? "" : it->second;
  }

  absl::StatusOr<Factory> Find(const std::string& name) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = factories_.find(name);
    if (it == factories_.end()) {
      return absl::NotFoundError("unknown " + kind_ + " '" + name +
                                 "'; registered " + kind_ + "s: " +
                                 JoinedNamesLocked());
    }
    return it->second;
  }

  bool Contains(const std::string& name) const {
    std::lock_guard<std::mutex> lock(mutex_);
    return factories_.count(name) > 0;
  }

  // Sorted registered names.
  std::vector<std::string> Names() const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<std::string> names;
    for (const auto& entry : factories_) names.push_back(entry.first);
    return names;
  }

 private:
  std::string JoinedNamesLocked() const {
    if (factories_.empty()) return "(none; is the plugin library linked?)";
    std::vector<std::string> names;
    for (const auto& entry : factories_) names.push_back(entry.first);
    return absl::StrJoin(names, ", ");
  }

  const std::string kind_;
  mutable std::mutex mutex_;
  std::map<std::string, Factory> factories_;
  std::map<std::string, std::string> sources_;
};

// Helper whose constructor registers; used by the REGISTER_* macros so that a
// registration is a single line at namespace scope.
template <typename Factory>
struct Registration {
  Registration(Registry<Factory>& registry, const std::string& name,
               Factory factory, std::string source = "") {
    registry.Register(name, std::move(factory), std::move(source));
  }
};

}  // namespace framework

#define FRAMEWORK_REGISTRY_CONCAT_INNER(a, b) a##b
#define FRAMEWORK_REGISTRY_CONCAT(a, b) FRAMEWORK_REGISTRY_CONCAT_INNER(a, b)
// A unique identifier for a registration object in the current file.
#define FRAMEWORK_REGISTRY_UNIQUE_NAME(prefix) \
  FRAMEWORK_REGISTRY_CONCAT(prefix, __COUNTER__)

#endif  // FRAMEWORK_REGISTRY_H_
