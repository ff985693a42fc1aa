// ZeRO-1 over every registered optimizer: two ranks (threads meeting through
// a file store), each stepping its share, end with the weights of one
// unsharded optimizer to the bit, and hold between them exactly its state.
// The same source runs in //plugins:sharded_optimizers_test with every
// plugin's optimizer registered too.
#include "framework/optim/optimizer_sharding.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <torch/types.h>

#include "framework/distributed/communicator.h"
#include "framework/optim/optimizer.h"
#include "framework/optim/optimizer_state.h"
#include "gtest/gtest.h"

namespace framework {
namespace {

constexpr int64_t kSteps = 6;

// Parameters of several sizes, the same for every caller.
std::vector<at::Tensor> Parameters() {
  const std::vector<std::vector<int64_t>> shapes = {{7, 5}, {5}, {3, 4}, {11}, {2, 2, 2}, {9, 3}};
  std::vector<at::Tensor> parameters;
  for (size_t p = 0; p < shapes.size(); ++p) {
    at::Tensor values = torch::arange(c10::multiply_integers(shapes[p]), torch::kFloat32)
                            .reshape(shapes[p])
                            .mul(0.1 * static_cast<double>(p + 1))
                            .sin();
    parameters.push_back(values.set_requires_grad(true));
  }
  return parameters;
}

// The gradients of step `step`: every rank computes the same ones, as the
// averaged gradients of a data-parallel step are.
void SetGradients(const std::vector<at::Tensor>& parameters, int64_t step) {
  for (size_t p = 0; p < parameters.size(); ++p) {
    at::Tensor gradient = torch::arange(parameters[p].numel(), torch::kFloat32)
                              .reshape(parameters[p].sizes())
                              .add(static_cast<double>(step * 13 + p))
                              .cos();
    parameters[p].mutable_grad() = gradient;
  }
}

// Each registered optimizer with what makes it keep state: momentum where
// it has that option, weight decay where it has one.
nlohmann::json OptionsFor(const OptimizerEntry& entry) {
  nlohmann::json given = nlohmann::json::object();
  for (const OptionSpec& spec : entry.options) {
    if (spec.name == "momentum") given["momentum"] = 0.9;
    if (spec.pytorch_key == "weight_decay") given[spec.name] = 0.01;
  }
  return given;
}

std::map<std::string, at::Tensor> ByName(const std::vector<NamedTensor>& tensors) {
  std::map<std::string, at::Tensor> map;
  for (const NamedTensor& named : tensors) map[named.name] = named.tensor;
  return map;
}

struct RankResult {
  std::vector<at::Tensor> parameters;
  OptimizerStateTensors state;
  int64_t state_bytes = 0;
  int64_t owned_bytes = 0;
  int64_t parameter_bytes = 0;
  std::vector<bool> owns;  // by parameter
};

std::vector<RankResult> TrainSharded(const std::string& name, int64_t world_size) {
  static int run = 0;
  const std::string store =
      std::string(std::getenv("TEST_TMPDIR")) + "/sharding-store-" + std::to_string(run++);
  std::vector<RankResult> results(static_cast<size_t>(world_size));
  std::vector<std::thread> threads;
  for (int64_t rank = 0; rank < world_size; ++rank) {
    threads.emplace_back([&, rank] {
      CommunicatorOptions options;
      options.timeout = std::chrono::seconds(60);
      absl::StatusOr<std::unique_ptr<Communicator>> communicator =
          Communicator::ConnectThroughFile(store, rank, world_size, options);
      ASSERT_TRUE(communicator.ok()) << communicator.status();
      std::vector<at::Tensor> parameters = Parameters();
      absl::StatusOr<std::unique_ptr<torch::optim::Optimizer>> optimizer =
          BuildOptimizer(name, OptionsFor(*OptimizerRegistry().Find(name)), parameters);
      ASSERT_TRUE(optimizer.ok()) << optimizer.status();
      OptimizerSharding sharding(**optimizer, **communicator);
      sharding.DropOthersState();
      for (int64_t step = 0; step < kSteps; ++step) {
        SetGradients(parameters, step);
        absl::Status status = sharding.Step();
        ASSERT_TRUE(status.ok()) << status;
      }
      RankResult& result = results[static_cast<size_t>(rank)];
      for (const at::Tensor& parameter : parameters) result.parameters.push_back(parameter.detach());
      absl::StatusOr<OptimizerStateTensors> state = ExtractOptimizerState(**optimizer);
      ASSERT_TRUE(state.ok()) << state.status();
      result.state = *state;
      result.state_bytes = *OptimizerStateBytes(**optimizer);
      result.owned_bytes = sharding.OwnedParameterBytes();
      result.parameter_bytes = sharding.ParameterBytes();
      for (size_t i = 0; i < parameters.size(); ++i) {
        result.owns.push_back(sharding.Owns("0." + std::to_string(i)));
      }
      EXPECT_FALSE(sharding.Owns("0.x"));
      EXPECT_FALSE(sharding.Owns("0.99"));
    });
  }
  for (std::thread& thread : threads) thread.join();
  return results;
}

TEST(OptimizerShardingTest, EveryRegisteredOptimizerStepsShardedAsUnsharded) {
  ASSERT_GE(OptimizerRegistry().Entries().size(), 4u);
  for (const auto& [name, entry] : OptimizerRegistry().Entries()) {
    SCOPED_TRACE("optimizer " + name);
    std::vector<at::Tensor> parameters = Parameters();
    std::unique_ptr<torch::optim::Optimizer> reference =
        *BuildOptimizer(name, OptionsFor(entry), parameters);
    for (int64_t step = 0; step < kSteps; ++step) {
      SetGradients(parameters, step);
      reference->step();
    }
    const OptimizerStateTensors reference_state = *ExtractOptimizerState(*reference);
    const int64_t reference_bytes = *OptimizerStateBytes(*reference);

    const std::vector<RankResult> ranks = TrainSharded(name, 2);
    if (::testing::Test::HasFatalFailure()) return;
    std::map<std::string, at::Tensor> union_of_state;
    std::set<std::string> union_with_state;
    int64_t bytes = 0;
    for (size_t r = 0; r < ranks.size(); ++r) {
      for (size_t p = 0; p < parameters.size(); ++p) {
        EXPECT_TRUE(torch::equal(ranks[r].parameters[p], parameters[p].detach()))
            << "rank " << r << ", parameter " << p;
      }
      for (const NamedTensor& named : ranks[r].state.tensors) {
        EXPECT_TRUE(union_of_state.emplace(named.name, named.tensor).second)
            << named.name << " held by two ranks";
      }
      union_with_state.insert(ranks[r].state.parameters_with_state.begin(),
                              ranks[r].state.parameters_with_state.end());
      bytes += ranks[r].state_bytes;
      // Each rank's state is that of its share of the parameters, and the
      // shares are balanced.
      EXPECT_EQ(ranks[r].state_bytes * ranks[r].parameter_bytes,
                reference_bytes * ranks[r].owned_bytes);
      EXPECT_GE(ranks[r].owned_bytes * 10, ranks[r].parameter_bytes * 4) << "rank " << r;
      EXPECT_LE(ranks[r].owned_bytes * 10, ranks[r].parameter_bytes * 6) << "rank " << r;
    }
    for (size_t p = 0; p < parameters.size(); ++p) {
      EXPECT_NE(ranks[0].owns[p], ranks[1].owns[p]) << "parameter " << p << " needs one owner";
    }
    std::printf("%s: optimizer state %lld bytes unsharded, %lld + %lld on 2 ranks\n",
                name.c_str(), static_cast<long long>(reference_bytes),
                static_cast<long long>(ranks[0].state_bytes),
                static_cast<long long>(ranks[1].state_bytes));
    EXPECT_EQ(bytes, reference_bytes);
    EXPECT_EQ(union_with_state, std::set<std::string>(reference_state.parameters_with_state.begin(),
                                                      reference_state.parameters_with_state.end()));
    const std::map<std::string, at::Tensor> expected = ByName(reference_state.tensors);
    ASSERT_EQ(union_of_state.size(), expected.size());
    for (const auto& [tensor_name, tensor] : expected) {
      ASSERT_EQ(union_of_state.count(tensor_name), 1u) << tensor_name;
      EXPECT_TRUE(torch::equal(union_of_state.at(tensor_name), tensor)) << tensor_name;
    }

    // The ranks' states together resume an unsharded optimizer exactly.
    std::vector<at::Tensor> resumed_parameters;
    for (const at::Tensor& parameter : ranks[0].parameters) {
      resumed_parameters.push_back(parameter.clone().set_requires_grad(true));
    }
    std::unique_ptr<torch::optim::Optimizer> resumed =
        *BuildOptimizer(name, OptionsFor(entry), resumed_parameters);
    absl::Status restored = RestoreOptimizerState(
        *resumed, union_of_state,
        std::vector<std::string>(union_with_state.begin(), union_with_state.end()), "the ranks");
    ASSERT_TRUE(restored.ok()) << restored;
    for (int64_t step = kSteps; step < kSteps + 3; ++step) {
      SetGradients(parameters, step);
      reference->step();
      SetGradients(resumed_parameters, step);
      resumed->step();
    }
    for (size_t p = 0; p < parameters.size(); ++p) {
      EXPECT_TRUE(torch::equal(resumed_parameters[p].detach(), parameters[p].detach()))
          << "resumed, parameter " << p;
    }
  }
}

// A restore into a sharded optimizer takes only the parameters it owns.
TEST(OptimizerShardingTest, RestoreTakesOnlyTheOwnedParametersState) {
  std::vector<at::Tensor> parameters = Parameters();
  std::unique_ptr<torch::optim::Optimizer> full =
      *BuildOptimizer("adam", nlohmann::json::object(), parameters);
  SetGradients(parameters, 0);
  full->step();
  const OptimizerStateTensors state = *ExtractOptimizerState(*full);
  std::unique_ptr<torch::optim::Optimizer> partial =
      *BuildOptimizer("adam", nlohmann::json::object(), Parameters());
  std::map<std::string, at::Tensor> tensors = ByName(state.tensors);
  // Another rank's entries need not have been read at all.
  for (auto it = tensors.begin(); it != tensors.end();) {
    it = it->first.rfind("optimizer.0.1.", 0) == 0 ? tensors.erase(it) : std::next(it);
  }
  absl::Status restored =
      RestoreOptimizerState(*partial, tensors, state.parameters_with_state, "test",
                            [](const std::string& id) { return id == "0.0" || id == "0.2"; });
  ASSERT_TRUE(restored.ok()) << restored;
  const OptimizerStateTensors kept = *ExtractOptimizerState(*partial);
  EXPECT_EQ(kept.parameters_with_state, (std::vector<std::string>{"0.0", "0.2"}));
  // An owned parameter's missing entry is still an error.
  absl::Status missing =
      RestoreOptimizerState(*partial, tensors, state.parameters_with_state, "test",
                            [](const std::string& id) { return id == "0.1"; });
  EXPECT_FALSE(missing.ok());
  EXPECT_NE(missing.message().find("optimizer.0.1.exp_avg"), std::string::npos) << missing;
}

}  // namespace
}  // namespace framework
