// The unsent-reply bound: bytes count until ZeroMQ frees the message, a buffer queued many times
// counts once, and past a bound a reply does not fit until something is read.
#include "serve/send_budget.h"

#include <gtest/gtest.h>

namespace safrl::serve {
namespace {

Frame frame_of(size_t bytes) {
  return std::make_shared<const std::string>(bytes, 'r');
}

TEST(SendBudget, MessagesShareTheBufferAndCountItOnceUntilFreed) {
  SendBudget budget(1000, 5000);
  const Frame reply = frame_of(600);
  std::vector<zmq::message_t> queued;
  for (int retry = 0; retry < 128; ++retry) {
    ASSERT_TRUE(budget.fits("client", reply));
    queued.push_back(budget.message("client", reply));
    EXPECT_EQ(queued.back().data(), static_cast<const void*>(reply->data()));
  }
  EXPECT_EQ(budget.unsent("client"), 600u);
  EXPECT_EQ(budget.unsent(), 600u);
  EXPECT_EQ(std::string(static_cast<const char*>(queued[5].data()), queued[5].size()), *reply);
  queued.clear();  // what ZeroMQ does once the bytes are written
  EXPECT_EQ(budget.unsent("client"), 0u);
  EXPECT_EQ(budget.unsent(), 0u);
}

TEST(SendBudget, PastItsBoundsAReplyDoesNotFitUntilSomethingIsRead) {
  SendBudget budget(1000, 1500);
  const Frame first = frame_of(600), second = frame_of(600);
  zmq::message_t held = budget.message("slow", first);
  EXPECT_FALSE(budget.fits("slow", second));  // 1200 > 1000 for this client
  EXPECT_TRUE(budget.fits("slow", first));    // already waiting: costs nothing more
  EXPECT_TRUE(budget.fits("other", second));  // 1200 <= 1500 in all
  zmq::message_t other = budget.message("other", second);
  EXPECT_FALSE(budget.fits("third", frame_of(400)));  // 1600 > 1500 in all
  // A reply larger than a bound fits once nothing waits under it.
  EXPECT_FALSE(budget.fits("slow", frame_of(5000)));
  held = zmq::message_t();
  other = zmq::message_t();
  EXPECT_TRUE(budget.fits("slow", frame_of(5000)));
  budget.forget_idle();
  EXPECT_EQ(budget.unsent("slow"), 0u);
}

}  // namespace
}  // namespace safrl::serve
