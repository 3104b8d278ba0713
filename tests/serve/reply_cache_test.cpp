// The reply cache: retries share one buffer, a different request under a known id is told apart,
// and the kept replies stay within their byte bound, oldest forgotten first.
#include "serve/reply_cache.h"

#include <gtest/gtest.h>

namespace safrl::serve {
namespace {

Frame frame_of(size_t bytes, char fill = 'r') {
  return std::make_shared<const std::string>(bytes, fill);
}

TEST(ReplyCache, RetriesAreAnsweredWithTheSameBufferNotACopy) {
  ReplyCache cache(std::chrono::seconds(600), 1 << 20);
  const uint64_t body = request_digest("the request");
  EXPECT_EQ(cache.find("a", body).state, ReplyCache::State::kUnknown);
  cache.wait("a", body, {"client-1", false});
  EXPECT_EQ(cache.find("a", body).state, ReplyCache::State::kInFlight);
  // The same client retrying while its request runs is answered once; another client too.
  cache.wait("a", body, {"client-1", false});
  cache.wait("a", body, {"client-2", true});
  const Frame reply = frame_of(1000);
  const std::vector<Peer> waiting = cache.complete("a", reply, true);
  ASSERT_EQ(waiting.size(), 2u);
  EXPECT_EQ(waiting[0].identity, "client-1");
  EXPECT_EQ(waiting[1].identity, "client-2");
  EXPECT_TRUE(waiting[1].delimiter);
  for (int retry = 0; retry < 128; ++retry) {
    const ReplyCache::Lookup found = cache.find("a", body);
    ASSERT_EQ(found.state, ReplyCache::State::kCompleted);
    EXPECT_EQ(found.reply.get(), reply.get());
  }
  EXPECT_EQ(cache.bytes(), 1000u);
}

TEST(ReplyCache, AnIdReusedWithADifferentRequestIsToldApart) {
  ReplyCache cache(std::chrono::seconds(600), 1 << 20);
  const uint64_t first = request_digest("first body"), second = request_digest("second body");
  ASSERT_NE(first, second);
  cache.wait("shared-id", first, {"client-1", false});
  EXPECT_EQ(cache.find("shared-id", second).state, ReplyCache::State::kOtherBody);
  cache.complete("shared-id", frame_of(10), true);
  EXPECT_EQ(cache.find("shared-id", second).state, ReplyCache::State::kOtherBody);
  EXPECT_EQ(cache.find("shared-id", first).state, ReplyCache::State::kCompleted);
  // A refused attempt is not kept, so its id is free for any request after it.
  cache.wait("refused", first, {"client-1", false});
  cache.complete("refused", frame_of(10), false);
  EXPECT_EQ(cache.find("refused", second).state, ReplyCache::State::kUnknown);
}

TEST(ReplyCache, KeptRepliesStayWithinTheByteBoundOldestForgottenFirst) {
  ReplyCache cache(std::chrono::seconds(600), 3000);
  const uint64_t body = request_digest("body");
  for (const char* id : {"a", "b", "c"}) {
    cache.wait(id, body, {"client", false});
    cache.complete(id, frame_of(1000), true);
  }
  EXPECT_EQ(cache.bytes(), 3000u);
  cache.wait("d", body, {"client", false});
  cache.complete("d", frame_of(1500), true);
  EXPECT_EQ(cache.bytes(), 2500u);  // a and b made room
  EXPECT_EQ(cache.find("a", body).state, ReplyCache::State::kUnknown);
  EXPECT_EQ(cache.find("b", body).state, ReplyCache::State::kUnknown);
  EXPECT_EQ(cache.find("c", body).state, ReplyCache::State::kCompleted);
  EXPECT_EQ(cache.find("d", body).state, ReplyCache::State::kCompleted);
  // A reply larger than the whole cache reaches its waiting clients and is not kept.
  cache.wait("huge", body, {"client", false});
  EXPECT_EQ(cache.complete("huge", frame_of(3001), true).size(), 1u);
  EXPECT_EQ(cache.find("huge", body).state, ReplyCache::State::kUnknown);
  EXPECT_EQ(cache.bytes(), 2500u);
}

TEST(ReplyCache, ExpiryGivesTheBytesBack) {
  ReplyCache cache(std::chrono::seconds(10), 1 << 20);
  const uint64_t body = request_digest("body");
  cache.wait("a", body, {"client", false});
  cache.complete("a", frame_of(700), true);
  cache.expire(Clock::now());
  EXPECT_EQ(cache.bytes(), 700u);
  cache.expire(Clock::now() + std::chrono::seconds(11));
  EXPECT_EQ(cache.bytes(), 0u);
  EXPECT_EQ(cache.find("a", body).state, ReplyCache::State::kUnknown);
}

}  // namespace
}  // namespace safrl::serve
