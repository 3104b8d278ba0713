// runtime.omp_wait_policy applied to libgomp, LibTorch's OpenMP. Idle OpenMP threads spin on
// their cores by default before they sleep; beside a trainer that keeps every core busy, spinning
// threads that outnumber the free cores stall each parallel region (10-50x on LibTorch). Passive
// threads sleep in the kernel at once, so the commands that run models run passive unless told
// otherwise.
//
// libgomp reads OMP_WAIT_POLICY once, when it loads, before main: a policy other than the one it
// read takes setting the variable and running the program again (execv of /proc/self/exe with
// the same arguments), once. SAFRL_OMP_WAIT_POLICY_SET records the value safrl set, so a value
// inherited from a safrl parent is not taken for the user's; OMP_WAIT_POLICY set by the user
// always wins.
#pragma once

#include <optional>
#include <string>

#include "reward/config.h"

namespace safrl::cli {

// What to do about the OpenMP wait policy, and what is in effect afterwards.
struct OmpWaitPolicyPlan {
  // Set OMP_WAIT_POLICY to `value` (and the marker) and run the program again.
  bool rerun = false;
  std::string value;  // "PASSIVE" | "ACTIVE", when rerun
  // The policy libgomp runs with once the plan is carried out; nullopt: libgomp's own default
  // (spin a while, then sleep), or a value of the user's that is neither passive nor active.
  std::optional<reward::OmpWaitPolicy> in_effect;
  // The policy and who chose it, for the log line: "passive (runtime.omp_wait_policy)".
  std::string description;
};

// Decides from the policy asked for (runtime.omp_wait_policy, else `command_default`; both unset:
// libgomp's default, nothing to do) and the environment's OMP_WAIT_POLICY, marker and
// GOMP_SPINCOUNT (null when unset).
OmpWaitPolicyPlan plan_omp_wait_policy(const reward::RuntimeConfig& runtime,
                                       std::optional<reward::OmpWaitPolicy> command_default,
                                       const char* environment_policy, const char* marker,
                                       const char* spin_count);

// Plans from this process's environment and carries the plan out: when it says rerun, this
// process is replaced by the same command line under the new policy and the call does not
// return (if execv fails, `component` logs a warning and libgomp's policy stays). Call it before
// any thread, socket or long-lived file descriptor is opened: the program starts again from main.
OmpWaitPolicyPlan use_omp_wait_policy(const reward::RuntimeConfig& runtime,
                                      std::optional<reward::OmpWaitPolicy> command_default,
                                      const std::string& component);

}  // namespace safrl::cli
