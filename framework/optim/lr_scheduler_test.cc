#include "framework/optim/lr_scheduler.h"

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <torch/optim/sgd.h>

#include "framework/optim/optimizer.h"
#include "framework/testing/test_command.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace framework {
namespace {

// Every setting of the cases, under the names lr_scheduler_reference.py reads.
struct ScheduleFields {
  std::string name = "none";
  int64_t step_size = 10;
  double gamma = 0.1;
  std::vector<int64_t> milestones;
  int64_t t_max = 0;
  double eta_min = 0.0;
  int64_t warmup_epochs = 0;
  double warmup_start_factor = 1.0 / 3;
  std::string plateau_mode = "min";
  double plateau_factor = 0.1;
  int64_t plateau_patience = 10;
  double plateau_threshold = 1e-4;
  std::string plateau_threshold_mode = "rel";
  int64_t plateau_cooldown = 0;
  double plateau_min_lr = 0.0;
  double plateau_eps = 1e-8;
};

struct Case {
  std::string label;
  ScheduleFields options;
  int64_t epochs = 20;
  std::vector<double> metrics;  // plateau only
};

const std::vector<double> kBaseLrs = {0.1, 0.037};

nlohmann::json OptionsToJson(const ScheduleFields& o) {
  return {{"name", o.name},
          {"step_size", o.step_size},
          {"gamma", o.gamma},
          {"milestones", o.milestones},
          {"t_max", o.t_max},
          {"eta_min", o.eta_min},
          {"warmup_epochs", o.warmup_epochs},
          {"warmup_start_factor", o.warmup_start_factor},
          {"plateau_mode", o.plateau_mode},
          {"plateau_factor", o.plateau_factor},
          {"plateau_patience", o.plateau_patience},
          {"plateau_threshold", o.plateau_threshold},
          {"plateau_threshold_mode", o.plateau_threshold_mode},
          {"plateau_cooldown", o.plateau_cooldown},
          {"plateau_min_lr", o.plateau_min_lr},
          {"plateau_eps", o.plateau_eps}};
}

std::vector<Case> Cases() {
  std::vector<Case> cases;
  auto add = [&cases](std::string label, auto configure) {
    Case c;
    c.label = std::move(label);
    configure(c.options);
    cases.push_back(c);
    return &cases.back();
  };
  add("none", [](ScheduleFields& o) { o.name = "none"; });
  add("step", [](ScheduleFields& o) { o.name = "step"; o.step_size = 3; o.gamma = 0.5; });
  add("step_lenet", [](ScheduleFields& o) { o.name = "step"; o.step_size = 10; o.gamma = 0.1; });
  add("multistep", [](ScheduleFields& o) {
    o.name = "multistep"; o.milestones = {9, 2, 5, 5}; o.gamma = 0.3;
  });
  add("exponential", [](ScheduleFields& o) { o.name = "exponential"; o.gamma = 0.87; });
  add("cosine_periodic", [](ScheduleFields& o) {
    o.name = "cosine"; o.t_max = 5; o.eta_min = 0.001;
  });
  add("cosine_default_period", [](ScheduleFields& o) { o.name = "cosine"; });
  add("warmup_cosine", [](ScheduleFields& o) {
    o.name = "cosine"; o.warmup_epochs = 3; o.warmup_start_factor = 0.1;
  });
  add("warmup_step", [](ScheduleFields& o) {
    o.name = "step"; o.warmup_epochs = 2; o.step_size = 4; o.gamma = 0.5;
  });
  add("warmup_multistep", [](ScheduleFields& o) {
    o.name = "multistep"; o.warmup_epochs = 4; o.milestones = {3, 6};
  });
  add("warmup_exponential", [](ScheduleFields& o) {
    o.name = "exponential"; o.warmup_epochs = 5; o.gamma = 0.9;
  });
  add("warmup_none", [](ScheduleFields& o) {
    o.name = "none"; o.warmup_epochs = 3; o.warmup_start_factor = 0.25;
  });
  const std::vector<double> losses = {1.0, 0.9, 0.95, 0.9, 0.91, 0.92, 0.93, 0.5,
                                      0.6, 0.6, 0.6, 0.6, 0.6, 0.49, 0.6, 0.6,
                                      0.6, 0.6, 0.6, 0.6};
  add("plateau_min_rel", [](ScheduleFields& o) {
    o.name = "plateau"; o.plateau_patience = 2; o.plateau_factor = 0.5;
  })->metrics = losses;
  add("plateau_max_abs_cooldown", [](ScheduleFields& o) {
    o.name = "plateau"; o.plateau_mode = "max"; o.plateau_patience = 1;
    o.plateau_threshold_mode = "abs"; o.plateau_threshold = 0.05;
    o.plateau_cooldown = 2; o.plateau_min_lr = 0.002;
  })->metrics = losses;
  return cases;
}

// The declared options of `o.name`, as a user would give them.
nlohmann::json GivenOptions(const ScheduleFields& o) {
  if (o.name == "step") return {{"step_size", o.step_size}, {"gamma", o.gamma}};
  if (o.name == "multistep") return {{"milestones", o.milestones}, {"gamma", o.gamma}};
  if (o.name == "exponential") return {{"gamma", o.gamma}};
  if (o.name == "cosine") return {{"t_max", o.t_max}, {"eta_min", o.eta_min}};
  if (o.name == "plateau") {
    return {{"mode", o.plateau_mode},           {"factor", o.plateau_factor},
            {"patience", o.plateau_patience},   {"threshold", o.plateau_threshold},
            {"threshold_mode", o.plateau_threshold_mode}, {"cooldown", o.plateau_cooldown},
            {"min_lr", o.plateau_min_lr},       {"eps", o.plateau_eps}};
  }
  return nlohmann::json::object();
}

ScheduleSettings Settings(const ScheduleFields& o, int64_t epochs) {
  ScheduleSettings settings;
  settings.epochs = epochs;
  settings.warmup_epochs = o.warmup_epochs;
  settings.warmup_start_factor = o.warmup_start_factor;
  return settings;
}

absl::StatusOr<std::unique_ptr<LrScheduler>> Build(const ScheduleFields& o,
                                                   torch::optim::Optimizer& optimizer,
                                                   int64_t epochs) {
  return BuildScheduler(o.name, GivenOptions(o), optimizer, Settings(o, epochs));
}

// An SGD optimizer with one parameter group per base learning rate.
std::unique_ptr<torch::optim::SGD> MakeOptimizer() {
  std::vector<torch::optim::OptimizerParamGroup> groups;
  for (double lr : kBaseLrs) {
    groups.emplace_back(std::vector<torch::Tensor>{torch::zeros({1}, torch::requires_grad())},
                        std::make_unique<torch::optim::SGDOptions>(lr));
  }
  return std::make_unique<torch::optim::SGD>(std::move(groups),
                                             torch::optim::SGDOptions(1.0));
}

std::vector<double> Lrs(const torch::optim::Optimizer& optimizer) {
  std::vector<double> lrs;
  for (const auto& group : optimizer.param_groups()) lrs.push_back(group.options().get_lr());
  return lrs;
}

double MetricAt(const Case& c, int64_t epoch) {
  return c.metrics.empty() ? 0.0 : c.metrics[epoch];
}

// Learning rates after construction and after each step; when
// `restart_after` >= 0 the scheduler and optimizer are rebuilt from saved
// state after that many steps, as a resumed run would.
std::vector<std::vector<double>> RunCpp(const Case& c, int64_t restart_after = -1) {
  auto optimizer = MakeOptimizer();
  auto scheduler = Build(c.options, *optimizer, c.epochs);
  EXPECT_TRUE(scheduler.ok()) << c.label << ": " << scheduler.status();
  std::vector<std::vector<double>> lrs = {Lrs(*optimizer)};
  for (int64_t epoch = 0; epoch < c.epochs; ++epoch) {
    if (epoch == restart_after) {
      const std::string saved = (*scheduler)->State().dump();
      optimizer = MakeOptimizer();
      scheduler = Build(c.options, *optimizer, c.epochs);
      EXPECT_TRUE(scheduler.ok());
      EXPECT_TRUE((*scheduler)->LoadState(nlohmann::json::parse(saved)).ok());
    }
    (*scheduler)->Step(MetricAt(c, epoch));
    lrs.push_back(Lrs(*optimizer));
  }
  return lrs;
}

TEST(LrSchedulerTest, LearningRatesEqualPyTorchAtEveryEpoch) {
  const std::vector<Case> cases = Cases();
  nlohmann::json request = nlohmann::json::array();
  for (const Case& c : cases) {
    request.push_back({{"options", OptionsToJson(c.options)},
                       {"epochs", c.epochs},
                       {"base_lrs", kBaseLrs},
                       {"metrics", c.metrics}});
  }
  const std::string request_path = testing::TempDir() + "/lr_cases.json";
  {
    std::FILE* file = std::fopen(request_path.c_str(), "w");
    ASSERT_NE(file, nullptr);
    std::fputs(request.dump().c_str(), file);
    std::fclose(file);
  }
  const std::string command =
      "/usr/bin/python3 framework/optim/lr_scheduler_reference.py \"$(cat " +
      request_path + ")\"";
  const std::string output = RunCommandForTest(command);
  const nlohmann::json expected = nlohmann::json::parse(output);
  ASSERT_EQ(expected.size(), cases.size());

  for (size_t i = 0; i < cases.size(); ++i) {
    const std::vector<std::vector<double>> actual = RunCpp(cases[i]);
    const auto reference = expected[i].get<std::vector<std::vector<double>>>();
    ASSERT_EQ(actual.size(), reference.size()) << cases[i].label;
    for (size_t epoch = 0; epoch < actual.size(); ++epoch) {
      for (size_t group = 0; group < kBaseLrs.size(); ++group) {
        // Same formulas in the same order: equal to the bit.
        EXPECT_EQ(actual[epoch][group], reference[epoch][group])
            << cases[i].label << " epoch " << epoch << " group " << group;
      }
    }
  }
}

TEST(LrSchedulerTest, SavedStateResumesTheSameSchedule) {
  for (const Case& c : Cases()) {
    const auto straight = RunCpp(c);
    for (int64_t restart : {1, 3, 7, 12}) {
      EXPECT_EQ(RunCpp(c, restart), straight) << c.label << " restart " << restart;
    }
  }
}

TEST(LrSchedulerTest, UnknownSchedulerListsRegisteredNames) {
  auto optimizer = MakeOptimizer();
  auto scheduler = BuildScheduler("cosin", nlohmann::json::object(), *optimizer, {10});
  ASSERT_FALSE(scheduler.ok());
  EXPECT_NE(scheduler.status().message().find("unknown scheduler 'cosin'"), std::string::npos);
  EXPECT_NE(scheduler.status().message().find("cosine, exponential, multistep, none, plateau, step"),
            std::string::npos)
      << scheduler.status();
}

TEST(LrSchedulerTest, EveryDeclaredRangeIsEnforced) {
  auto optimizer = MakeOptimizer();
  const ScheduleSettings ten_epochs{10};
  struct Bad {
    std::string scheduler;
    nlohmann::json given;
    std::string message;
  };
  for (const Bad& bad : std::vector<Bad>{
           {"multistep", nlohmann::json::object(),
            "'milestones': scheduler 'multistep' needs option 'milestones' (Epochs after which to "
            "decay, e.g. 10,15.)"},
           {"step", {{"step_size", 0}},
            "'step_size': option 'step_size' of scheduler 'step' must be >= 1, got 0"},
           {"cosine", {{"t_max", -3}},
            "'t_max': option 't_max' of scheduler 'cosine' must be >= 0, got -3"},
           {"plateau", {{"factor", 1.5}},
            "'factor': option 'factor' of scheduler 'plateau' must be in (0, 1), got 1.5"},
           {"exponential", {{"gamma", 0}},
            "'gamma': option 'gamma' of scheduler 'exponential' must be > 0, got 0.0"},
           {"none", {{"gamma", 0.5}},
            "'gamma': scheduler 'none' has no option 'gamma'; its options are none"},
       }) {
    auto scheduler = BuildScheduler(bad.scheduler, bad.given, *optimizer, ten_epochs);
    ASSERT_FALSE(scheduler.ok()) << bad.scheduler;
    EXPECT_EQ(scheduler.status().message(), bad.message);
  }
}

// A schedule registered as plugins register one: halves the rate each epoch.
class Halving : public ChainableScheduler {
 public:
  using ChainableScheduler::ChainableScheduler;

 protected:
  double RecursiveLr(double lr, double) const override { return last_epoch() == 0 ? lr : lr / 2; }
  std::optional<double> ClosedFormLr(double base_lr) const override {
    return base_lr / static_cast<double>(int64_t{1} << last_epoch());
  }
};

REGISTER_SCHEDULER("test_halving",
                   ChainableSchedule([](const OptionValues&, torch::optim::Optimizer& optimizer,
                                        std::vector<double> base, const ScheduleSettings&)
                                         -> absl::StatusOr<std::unique_ptr<ChainableScheduler>> {
                     return std::unique_ptr<ChainableScheduler>(
                         new Halving(optimizer, std::move(base)));
                   }));

TEST(LrSchedulerTest, ARegisteredChainableScheduleFollowsAWarmUp) {
  auto optimizer = MakeOptimizer();
  ScheduleSettings settings{10};
  settings.warmup_epochs = 2;
  settings.warmup_start_factor = 0.5;
  auto scheduler =
      BuildScheduler("test_halving", nlohmann::json::object(), *optimizer, settings);
  ASSERT_TRUE(scheduler.ok()) << scheduler.status();
  std::vector<double> lrs = {GetLearningRates(*optimizer)[0]};
  for (int epoch = 0; epoch < 4; ++epoch) {
    (*scheduler)->Step(0);
    lrs.push_back(GetLearningRates(*optimizer)[0]);
  }
  // Linear warm-up 0.5 -> 1 over two epochs, then the schedule restarts at
  // epoch 0 of its own (SequentialLR) and halves.
  const double base = lrs[2];
  EXPECT_DOUBLE_EQ(lrs[0], base * 0.5);
  EXPECT_DOUBLE_EQ(lrs[1], base * 0.75);
  EXPECT_DOUBLE_EQ(lrs[3], base / 2);
  EXPECT_DOUBLE_EQ(lrs[4], base / 4);
}

TEST(LrSchedulerTest, AStandaloneScheduleCannotFollowAWarmUp) {
  auto optimizer = MakeOptimizer();
  ScheduleSettings settings{10};
  settings.warmup_epochs = 1;
  auto scheduler = BuildScheduler("plateau", nlohmann::json::object(), *optimizer, settings);
  ASSERT_FALSE(scheduler.ok());
  EXPECT_EQ(scheduler.status().message(),
            "scheduler 'plateau' cannot follow a warm-up, as in PyTorch's SequentialLR");
}

TEST(LrSchedulerTest, CorruptStateIsAnError) {
  auto optimizer = MakeOptimizer();
  auto scheduler = BuildScheduler("step", nlohmann::json::object(), *optimizer, {10});
  ASSERT_TRUE(scheduler.ok());
  absl::Status status = (*scheduler)->LoadState({{"last_epoch", 3}});
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("bad scheduler state"), std::string::npos);
}

}  // namespace
}  // namespace framework
