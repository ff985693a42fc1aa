#include "framework/experiment/resume_policy.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "framework/checkpoint/checkpoint.h"
#include "framework/checkpoint/checkpoint_manager.h"
#include "framework/experiment/experiment_flags.h"
#include "framework/experiment/plugin_option_flags.h"
#include "framework/model/model.h"
#include "gflags/gflags.h"
#include "glog/logging.h"

namespace framework {

ResumePolicy PolicyOf(const std::string& name) {
  // The selected plugins' options, whichever flag set them.
  if (IsOptionRecord(name)) return ResumePolicy::kRunDefining;
  for (const ExperimentFlag& flag : ExperimentFlags()) {
    if (flag.name == name) return flag.policy;
  }
  // A flag this binary does not declare cannot change what it computes.
  return ResumePolicy::kStartup;
}

namespace {

// A checkpoint's model must be registered here; if a plugin library provided
// it, say which.
absl::Status CheckModelIsRegistered(const std::string& source, const CheckpointManifest& manifest) {
  const std::string& model = manifest.model_spec.name;
  if (ModelRegistry().Contains(model)) return absl::OkStatus();
  auto plugins = manifest.flags.find("plugins");
  const std::string loaded =
      plugins != manifest.flags.end() && !plugins->second.empty()
          ? absl::StrCat("; the run that wrote it loaded --plugins=", plugins->second,
                         ": load the same plugin library with --plugins")
          : "; the run that wrote it loaded no plugin library, so link the model's plugin into "
            "this binary";
  return absl::FailedPreconditionError(
      absl::StrCat("cannot resume from ", source, ": its model '", model,
                   "' is not registered in this process (",
                   ModelRegistry().Find(model).status().message(), ")", loaded));
}

}  // namespace

absl::Status CheckResumeFlags(const std::string& source,
                              const std::map<std::string, std::string>& saved,
                              const std::map<std::string, std::string>& current,
                              std::vector<std::string>* changed) {
  std::vector<std::string> errors;
  for (const auto& [name, value] : current) {
    auto it = saved.find(name);
    // A flag newer than the checkpoint had its default value there.
    gflags::CommandLineFlagInfo info;
    const std::string before = it != saved.end() ? it->second
                               : gflags::GetCommandLineFlagInfo(name.c_str(), &info)
                                   ? info.default_value
                                   : "(unset)";
    if (before == value) continue;
    const std::string where =
        IsOptionRecord(name) ? absl::StrCat("option ", name) : absl::StrCat("--", name);
    const std::string change =
        absl::StrCat(where, ": checkpoint '", before, "', now '", value, "'");
    switch (PolicyOf(name)) {
      case ResumePolicy::kRunDefining:
        errors.push_back(change);
        break;
      case ResumePolicy::kMayChange:
        if (changed != nullptr) changed->push_back(change);
        break;
      case ResumePolicy::kStartup:
        break;
    }
  }
  if (errors.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "cannot resume from ", source,
      ": flags that change the model, data or optimisation differ from the checkpoint's: ",
      absl::StrJoin(errors, "; "),
      " (start a new --run_dir, or use --init_from to start from its weights)"));
}

absl::StatusOr<std::vector<std::string>> FindResumeCandidates(
    const ResumeRequest& request, const std::string& checkpoint_dir,
    const std::map<std::string, std::string>& flags) {
  std::vector<std::string> candidates;
  if (!request.checkpoint.empty()) {
    candidates.push_back(request.checkpoint);
  } else if (request.newest) {
    std::vector<CheckpointInfo> infos = ListCheckpoints(checkpoint_dir);
    for (auto it = infos.rbegin(); it != infos.rend(); ++it) {
      if (it->manifest.has_value()) {
        candidates.push_back(it->path);
      } else {
        LOG(WARNING) << "Skipping invalid checkpoint " << it->path << ": " << it->problem;
      }
    }
    if (candidates.empty()) {
      LOG(INFO) << "--resume: no valid checkpoint in " << checkpoint_dir << "; starting fresh";
    }
  }
  std::vector<std::string> usable;
  for (const std::string& path : candidates) {
    absl::StatusOr<CheckpointManifest> manifest = ReadCheckpointManifest(path);
    absl::Status status = manifest.status();
    std::vector<std::string> changed;
    if (status.ok()) status = CheckModelIsRegistered(path, *manifest);
    if (status.ok()) {
      status = CheckResumeFlags(path, WithOptionRecords(manifest->flags), flags, &changed);
    }
    if (status.ok()) {
      // Said once, of the checkpoint tried first, not of every fallback.
      if (usable.empty()) {
        for (const std::string& change : changed) {
          LOG(INFO) << "Resuming with a changed flag " << change;
        }
      }
      usable.push_back(path);
    } else if (usable.empty()) {
      return status;
    } else {
      LOG(WARNING) << "Not falling back to " << path << ": " << status.message();
    }
  }
  return usable;
}

}  // namespace framework
