#include "cli/omp_policy.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <vector>

#include "util/error.h"
#include "util/log.h"

namespace safrl::cli {
namespace {

constexpr const char* kPolicyVariable = "OMP_WAIT_POLICY";
constexpr const char* kMarkerVariable = "SAFRL_OMP_WAIT_POLICY_SET";
constexpr const char* kSpinCountVariable = "GOMP_SPINCOUNT";

std::string upper(std::string text) {
  for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

// libgomp's reading of OMP_WAIT_POLICY: "passive" or "active" in any case, anything else ignored.
std::optional<reward::OmpWaitPolicy> parse_environment_policy(const std::string& value) {
  const std::string spelled = upper(value);
  if (spelled == "PASSIVE") return reward::OmpWaitPolicy::kPassive;
  if (spelled == "ACTIVE") return reward::OmpWaitPolicy::kActive;
  return std::nullopt;
}

// This process's arguments as the kernel keeps them, argv[0] included.
std::vector<std::string> command_line() {
  std::ifstream file("/proc/self/cmdline", std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  std::vector<std::string> arguments;
  size_t begin = 0;
  while (begin < text.size()) {
    const size_t end = std::min(text.find('\0', begin), text.size());
    arguments.push_back(text.substr(begin, end - begin));
    begin = end + 1;
  }
  return arguments;
}

}  // namespace

OmpWaitPolicyPlan plan_omp_wait_policy(const reward::RuntimeConfig& runtime,
                                       std::optional<reward::OmpWaitPolicy> command_default,
                                       const char* environment_policy, const char* marker,
                                       const char* spin_count) {
  OmpWaitPolicyPlan plan;
  const std::optional<reward::OmpWaitPolicy> wanted =
      runtime.omp_wait_policy ? runtime.omp_wait_policy : command_default;
  const std::string chosen_by =
      runtime.omp_wait_policy ? "runtime.omp_wait_policy" : "this command's default";
  const bool in_environment = environment_policy != nullptr && *environment_policy != '\0';
  const bool set_by_safrl =
      in_environment && marker != nullptr && std::strcmp(environment_policy, marker) == 0;
  if (in_environment && (!set_by_safrl || !wanted)) {
    plan.in_effect = parse_environment_policy(environment_policy);
    plan.description =
        util::cat(kPolicyVariable, "=", environment_policy, " (",
                  set_by_safrl ? "set by a safrl parent" : "the environment's",
                  wanted && !set_by_safrl
                      ? util::cat(", over ", chosen_by, " ", reward::omp_wait_policy_name(*wanted))
                      : std::string(),
                  ")");
  } else if (!wanted) {
    plan.description = "libgomp's default (spin a while, then sleep)";
  } else {
    plan.in_effect = wanted;
    plan.description = util::cat(reward::omp_wait_policy_name(*wanted), " (", chosen_by, ")");
    const std::string value = upper(std::string(reward::omp_wait_policy_name(*wanted)));
    if (!in_environment || value != environment_policy) {
      plan.rerun = true;
      plan.value = value;
    }
  }
  // libgomp's spin count comes from GOMP_SPINCOUNT when it is set, whatever the policy.
  if (spin_count != nullptr && *spin_count != '\0') {
    plan.description +=
        util::cat(", ", kSpinCountVariable, "=", spin_count, " from the environment");
  }
  return plan;
}

OmpWaitPolicyPlan use_omp_wait_policy(const reward::RuntimeConfig& runtime,
                                      std::optional<reward::OmpWaitPolicy> command_default,
                                      const std::string& component) {
  OmpWaitPolicyPlan plan =
      plan_omp_wait_policy(runtime, command_default, std::getenv(kPolicyVariable),
                           std::getenv(kMarkerVariable), std::getenv(kSpinCountVariable));
  if (!plan.rerun) return plan;
  const std::vector<std::string> arguments = command_line();
  std::vector<char*> argv;
  for (const std::string& argument : arguments) argv.push_back(const_cast<char*>(argument.c_str()));
  argv.push_back(nullptr);
  ::setenv(kPolicyVariable, plan.value.c_str(), 1);
  ::setenv(kMarkerVariable, plan.value.c_str(), 1);
  // What this process wrote so far must not be lost, nor written twice by the new one.
  std::cout.flush();
  std::fflush(nullptr);
  if (arguments.empty()) {
    errno = ENOENT;
  } else {
    ::execv("/proc/self/exe", argv.data());
  }
  const std::string reason = std::strerror(errno);
  util::log_warn(component, util::cat("cannot run again with ", kPolicyVariable, "=", plan.value,
                                      " (", reason, "); libgomp keeps the policy it started with"));
  plan.rerun = false;
  plan.in_effect = std::nullopt;
  plan.description = "the one libgomp started with (running again failed)";
  return plan;
}

}  // namespace safrl::cli
