// The command line's say over where and in which precision the models run: --device and --dtype,
// overriding runtime.device and runtime.dtype of the config (safrl score, safrl serve; the
// spellings of safrl forward's flags and of the config), and the check, before any model loads,
// that the device asked for exists here. Its message names where the device was asked for (the
// flag, or the config key in its file) and a fix the command has.
#pragma once

#include <string>

#include "reward/config.h"

namespace CLI {
class App;
}

namespace safrl::cli {

struct RuntimeFlags {
  std::string device;  // empty: runtime.device of the config
  std::string dtype;   // empty: runtime.dtype of the config
};

// Declares --device and --dtype on `command`, stored in `flags`.
void add_runtime_flags(CLI::App& command, RuntimeFlags& flags);

// Applies `flags` to config.runtime (runtime.storage_dtype follows a --dtype where it was the
// config's dtype), then checks the device. `flags` is null for a command without them
// (safrl bench), whose message then offers only the config key. Throws util::LoadError.
void apply_runtime_flags(const RuntimeFlags* flags, reward::Config& config);

// Throws util::LoadError when `device` cannot run a model here:
// "<asked_by> <device> was asked for, but <why>; <fix>".
void check_device(const std::string& device, const std::string& asked_by, const std::string& fix);

}  // namespace safrl::cli
