// When the server gives freed memory back: once, after activity, when idle long enough.
#include "serve/idle_trim.h"

#include <gtest/gtest.h>

namespace safrl::serve {
namespace {

TEST(IdleTrim, TrimsOnceWhenIdleLongEnoughAfterActivity) {
  IdleTrim trim(std::chrono::seconds(1));
  const Clock::time_point start = Clock::now();
  trim.tick(start, 5, 1);                                   // busy
  trim.tick(start + std::chrono::milliseconds(500), 5, 0);  // idle for 0.5 s
  EXPECT_EQ(trim.trims(), 0);
  trim.tick(start + std::chrono::milliseconds(1100), 5, 0);
  EXPECT_EQ(trim.trims(), 1);
  trim.tick(start + std::chrono::seconds(5), 5, 0);  // still idle: nothing new to give back
  EXPECT_EQ(trim.trims(), 1);
  trim.tick(start + std::chrono::seconds(6), 9, 0);  // new requests
  trim.tick(start + std::chrono::seconds(8), 9, 0);
  EXPECT_EQ(trim.trims(), 2);
}

}  // namespace
}  // namespace safrl::serve
