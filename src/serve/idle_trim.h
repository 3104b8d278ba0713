// When the server gives freed heap memory back to the system: once it has been idle (no new
// request, no job in flight) for `idle` after handling requests. glibc is told to keep freed
// memory for the forward pass (util::keep_freed_memory_for_reuse), so without this a burst of
// large requests would leave the process at its peak for good. The next forward after a trim
// faults its working set in again, once: the server uses 10 s, longer than the gaps between the
// batches of one training step and shorter than a step's rollouts. Used by the I/O thread only.
#pragma once

#include <chrono>
#include <cstdint>

#include "serve/job.h"

namespace safrl::serve {

class IdleTrim {
 public:
  explicit IdleTrim(Clock::duration idle) : idle_(idle) {}

  // Called a few times a second with the requests handled so far and the jobs in flight;
  // trims when the server has just become idle.
  void tick(Clock::time_point now, int64_t requests, int64_t jobs);
  int64_t trims() const { return trims_; }

 private:
  const Clock::duration idle_;
  int64_t requests_seen_ = 0;
  bool due_ = false;
  Clock::time_point last_activity_{};
  int64_t trims_ = 0;
};

}  // namespace safrl::serve
