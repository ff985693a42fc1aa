// Which checkpoint a run continues from, and whether it may: flags declared
// run-defining must equal the checkpoint's (every difference is listed), the
// others may change and are logged, and a checkpoint whose model comes from a
// plugin that is not loaded says which plugin is missing.
#ifndef FRAMEWORK_EXPERIMENT_RESUME_POLICY_H_
#define FRAMEWORK_EXPERIMENT_RESUME_POLICY_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "framework/experiment/experiment_flags.h"

namespace framework {

// `saved` are the checkpoint's flags, `current` this run's; `source` names
// the checkpoint in messages.
// How the recorded flag or option `name` (flags.json's keys) may change on
// resume: the selected plugins' options are run-defining, a flag this
// binary does not declare is start-up only.
ResumePolicy PolicyOf(const std::string& name);

// Fails listing every run-defining difference. The differences that may
// change go to `changed` when given ("--epochs: checkpoint '15', now '30'").
absl::Status CheckResumeFlags(const std::string& source,
                              const std::map<std::string, std::string>& saved,
                              const std::map<std::string, std::string>& current,
                              std::vector<std::string>* changed = nullptr);

struct ResumeRequest {
  bool newest = false;       // --resume
  std::string checkpoint;    // --resume_from, resolved; wins over `newest`
};

// The checkpoints to try, in order (none: a fresh start). With --resume_from,
// that one; with --resume, every checkpoint whose manifest reads, most
// recently committed first, so that a load that finds damaged tensor data
// falls back to the next (tensor data is verified while it is loaded, not
// before, so that a resume reads each byte once). The first is checked
// against this run's flags and registries before any slow work, and that is
// an error; a later one that fails the checks is dropped with a log line.
absl::StatusOr<std::vector<std::string>> FindResumeCandidates(
    const ResumeRequest& request, const std::string& checkpoint_dir,
    const std::map<std::string, std::string>& flags);

}  // namespace framework

#endif  // FRAMEWORK_EXPERIMENT_RESUME_POLICY_H_
