// Which checkpoint a run continues from, and whether it may: flags declared
// run-defining must equal the checkpoint's (every difference is listed), the
// others may change and are logged, and a checkpoint whose model comes from a
// plugin that is not loaded says which plugin is missing.
#ifndef FRAMEWORK_EXPERIMENT_RESUME_POLICY_H_
#define FRAMEWORK_EXPERIMENT_RESUME_POLICY_H_

#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace framework {

// `saved` are the checkpoint's flags, `current` this run's; `source` names
// the checkpoint in messages.
absl::Status CheckResumeFlags(const std::string& source,
                              const std::map<std::string, std::string>& saved,
                              const std::map<std::string, std::string>& current);

struct ResumeRequest {
  bool newest = false;       // --resume
  std::string checkpoint;    // --resume_from, resolved; wins over `newest`
};

// The checkpoint to continue from ("" for a fresh start), already checked
// against this run's flags and registries before any slow work.
absl::StatusOr<std::string> FindResumeCheckpoint(const ResumeRequest& request,
                                                 const std::string& checkpoint_dir,
                                                 const std::map<std::string, std::string>& flags);

}  // namespace framework

#endif  // FRAMEWORK_EXPERIMENT_RESUME_POLICY_H_
