#include "cli/runtime_flags.h"

#include <CLI/CLI.hpp>

#include "engine/engine.h"
#include "model/loader.h"
#include "util/device_names.h"
#include "util/error.h"

namespace safrl::cli {

void add_runtime_flags(CLI::App& command, RuntimeFlags& flags) {
  command.add_option("--device", flags.device,
                     "cpu | cuda | cuda:N (default: runtime.device of the config)");
  command.add_option("--dtype", flags.dtype,
                     "compute dtype: float32 | bfloat16 | float16 (default: runtime.dtype of the "
                     "config)");
}

void apply_runtime_flags(const RuntimeFlags* flags, reward::Config& config) {
  reward::RuntimeConfig& runtime = config.runtime;
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
  if (device_flag) {
    check_device(runtime.device, "--device", "use --device cpu");
  } else {
    const std::string in_config = util::cat("set runtime.device: cpu in ", config.source);
    check_device(runtime.device, util::cat(config.source, ": runtime.device:"),
                 flags != nullptr ? "use --device cpu, or " + in_config : in_config);
  }
}

void check_device(const std::string& device, const std::string& asked_by, const std::string& fix) {
  const std::string reason = model::device_unusable_reason(engine::parse_device(device));
  if (!reason.empty()) {
    throw util::LoadError(
        util::cat(asked_by, " ", device, " was asked for, but ", reason, "; ", fix));
  }
}

}  // namespace safrl::cli
