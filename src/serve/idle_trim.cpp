#include "serve/idle_trim.h"

#include "util/process_memory.h"

namespace safrl::serve {

void IdleTrim::tick(Clock::time_point now, int64_t requests, int64_t jobs) {
  if (requests != requests_seen_ || jobs > 0) {
    requests_seen_ = requests;
    last_activity_ = now;
    due_ = true;
    return;
  }
  if (due_ && now - last_activity_ >= idle_) {
    util::release_freed_memory();
    due_ = false;
    ++trims_;
  }
}

}  // namespace safrl::serve
