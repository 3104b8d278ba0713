// Admission decides by count and by bytes and answers with typed refusals (the reply cache's
// tests are in reply_cache_test.cpp).
#include "serve/admission.h"

#include <gtest/gtest.h>

#include <chrono>
#include <limits>

namespace safrl::serve {
namespace {

constexpr int64_t kNoByteBound = std::numeric_limits<int64_t>::max();

TEST(Admission, QueuedRequestBytesAreBoundedAndGivenBackWhenAnswered) {
  Metrics metrics;
  Admission admission(100, 1000, metrics);
  EXPECT_FALSE(admission.try_admit(1, "a", true, 600));
  const std::optional<ErrorReply> busy = admission.try_admit(1, "b", true, 500);
  ASSERT_TRUE(busy);
  EXPECT_EQ(busy->code, ErrorCode::kBusy);
  EXPECT_EQ(busy->message,
            "the requests queued hold 600 bytes, with this one's 500 over the bound of 1000 "
            "(server.max_queued_bytes); retry later with the same id");
  EXPECT_EQ(metrics.busy_replies, 1);
  EXPECT_FALSE(admission.try_admit(1, "c", true, 400));  // exactly at the bound
  admission.release_bytes(600);
  EXPECT_FALSE(admission.try_admit(1, "b", true, 500));
  admission.release_bytes(900);
  // A request over the bound by itself waits until nothing else is queued, then is admitted.
  EXPECT_FALSE(admission.try_admit(1, "huge", true, 5000));
  EXPECT_TRUE(admission.try_admit(1, "small", true, 1));
}

TEST(Admission, AdmitsUpToTheBoundThenAnswersBusyWithARetryHint) {
  Metrics metrics;
  Admission admission(10, kNoByteBound, metrics);
  EXPECT_FALSE(admission.try_admit(6, ""));
  EXPECT_FALSE(admission.try_admit(4, ""));
  EXPECT_EQ(metrics.queued_samples, 10);
  std::optional<ErrorReply> busy = admission.try_admit(1, "");
  ASSERT_TRUE(busy);
  EXPECT_EQ(busy->code, ErrorCode::kBusy);
  EXPECT_EQ(busy->retry_after_ms, 60);  // before any pass: 50 ms plus one per queued sample
  EXPECT_EQ(metrics.busy_replies, 1);
  // Once the engine's rate is measured: the time to score what must leave for the request to
  // fit (here 1 + 5 - 0 = 6 samples at 20 samples/s), within 50 ms .. 30 s.
  metrics.scoring_rate = 20.0;
  EXPECT_EQ(admission.try_admit(6, "")->retry_after_ms, 300);
  metrics.scoring_rate = 1e6;
  EXPECT_EQ(admission.try_admit(6, "")->retry_after_ms, 50);
  metrics.scoring_rate = 0.01;
  EXPECT_EQ(admission.try_admit(6, "")->retry_after_ms, 30000);
  admission.release(4);
  EXPECT_FALSE(admission.try_admit(4, ""));
  EXPECT_EQ(admission.jobs(), 2);
}

TEST(Admission, ARequestLargerThanTheBoundIsBadRequestNotBusy) {
  Metrics metrics;
  Admission admission(10, kNoByteBound, metrics);
  std::optional<ErrorReply> refusal = admission.try_admit(11, "");
  ASSERT_TRUE(refusal);
  EXPECT_EQ(refusal->code, ErrorCode::kBadRequest);
  EXPECT_EQ(refusal->message,
            "the request has 11 samples, more than the server holds at once (10); split it into "
            "smaller requests");
  EXPECT_EQ(metrics.busy_replies, 0);
}

TEST(Admission, AfterStopEverythingIsShuttingDown) {
  Metrics metrics;
  Admission admission(2, kNoByteBound, metrics);
  ASSERT_FALSE(admission.try_admit(1, ""));
  admission.stop();
  EXPECT_TRUE(admission.stopped());
  std::optional<ErrorReply> refused = admission.try_admit(1, "");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->code, ErrorCode::kShuttingDown);
  // Work admitted before the stop is still counted until it is answered.
  EXPECT_EQ(admission.jobs(), 1);
  admission.release(1);
  EXPECT_EQ(admission.jobs(), 0);
}

TEST(Admission, ACallerThatWillAskAgainIsNotCountedBusy) {
  Metrics metrics;
  Admission admission(2, kNoByteBound, metrics);
  ASSERT_FALSE(admission.try_admit(2, ""));
  std::optional<ErrorReply> quiet = admission.try_admit(1, "", /*count_busy=*/false);
  ASSERT_TRUE(quiet);
  EXPECT_EQ(quiet->code, ErrorCode::kBusy);
  EXPECT_EQ(metrics.busy_replies.load(), 0);
  ASSERT_TRUE(admission.try_admit(1, ""));
  EXPECT_EQ(metrics.busy_replies.load(), 1);
  admission.release(2);
  EXPECT_FALSE(admission.try_admit(1, "", /*count_busy=*/false));
}

TEST(Admission, TheFirstRequestToldBusyHasItsRoomKeptUntilItComesBack) {
  Metrics metrics;
  Admission admission(4, kNoByteBound, metrics);
  ASSERT_FALSE(admission.try_admit(2, "small-1"));
  // A request of 4 does not fit: it is told busy, and its room is kept from now on.
  ASSERT_TRUE(admission.try_admit(4, "large"));
  admission.release(2);
  // Small requests no longer take the room the large one waits for, even with the queue empty.
  std::optional<ErrorReply> held = admission.try_admit(2, "small-2");
  ASSERT_TRUE(held);
  EXPECT_EQ(held->code, ErrorCode::kBusy);
  EXPECT_EQ(held->message,
            "the server holds 0 samples, its bound is 4, 4 of them kept for an earlier request; "
            "retry later with the same id");
  // The large one comes back with the same id and is admitted; then others are again.
  EXPECT_FALSE(admission.try_admit(4, "large"));
  admission.release(4);
  EXPECT_FALSE(admission.try_admit(2, "small-2"));
  EXPECT_FALSE(admission.try_admit(2, "small-3"));
}

TEST(Admission, OnlyTheFirstWaiterReservesAndAnonymousCallersNever) {
  Metrics metrics;
  Admission admission(4, kNoByteBound, metrics);
  ASSERT_FALSE(admission.try_admit(3, ""));
  ASSERT_TRUE(admission.try_admit(2, ""));   // anonymous: keeps nothing
  ASSERT_TRUE(admission.try_admit(2, "a"));  // reserves 2
  ASSERT_TRUE(admission.try_admit(1, "b"));  // 3 + 1 + 2 kept > 4: busy, reserves nothing
  admission.release(3);
  EXPECT_TRUE(admission.try_admit(3, "b"));   // 0 + 3 + 2 kept > 4
  EXPECT_FALSE(admission.try_admit(2, "b"));  // 0 + 2 + 2 kept fits
  EXPECT_FALSE(admission.try_admit(2, "a"));
}

TEST(Admission, AReservationLapsesWhenItsWaiterDoesNotComeBack) {
  Metrics metrics;
  metrics.scoring_rate = 1e6;  // retry hints of 50 ms
  Admission::Clock::time_point now{};
  Admission admission(4, kNoByteBound, metrics, std::chrono::milliseconds(1000),
                      [&now] { return now; });
  ASSERT_FALSE(admission.try_admit(1, ""));
  ASSERT_TRUE(admission.try_admit(4, "gone"));
  admission.release(1);
  // Twice the 50 ms hint plus the 1 s grace: until then the room stays kept ...
  now += std::chrono::milliseconds(1099);
  EXPECT_TRUE(admission.try_admit(1, "other"));
  // ... and after that it is free for anyone.
  now += std::chrono::milliseconds(1);
  EXPECT_FALSE(admission.try_admit(1, "other"));
}

}  // namespace
}  // namespace safrl::serve
