// A name -> entry table that plugins add to at static-initialisation time.
//
// Every plugin kind (models, trainers, optimizers, schedulers, data sets,
// weights formats) owns one Registry<Entry> reached through a function-local
// static that is never destroyed, so registration from any translation unit
// is safe regardless of initialisation order, and a plugin shared object
// loaded with --plugins (see plugin_library.h) adds to the same table as the
// plugins linked into the binary. Plugin libraries linked statically must be
// `alwayslink = 1`, otherwise the linker drops the object file that holds the
// registration. A kind's header defines its macro, e.g.
//
//   REGISTER_MODEL("lenet", BuildLeNet);
#ifndef FRAMEWORK_CORE_REGISTRY_H_
#define FRAMEWORK_CORE_REGISTRY_H_

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "framework/core/version.h"
#include "glog/logging.h"

namespace framework {

// A registration made while a plugin library is being loaded: held back until
// the loader has checked the library's framework version, then checked
// against the registry (`check`) and added (`commit`).
struct PendingRegistration {
  std::function<absl::Status()> check;
  std::function<void()> commit;
};

// Implemented in registry.cc, so that a plugin library calls the binary's
// copy. Returns true (and queues `registration`) while a plugin library is
// being loaded; false otherwise.
bool DeferWhileLoadingPlugin(PendingRegistration registration);
// `file` (a registering source file), followed by the plugin library being
// loaded, if any: "plugins/examples/tiny.cc in /x/libtiny.so".
std::string RegistrationSource(const std::string& file);

template <typename Entry>
class Registry {
 public:
  // `kind` names what is registered ("model", "trainer"...) in messages.
  explicit Registry(std::string kind) : kind_(std::move(kind)) {}

  // Registering one name twice is an error that names both sources. Linked
  // into one binary it is a programmer error (CHECK); from a plugin library
  // it makes loading that library fail.
  // `file` is the registering source file (REGISTER_* pass __FILE__), so
  // errors can name the plugin a saved file needs.
  void Register(const std::string& name, Entry entry, const std::string& file = "") {
    CHECK(!name.empty()) << "empty " << kind_ << " name";
    const std::string source = RegistrationSource(file);
    PendingRegistration registration{
        [this, name, source] { return CheckNew(name, source); },
        [this, name, source, entry = std::move(entry)] { Insert(name, entry, source); }};
    if (DeferWhileLoadingPlugin(registration)) return;
    const absl::Status status = registration.check();
    CHECK(status.ok()) << status.message();
    registration.commit();
  }

  // The source that registered `name` (file, and plugin library if any);
  // empty if unknown.
  std::string Source(const std::string& name) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = entries_.find(name);
    return it == entries_.end() ? "" : it->second.source;
  }

  absl::StatusOr<Entry> Find(const std::string& name) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = entries_.find(name);
    if (it == entries_.end()) {
      return absl::NotFoundError(absl::StrCat("unknown ", kind_, " '", name, "'; registered ",
                                              kind_, "s: ", JoinedNamesLocked()));
    }
    return it->second.entry;
  }

  bool Contains(const std::string& name) const {
    std::lock_guard<std::mutex> lock(mutex_);
    return entries_.count(name) > 0;
  }

  // Sorted registered names.
  std::vector<std::string> Names() const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<std::string> names;
    for (const auto& named : entries_) names.push_back(named.first);
    return names;
  }

  // Entries in name order, for kinds that are tried one after another
  // (weights formats).
  std::vector<std::pair<std::string, Entry>> Entries() const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<std::pair<std::string, Entry>> entries;
    for (const auto& named : entries_) entries.emplace_back(named.first, named.second.entry);
    return entries;
  }

 private:
  struct Registered {
    Entry entry;
    std::string source;
  };

  absl::Status CheckNew(const std::string& name, const std::string& source) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = entries_.find(name);
    if (it == entries_.end()) return absl::OkStatus();
    return absl::AlreadyExistsError(absl::StrCat(kind_, " '", name, "' is registered twice: by ",
                                                 it->second.source, " and by ", source));
  }

  void Insert(const std::string& name, const Entry& entry, const std::string& source) {
    std::lock_guard<std::mutex> lock(mutex_);
    entries_.emplace(name, Registered{entry, source});
  }

  std::string JoinedNamesLocked() const {
    if (entries_.empty()) return "(none; is the plugin library linked or loaded?)";
    std::vector<std::string> names;
    for (const auto& named : entries_) names.push_back(named.first);
    return absl::StrJoin(names, ", ");
  }

  const std::string kind_;
  mutable std::mutex mutex_;
  std::map<std::string, Registered> entries_;
};

// Helper whose constructor registers; used by the REGISTER_* macros so that a
// registration is a single line at namespace scope.
template <typename Entry>
struct Registration {
  Registration(Registry<Entry>& registry, const std::string& name, Entry entry,
               const std::string& file = "") {
    registry.Register(name, std::move(entry), file);
  }
};

}  // namespace framework

#define FRAMEWORK_REGISTRY_CONCAT_INNER(a, b) a##b
#define FRAMEWORK_REGISTRY_CONCAT(a, b) FRAMEWORK_REGISTRY_CONCAT_INNER(a, b)
// A unique identifier for a registration object in the current file.
#define FRAMEWORK_REGISTRY_UNIQUE_NAME(prefix) FRAMEWORK_REGISTRY_CONCAT(prefix, __COUNTER__)

#endif  // FRAMEWORK_CORE_REGISTRY_H_
