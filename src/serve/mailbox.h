// A mailbox: letters posted by one thread (the engine's, a decoder's) for a thread that sleeps in
// poll() on something else as well. A locked list, plus a wake-up the reader's poll watches:
//   EventFdWake  an eventfd, for a poll(2) loop (the HTTP thread)
//   ZmqPairWake  one byte on an inproc ZeroMQ pair, for a zmq::poll loop (the server's I/O thread)
// post() never blocks on the reader; take() hands over every letter posted so far, in posting
// order, and resets the wake-up first, so a letter posted meanwhile wakes the reader again.
//
// Thread-safe: post() and wake().notify() from any thread; take() from the reader's thread only.
// A ZmqPairWake's two sockets each have one owner thread: notify() is the posting side's, the
// socket polled and clear() the reader's.
#pragma once

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <deque>
#include <mutex>
#include <utility>

#include <zmq.hpp>

#include "util/error.h"

namespace safrl::serve {

template <typename Letter, typename Wake>
class Mailbox {
 public:
  // The arguments build the wake-up.
  template <typename... WakeArgs>
  explicit Mailbox(WakeArgs&&... args) : wake_(std::forward<WakeArgs>(args)...) {}
  Mailbox(const Mailbox&) = delete;
  Mailbox& operator=(const Mailbox&) = delete;

  void post(Letter letter) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      letters_.push_back(std::move(letter));
    }
    wake_.notify();
  }
  std::deque<Letter> take() {
    wake_.clear();
    std::lock_guard<std::mutex> lock(mutex_);
    return std::exchange(letters_, {});
  }
  // What the reader polls; notify() alone wakes it with no letter (to stop, say).
  Wake& wake() { return wake_; }

 private:
  Wake wake_;
  std::mutex mutex_;
  std::deque<Letter> letters_;
};

// Readable while a letter may be waiting: poll fd() for POLLIN.
class EventFdWake {
 public:
  EventFdWake() : fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
    if (fd_ < 0) {
      throw util::LoadError(util::cat("cannot create an eventfd for HTTP: ", std::strerror(errno)));
    }
  }
  ~EventFdWake() { ::close(fd_); }
  EventFdWake(const EventFdWake&) = delete;
  EventFdWake& operator=(const EventFdWake&) = delete;

  int fd() const { return fd_; }
  void notify() {
    const uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = ::write(fd_, &one, sizeof one);
  }
  void clear() {
    uint64_t count = 0;
    [[maybe_unused]] const ssize_t n = ::read(fd_, &count, sizeof count);
  }

 private:
  int fd_;
};

// Readable while a letter may be waiting: poll socket() for ZMQ_POLLIN. `endpoint` is an inproc
// address unique in `context`.
class ZmqPairWake {
 public:
  ZmqPairWake(zmq::context_t& context, const char* endpoint)
      : in_(context, zmq::socket_type::pair), out_(context, zmq::socket_type::pair) {
    in_.bind(endpoint);
    out_.connect(endpoint);
  }
  ZmqPairWake(const ZmqPairWake&) = delete;
  ZmqPairWake& operator=(const ZmqPairWake&) = delete;

  zmq::socket_t& socket() { return in_; }
  void notify() { out_.send(zmq::str_buffer("!"), zmq::send_flags::dontwait); }
  void clear() {
    zmq::message_t byte;
    while (in_.recv(byte, zmq::recv_flags::dontwait)) {
    }
  }
  // Before the context shuts down (which waits for every socket to close).
  void close() {
    in_.close();
    out_.close();
  }

 private:
  zmq::socket_t in_;   // the reader's end
  zmq::socket_t out_;  // the posting end
};

}  // namespace safrl::serve
