// This process's resident memory, from /proc/self/status (Linux): for benchmarks, soak checks and
// the service's /metrics. Zero where the kernel does not report it.
#pragma once

#include <cstdint>

namespace safrl::util {

struct ProcessMemory {
  int64_t resident_bytes = 0;       // VmRSS: now
  int64_t peak_resident_bytes = 0;  // VmHWM: the most since the process started
};

ProcessMemory process_memory();

}  // namespace safrl::util
