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

// Makes glibc keep freed blocks of up to 32 MiB (its maximum) in the heap and never give the top of
// the heap back: a forward allocates and frees the same large activations at every layer, and by
// default each one came back as fresh pages to fault in and zero (about a tenth of a CPU prefill
// in perf). The process then holds on to its peak working set, which it reuses at the next batch.
// Programs call it first thing in main(); a library must not change it for its host.
void keep_freed_memory_for_reuse();

// Gives the freed heap memory of every arena back to the system now (malloc_trim). For a
// long-running server between bursts: the setting above is kept because it pays during a
// forward, but without this the process would hold its largest burst (a flood of 64 MiB
// requests) for good. Takes milliseconds per GiB of heap; call it when idle.
void release_freed_memory();

}  // namespace safrl::util
