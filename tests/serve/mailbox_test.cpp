// The mailbox of the HTTP thread and of the server's I/O thread: letters come out in posting
// order, each once, and the wake-up the reader polls is set by a post and reset by take().
#include "serve/mailbox.h"

#include <poll.h>

#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace safrl::serve {
namespace {

bool readable(int fd, int timeout_ms) {
  pollfd entry{fd, POLLIN, 0};
  return ::poll(&entry, 1, timeout_ms) == 1 && (entry.revents & POLLIN);
}

bool readable(zmq::socket_t& socket, int timeout_ms) {
  zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
  return zmq::poll(&item, 1, std::chrono::milliseconds(timeout_ms)) == 1;
}

TEST(Mailbox, LettersPostedOnAnotherThreadComeOutOnceInPostingOrder) {
  Mailbox<int, EventFdWake> box;
  std::thread poster([&] {
    for (int letter = 0; letter < 1000; ++letter) box.post(letter);
  });
  poster.join();
  const std::deque<int> letters = box.take();
  ASSERT_EQ(letters.size(), 1000u);
  for (int k = 0; k < 1000; ++k) EXPECT_EQ(letters[k], k);
  EXPECT_TRUE(box.take().empty());  // taken once
}

TEST(Mailbox, TheEventFdIsReadableFromAPostUntilTheLettersAreTaken) {
  Mailbox<std::string, EventFdWake> box;
  const int fd = box.wake().fd();
  EXPECT_FALSE(readable(fd, 0));
  box.post("first");
  box.post("second");
  EXPECT_TRUE(readable(fd, 0));  // eventfd writes are visible at once
  EXPECT_EQ(box.take(), (std::deque<std::string>{"first", "second"}));
  EXPECT_FALSE(readable(fd, 0));
  // A bare notify() wakes the reader (to stop it) with nothing to take.
  box.wake().notify();
  EXPECT_TRUE(readable(fd, 0));
  EXPECT_TRUE(box.take().empty());
  EXPECT_FALSE(readable(fd, 0));
}

TEST(Mailbox, TheZmqPairWakesAPollerOnAnotherThreadUntilTheLettersAreTaken) {
  zmq::context_t context(1);
  {
    Mailbox<int, ZmqPairWake> box(context, "inproc://mailbox-test");
    EXPECT_FALSE(readable(box.wake().socket(), 0));
    std::thread poster([&] { box.post(7); });
    // The bound only ends a failing test: the byte is on its way once post() returns.
    EXPECT_TRUE(readable(box.wake().socket(), 10000));
    poster.join();
    box.post(8);
    EXPECT_EQ(box.take(), (std::deque<int>{7, 8}));
    EXPECT_FALSE(readable(box.wake().socket(), 0));  // both bytes read by take()
    box.wake().close();
  }
  context.shutdown();
}

}  // namespace
}  // namespace safrl::serve
