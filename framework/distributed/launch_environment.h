// Who this process is in a data-parallel run, as its launcher says.
//
// No launcher of our own: the binary reads the environment that the
// launchers PyTorch users already have set for their workers.
//   torchrun / Kubeflow's PyTorchJob: RANK, WORLD_SIZE, LOCAL_RANK,
//     MASTER_ADDR, MASTER_PORT. Under torchrun's agent
//     (TORCHELASTIC_USE_AGENT_STORE=True) the agent hosts the rendezvous
//     store and every rank is its client, under the key prefix torchrun's
//     own workers use, /worker/attempt_<TORCHELASTIC_RESTART_COUNT>;
//     otherwise rank 0 hosts it.
//   Slurm (srun): SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID when RANK is
//     absent; MASTER_ADDR and MASTER_PORT still say where the store is.
//   GLOO_SOCKET_IFNAME: the network interfaces (comma-separated) Gloo uses.
// None of them: one process, world size 1.
#ifndef FRAMEWORK_DISTRIBUTED_LAUNCH_ENVIRONMENT_H_
#define FRAMEWORK_DISTRIBUTED_LAUNCH_ENVIRONMENT_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace framework {

struct LaunchEnvironment {
  int64_t rank = 0;
  int64_t world_size = 1;
  int64_t local_rank = 0;  // the process's index on its machine (its GPU)
  std::string master_addr;
  int master_port = 0;
  // The store is the launcher's (torchrun's agent): every rank is a client.
  bool agent_store = false;
  // Prefix of every store key (torchrun's /worker/attempt_<n>); may be empty.
  std::string store_prefix;
  std::vector<std::string> socket_interfaces;  // GLOO_SOCKET_IFNAME
  std::string launcher;  // "torchrun", "slurm", "environment" or "none"

  bool distributed() const { return world_size > 1; }
  // "rank 1 of 4 (local rank 1), store at 10.0.0.1:29500 (torchrun's agent)".
  std::string Describe() const;
};

// Reads the variables through `get` (std::getenv in production), so tests
// can hand in any environment. Malformed or inconsistent values are errors
// that name the variable.
using EnvironmentLookup = std::function<std::optional<std::string>(const std::string& name)>;
absl::StatusOr<LaunchEnvironment> ReadLaunchEnvironment(const EnvironmentLookup& get);
absl::StatusOr<LaunchEnvironment> ReadLaunchEnvironment();

}  // namespace framework

#endif  // FRAMEWORK_DISTRIBUTED_LAUNCH_ENVIRONMENT_H_
