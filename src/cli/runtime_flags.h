// The command line's say over where, in which precision and on how many CPU threads the models
// run: --device, --dtype and --threads, overriding runtime.device, runtime.dtype and
// runtime.threads of the config (safrl score, safrl serve; the
// spellings of safrl forward's flags and of the config), and the check, before any model loads,
// that the device asked for exists here. Its message names where the device was asked for (the
// flag, or the config key in its file) and a fix the command has.
#pragma once

#include <cstdint>
#include <string>

#include "cli/omp_policy.h"
#include "reward/config.h"

namespace CLI {
class App;
}

namespace safrl::cli {

struct RuntimeFlags {
  std::string device;   // empty: runtime.device of the config
  std::string dtype;    // empty: runtime.dtype of the config
  int64_t threads = 0;  // 0: runtime.threads of the config
};

// Declares --device, --dtype and --threads on `command`, stored in `flags`.
void add_runtime_flags(CLI::App& command, RuntimeFlags& flags);

// First applies runtime.omp_wait_policy, else `omp_wait_policy_default` (cli/omp_policy.h: the
// program may run again from main, so call this before opening anything; passive by default, as
// measured: experiments/bench/RESULTS.md, issue 29), then applies `flags`
// to config.runtime (runtime.storage_dtype follows a --dtype where it was the config's dtype),
// checks the device and sets LibTorch's CPU threads to runtime.threads where given. `flags` is
// null for a command without them (safrl bench), whose message then offers only the config key.
// Returns the OpenMP wait policy in effect. Throws util::LoadError.
OmpWaitPolicyPlan apply_runtime_flags(
    const RuntimeFlags* flags, reward::Config& config,
    std::optional<reward::OmpWaitPolicy> omp_wait_policy_default = reward::OmpWaitPolicy::kPassive);

// Logs at info which CPU threads `component`'s models run with: LibTorch's thread count (and
// whether runtime.threads chose it) and `omp_wait_policy` (OmpWaitPolicyPlan::description).
void log_cpu_threads(const std::string& component, const reward::RuntimeConfig& runtime,
                     const std::string& omp_wait_policy);

// Throws util::LoadError when `device` cannot run a model here:
// "<asked_by> <device> was asked for, but <why>; <fix>".
void check_device(const std::string& device, const std::string& asked_by, const std::string& fix);

}  // namespace safrl::cli
