#include "util/process_memory.h"

#include <malloc.h>

#include <climits>
#include <fstream>
#include <sstream>
#include <string>

namespace safrl::util {

ProcessMemory process_memory() {
  ProcessMemory memory;
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    std::istringstream fields(line);
    std::string key;
    int64_t kb = 0;
    fields >> key >> kb;
    if (key == "VmRSS:") memory.resident_bytes = kb * 1024;
    if (key == "VmHWM:") memory.peak_resident_bytes = kb * 1024;
  }
  return memory;
}

void release_freed_memory() {
  malloc_trim(0);
}

void keep_freed_memory_for_reuse() {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, INT_MAX);
}

}  // namespace safrl::util
