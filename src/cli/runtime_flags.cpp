#include "cli/runtime_flags.h"

#include <ATen/Parallel.h>
#include <CLI/CLI.hpp>

#include "engine/engine.h"
#include "model/loader.h"
#include "util/device_names.h"
#include "util/error.h"
#include "util/log.h"

namespace safrl::cli {

void add_runtime_flags(CLI::App& command, RuntimeFlags& flags) {
  command.add_option("--device", flags.device,
                     "cpu | cuda | cuda:N (default: runtime.device of the config)");
  command.add_option("--dtype", flags.dtype,
                     "compute dtype: float32 | bfloat16 | float16 (default: runtime.dtype of the "
                     "config)");
  command.add_option("--threads", flags.threads,
                     "threads of LibTorch's CPU operators (default: runtime.threads of the "
                     "config, else one per core)");
}

OmpWaitPolicyPlan apply_runtime_flags(
    const RuntimeFlags* flags, reward::Config& config,
    std::optional<reward::OmpWaitPolicy> omp_wait_policy_default) {
  reward::RuntimeConfig& runtime = config.runtime;
  // First: the program may start again, and checking a CUDA device opens files and threads.
  OmpWaitPolicyPlan omp = use_omp_wait_policy(runtime, omp_wait_policy_default, "safrl");
  // The same spellings as the config's keys, checked by the same functions.
  auto checked = [](const std::string& flag, const std::string& value, auto parse) {
    try {
      parse(value);
    } catch (const util::InputError& e) {
      throw util::LoadError(util::cat(flag, ": ", e.what()));
    }
    return value;
  };
  const bool device_flag = flags != nullptr && !flags->device.empty();
  if (device_flag) runtime.device = checked("--device", flags->device, util::parse_device);
  if (flags != nullptr && !flags->dtype.empty()) {
    const std::string dtype = checked("--dtype", flags->dtype, util::parse_dtype);
    if (runtime.storage_dtype == runtime.dtype) runtime.storage_dtype = dtype;
    runtime.dtype = dtype;
  }
  if (flags != nullptr && flags->threads != 0) {
    if (flags->threads < 1 || flags->threads > reward::RuntimeConfig::kMaxThreads) {
      throw util::LoadError(util::cat("--threads: must be 1 to ",
                                      reward::RuntimeConfig::kMaxThreads, ", got ",
                                      flags->threads));
    }
    runtime.threads = flags->threads;
  }
  // Before any model loads: LibTorch sizes its thread pool on first use.
  if (runtime.threads) at::set_num_threads(static_cast<int>(*runtime.threads));
  if (device_flag) {
    check_device(runtime.device, "--device", "use --device cpu");
  } else {
    const std::string in_config = util::cat("set runtime.device: cpu in ", config.source);
    check_device(runtime.device, util::cat(config.source, ": runtime.device:"),
                 flags != nullptr ? "use --device cpu, or " + in_config : in_config);
  }
  return omp;
}

void log_cpu_threads(const std::string& component, const reward::RuntimeConfig& runtime,
                     const std::string& omp_wait_policy) {
  util::log_info(component,
                 util::cat("CPU threads: ", at::get_num_threads(),
                           runtime.threads ? " (runtime.threads)" : " (LibTorch's default)",
                           "; OpenMP wait policy: ", omp_wait_policy));
}

void check_device(const std::string& device, const std::string& asked_by, const std::string& fix) {
  const std::string reason = model::device_unusable_reason(engine::parse_device(device));
  if (!reason.empty()) {
    throw util::LoadError(
        util::cat(asked_by, " ", device, " was asked for, but ", reason, "; ", fix));
  }
}

}  // namespace safrl::cli
