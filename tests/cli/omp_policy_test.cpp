// runtime.threads and runtime.omp_wait_policy: how the config spells them, what it refuses, and
// the plan that decides whether `safrl serve` runs itself again under another OpenMP policy.
#include "cli/omp_policy.h"

#include <string>

#include <gtest/gtest.h>

#include "cli/config_file.h"
#include "support/test_support.h"

namespace safrl::cli {
namespace {

using reward::OmpWaitPolicy;
using safrl::testing::load_error;

reward::RuntimeConfig runtime_of(const std::string& runtime_body) {
  return parse_config_file(
             "guard: {model: /m/guard}\nreward: {type: guard_only}\nruntime:\n" + runtime_body, "",
             "x.yaml")
      .reward.runtime;
}

std::string error(const std::string& runtime_body) {
  return load_error([&] { runtime_of(runtime_body); });
}

TEST(RuntimeThreadsConfig, ValuesAsWritten) {
  const reward::RuntimeConfig runtime = runtime_of("  threads: 1\n  omp_wait_policy: passive\n");
  EXPECT_EQ(runtime.threads, 1);
  EXPECT_EQ(runtime.omp_wait_policy, OmpWaitPolicy::kPassive);
  EXPECT_EQ(runtime_of("  threads: 4096\n").threads, 4096);  // the largest accepted
  EXPECT_EQ(runtime_of("  omp_wait_policy: active\n").omp_wait_policy, OmpWaitPolicy::kActive);
  EXPECT_FALSE(runtime_of("  omp_wait_policy: active\n").threads.has_value());
}

TEST(RuntimeThreadsConfig, RefusedValuesNameTheKey) {
  EXPECT_EQ(error("  threads: 0\n"), "x.yaml: runtime.threads: must be positive, got 0");
  EXPECT_EQ(error("  threads: -2\n"), "x.yaml: runtime.threads: must be positive, got -2");
  EXPECT_EQ(error("  threads: 4097\n"), "x.yaml: runtime.threads: must be at most 4096");
  EXPECT_EQ(error("  threads: 1.5\n"), "x.yaml: runtime.threads: expected an integer, got \"1.5\"");
  EXPECT_EQ(error("  threads: two\n"), "x.yaml: runtime.threads: expected an integer, got \"two\"");
  EXPECT_EQ(error("  omp_wait_policy: PASSIVE\n"),
            "x.yaml: runtime.omp_wait_policy: unknown OpenMP wait policy \"PASSIVE\"; valid "
            "values: passive, active");
  EXPECT_EQ(error("  thread: 2\n"),
            "x.yaml: runtime.thread: unknown key; valid keys here: device, dtype, storage_dtype, "
            "threads, omp_wait_policy");
}

reward::RuntimeConfig with_policy(std::optional<OmpWaitPolicy> policy) {
  reward::RuntimeConfig runtime;
  runtime.omp_wait_policy = policy;
  return runtime;
}

OmpWaitPolicyPlan plan(std::optional<OmpWaitPolicy> configured, const char* environment,
                       const char* marker = nullptr, const char* spin_count = nullptr) {
  return plan_omp_wait_policy(with_policy(configured), OmpWaitPolicy::kPassive, environment, marker,
                              spin_count);
}

TEST(OmpWaitPolicyPlan, TheCommandDefaultRunsAgainOnceWithTheVariableSet) {
  OmpWaitPolicyPlan first = plan(std::nullopt, nullptr);
  EXPECT_TRUE(first.rerun);
  EXPECT_EQ(first.value, "PASSIVE");
  EXPECT_EQ(first.in_effect, OmpWaitPolicy::kPassive);
  EXPECT_EQ(first.description, "passive (this command's default)");
  // The second run finds the variable and the marker it set: nothing more to do.
  OmpWaitPolicyPlan second = plan(std::nullopt, "PASSIVE", "PASSIVE");
  EXPECT_FALSE(second.rerun);
  EXPECT_EQ(second.in_effect, OmpWaitPolicy::kPassive);
  EXPECT_EQ(second.description, "passive (this command's default)");
}

TEST(OmpWaitPolicyPlan, TheConfigOverridesAValueASafrlParentSet) {
  OmpWaitPolicyPlan active = plan(OmpWaitPolicy::kActive, "PASSIVE", "PASSIVE");
  EXPECT_TRUE(active.rerun);
  EXPECT_EQ(active.value, "ACTIVE");
  EXPECT_EQ(active.description, "active (runtime.omp_wait_policy)");
}

TEST(OmpWaitPolicyPlan, TheUsersOwnVariableWins) {
  OmpWaitPolicyPlan users = plan(OmpWaitPolicy::kPassive, "active");
  EXPECT_FALSE(users.rerun);
  EXPECT_EQ(users.in_effect, OmpWaitPolicy::kActive);  // libgomp ignores the case
  EXPECT_EQ(users.description,
            "OMP_WAIT_POLICY=active (the environment's, over runtime.omp_wait_policy passive)");
  // A marker that does not match says the user changed the variable after safrl set it.
  OmpWaitPolicyPlan changed = plan(std::nullopt, "ACTIVE", "PASSIVE");
  EXPECT_FALSE(changed.rerun);
  EXPECT_EQ(changed.in_effect, OmpWaitPolicy::kActive);
  // A value libgomp does not know leaves its default policy.
  OmpWaitPolicyPlan unknown = plan(std::nullopt, "sleepy");
  EXPECT_FALSE(unknown.rerun);
  EXPECT_FALSE(unknown.in_effect.has_value());
}

TEST(OmpWaitPolicyPlan, NoPolicyAskedForLeavesLibgomp) {
  OmpWaitPolicyPlan none =
      plan_omp_wait_policy(with_policy(std::nullopt), std::nullopt, nullptr, nullptr, "1000");
  EXPECT_FALSE(none.rerun);
  EXPECT_FALSE(none.in_effect.has_value());
  EXPECT_EQ(none.description,
            "libgomp's default (spin a while, then sleep), GOMP_SPINCOUNT=1000 from the "
            "environment");
}

}  // namespace
}  // namespace safrl::cli
