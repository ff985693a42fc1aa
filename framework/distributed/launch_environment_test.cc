#include "framework/distributed/launch_environment.h"

#include <map>

#include "gtest/gtest.h"

namespace framework {
namespace {

absl::StatusOr<LaunchEnvironment> Read(const std::map<std::string, std::string>& variables) {
  return ReadLaunchEnvironment([&](const std::string& name) -> std::optional<std::string> {
    auto it = variables.find(name);
    if (it == variables.end()) return std::nullopt;
    return it->second;
  });
}

TEST(LaunchEnvironmentTest, NoVariablesIsOneProcess) {
  absl::StatusOr<LaunchEnvironment> launch = Read({});
  ASSERT_TRUE(launch.ok()) << launch.status();
  EXPECT_FALSE(launch->distributed());
  EXPECT_EQ(launch->rank, 0);
  EXPECT_EQ(launch->world_size, 1);
  EXPECT_EQ(launch->launcher, "none");
}

TEST(LaunchEnvironmentTest, TorchrunAgentStore) {
  absl::StatusOr<LaunchEnvironment> launch =
      Read({{"RANK", "3"}, {"WORLD_SIZE", "4"}, {"LOCAL_RANK", "1"},
            {"MASTER_ADDR", "10.0.0.7"}, {"MASTER_PORT", "29400"},
            {"TORCHELASTIC_RUN_ID", "job"}, {"TORCHELASTIC_USE_AGENT_STORE", "True"},
            {"TORCHELASTIC_RESTART_COUNT", "2"}});
  ASSERT_TRUE(launch.ok()) << launch.status();
  EXPECT_TRUE(launch->distributed());
  EXPECT_EQ(launch->rank, 3);
  EXPECT_EQ(launch->world_size, 4);
  EXPECT_EQ(launch->local_rank, 1);
  EXPECT_EQ(launch->master_addr, "10.0.0.7");
  EXPECT_EQ(launch->master_port, 29400);
  EXPECT_TRUE(launch->agent_store);
  EXPECT_EQ(launch->store_prefix, "/worker/attempt_2");
  EXPECT_EQ(launch->launcher, "torchrun");
}

TEST(LaunchEnvironmentTest, PyTorchJobEnvironmentHasRankZeroHostTheStore) {
  absl::StatusOr<LaunchEnvironment> launch =
      Read({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "job-master-0"},
            {"MASTER_PORT", "23456"}, {"GLOO_SOCKET_IFNAME", "eth0, ib0"}});
  ASSERT_TRUE(launch.ok()) << launch.status();
  EXPECT_FALSE(launch->agent_store);
  EXPECT_EQ(launch->store_prefix, "");
  EXPECT_EQ(launch->launcher, "environment");
  EXPECT_EQ(launch->socket_interfaces, (std::vector<std::string>{"eth0", "ib0"}));
}

TEST(LaunchEnvironmentTest, SlurmWhenRankIsAbsent) {
  absl::StatusOr<LaunchEnvironment> launch =
      Read({{"SLURM_PROCID", "5"}, {"SLURM_NTASKS", "8"}, {"SLURM_LOCALID", "1"},
            {"MASTER_ADDR", "node01"}, {"MASTER_PORT", "29500"}});
  ASSERT_TRUE(launch.ok()) << launch.status();
  EXPECT_EQ(launch->rank, 5);
  EXPECT_EQ(launch->world_size, 8);
  EXPECT_EQ(launch->local_rank, 1);
  EXPECT_EQ(launch->launcher, "slurm");
  // RANK wins over Slurm's variables (torchrun inside an srun step).
  launch = Read({{"SLURM_PROCID", "5"}, {"SLURM_NTASKS", "8"}, {"RANK", "0"},
                 {"WORLD_SIZE", "1"}});
  ASSERT_TRUE(launch.ok()) << launch.status();
  EXPECT_FALSE(launch->distributed());
}

TEST(LaunchEnvironmentTest, ErrorsNameTheVariable) {
  struct Case {
    std::map<std::string, std::string> variables;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {{{"RANK", "0"}}, "WORLD_SIZE"},
      {{{"RANK", "two"}, {"WORLD_SIZE", "2"}}, "RANK='two' is not an integer"},
      {{{"RANK", "2"}, {"WORLD_SIZE", "2"}}, "RANK='2' is out of range"},
      {{{"RANK", "0"}, {"WORLD_SIZE", "0"}}, "WORLD_SIZE='0'"},
      {{{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "1"}}, "MASTER_ADDR is not set"},
      {{{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}}, "MASTER_PORT is not set"},
      {{{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "70000"}},
       "MASTER_PORT='70000'"},
      {{{"SLURM_PROCID", "1"}, {"SLURM_NTASKS", "2"}}, "MASTER_ADDR"},
      {{{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "1"},
        {"GLOO_SOCKET_IFNAME", ","}},
       "GLOO_SOCKET_IFNAME"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<LaunchEnvironment> launch = Read(c.variables);
    ASSERT_FALSE(launch.ok()) << c.expected;
    EXPECT_NE(launch.status().message().find(c.expected), std::string::npos)
        << launch.status().message();
  }
}

}  // namespace
}  // namespace framework
