#include "framework/core/registry.h"

#include <functional>

#include "gtest/gtest.h"

namespace framework {
namespace {

using IntFactory = std::function<int()>;

Registry<IntFactory>& TestRegistry() {
  static auto* registry = new Registry<IntFactory>("widget");
  return *registry;
}

// Registered at static-initialisation time, as plugins do.
static Registration<IntFactory> registered_two(TestRegistry(), "two", [] { return 2; });
static Registration<IntFactory> registered_three(TestRegistry(), "three", [] { return 3; });

TEST(RegistryTest, FindsWhatStaticRegistrationsAdded) {
  auto factory = TestRegistry().Find("three");
  ASSERT_TRUE(factory.ok());
  EXPECT_EQ((*factory)(), 3);
  EXPECT_TRUE(TestRegistry().Contains("two"));
  EXPECT_EQ(TestRegistry().Names(), (std::vector<std::string>{"three", "two"}));
}

TEST(RegistryTest, RemembersWhichFileRegistered) {
  Registry<IntFactory> registry("widget");
  registry.Register("five", [] { return 5; }, "plugins/five.cc");
  EXPECT_EQ(registry.Source("five"), "plugins/five.cc");
  EXPECT_EQ(registry.Source("six"), "");
}

TEST(RegistryTest, UnknownNameListsRegisteredNames) {
  auto factory = TestRegistry().Find("fourr");
  ASSERT_FALSE(factory.ok());
  EXPECT_EQ(factory.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(factory.status().message(),
            "unknown widget 'fourr'; registered widgets: three, two");
}

TEST(RegistryTest, EmptyRegistrySaysThePluginMayBeMissing) {
  Registry<IntFactory> empty("gadget");
  auto factory = empty.Find("x");
  ASSERT_FALSE(factory.ok());
  EXPECT_NE(factory.status().message().find("is the plugin library linked or loaded?"),
            std::string::npos);
}

TEST(RegistryDeathTest, DuplicateRegistrationIsAProgrammerError) {
  Registry<IntFactory> registry("widget");
  registry.Register("one", [] { return 1; }, "first.cc");
  EXPECT_DEATH(registry.Register("one", [] { return 1; }, "second.cc"),
               "widget 'one' is registered twice: by first.cc and by second.cc");
}

}  // namespace
}  // namespace framework
