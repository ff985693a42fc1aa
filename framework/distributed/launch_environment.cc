#include "framework/distributed/launch_environment.h"

#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace framework {
namespace {

absl::Status VariableError(const std::string& name, const std::string& value,
                           absl::string_view problem) {
  return absl::InvalidArgumentError(
      absl::StrCat("environment variable ", name, "='", value, "' ", problem));
}

// An integer variable in [minimum, maximum]; unset gives `fallback`.
absl::StatusOr<int64_t> IntegerVariable(const EnvironmentLookup& get, const std::string& name,
                                        int64_t fallback, int64_t minimum, int64_t maximum) {
  std::optional<std::string> value = get(name);
  if (!value.has_value()) return fallback;
  int64_t number = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(*value), &number)) {
    return VariableError(name, *value, "is not an integer");
  }
  if (number < minimum || number > maximum) {
    return VariableError(name, *value,
                         absl::StrCat("is out of range [", minimum, ", ", maximum, "]"));
  }
  return number;
}

bool IsTrue(const std::optional<std::string>& value) {
  if (!value.has_value()) return false;
  const std::string lower = absl::AsciiStrToLower(absl::StripAsciiWhitespace(*value));
  return lower == "true" || lower == "1" || lower == "yes";
}

}  // namespace

std::string LaunchEnvironment::Describe() const {
  if (!distributed()) return "a single process";
  return absl::StrCat("rank ", rank, " of ", world_size, " (local rank ", local_rank,
                      ", launched by ", launcher, "), store at ", master_addr, ":", master_port,
                      agent_store ? " (torchrun's agent)" : (rank == 0 ? " (hosted here)" : ""));
}

absl::StatusOr<LaunchEnvironment> ReadLaunchEnvironment(const EnvironmentLookup& get) {
  LaunchEnvironment launch;
  constexpr int64_t kMaxRanks = 1 << 20;
  std::string rank_variable = "RANK", world_variable = "WORLD_SIZE",
              local_variable = "LOCAL_RANK";
  if (get("RANK").has_value() || get("WORLD_SIZE").has_value()) {
    launch.launcher = get("TORCHELASTIC_RUN_ID").has_value() ? "torchrun" : "environment";
  } else if (get("SLURM_PROCID").has_value()) {
    launch.launcher = "slurm";
    rank_variable = "SLURM_PROCID";
    world_variable = "SLURM_NTASKS";
    local_variable = "SLURM_LOCALID";
  } else {
    launch.launcher = "none";
    return launch;
  }
  if (!get(rank_variable).has_value() || !get(world_variable).has_value()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "environment variables ", rank_variable, " and ", world_variable,
        " come together: only ", get(rank_variable).has_value() ? rank_variable : world_variable,
        " is set"));
  }
  absl::StatusOr<int64_t> world_size = IntegerVariable(get, world_variable, 1, 1, kMaxRanks);
  if (!world_size.ok()) return world_size.status();
  absl::StatusOr<int64_t> rank = IntegerVariable(get, rank_variable, 0, 0, *world_size - 1);
  if (!rank.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(rank.status().message(), " (", world_variable,
                                                   "=", *world_size, ")"));
  }
  absl::StatusOr<int64_t> local_rank = IntegerVariable(get, local_variable, 0, 0, kMaxRanks);
  if (!local_rank.ok()) return local_rank.status();
  launch.rank = *rank;
  launch.world_size = *world_size;
  launch.local_rank = *local_rank;
  if (!launch.distributed()) return launch;

  std::optional<std::string> address = get("MASTER_ADDR");
  if (!address.has_value() || absl::StripAsciiWhitespace(*address).empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "environment variable MASTER_ADDR is not set: with ", world_variable, "=", *world_size,
        " every rank needs the address of rank 0's machine (e.g. MASTER_ADDR=$(scontrol show "
        "hostnames \"$SLURM_JOB_NODELIST\" | head -n1) under Slurm)"));
  }
  launch.master_addr = std::string(absl::StripAsciiWhitespace(*address));
  if (!get("MASTER_PORT").has_value()) {
    return absl::InvalidArgumentError(
        "environment variable MASTER_PORT is not set: every rank needs the port of the store "
        "on MASTER_ADDR (e.g. MASTER_PORT=29500)");
  }
  absl::StatusOr<int64_t> port = IntegerVariable(get, "MASTER_PORT", 0, 1, 65535);
  if (!port.ok()) return port.status();
  launch.master_port = static_cast<int>(*port);

  launch.agent_store = IsTrue(get("TORCHELASTIC_USE_AGENT_STORE"));
  if (launch.agent_store) {
    absl::StatusOr<int64_t> restarts =
        IntegerVariable(get, "TORCHELASTIC_RESTART_COUNT", 0, 0, kMaxRanks);
    if (!restarts.ok()) return restarts.status();
    launch.store_prefix = absl::StrCat("/worker/attempt_", *restarts);
  }
  if (std::optional<std::string> interfaces = get("GLOO_SOCKET_IFNAME"); interfaces.has_value()) {
    for (absl::string_view name : absl::StrSplit(*interfaces, ',', absl::SkipWhitespace())) {
      launch.socket_interfaces.emplace_back(absl::StripAsciiWhitespace(name));
    }
    if (launch.socket_interfaces.empty()) {
      return VariableError("GLOO_SOCKET_IFNAME", *interfaces, "names no network interface");
    }
  }
  return launch;
}

absl::StatusOr<LaunchEnvironment> ReadLaunchEnvironment() {
  return ReadLaunchEnvironment([](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  });
}

}  // namespace framework
