// The ZAP handler (ZeroMQ's authentication protocol, RFC 27) of the server's socket: admits a
// connection when its address is in the allow-list (server.allowed_clients, when given) and,
// for a CURVE server, its public key is one of the allowed keys; refuses every other one before
// it can send a request. It owns its socket on a thread of its own, which ends when the context
// is shut down. refused() may be read from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <zmq.hpp>

#include "serve/address_range.h"

namespace safrl::serve {

struct ZapRules {
  bool curve = false;                    // clients must hold a key of client_keys
  std::vector<std::string> client_keys;  // Z85 public keys
  std::vector<AddressRange> addresses;   // empty: any address
};

class ZapHandler {
 public:
  ZapHandler(zmq::context_t& context, ZapRules rules);
  // Joins the thread: shut the context down first.
  ~ZapHandler();
  ZapHandler(const ZapHandler&) = delete;
  ZapHandler& operator=(const ZapHandler&) = delete;

  // Connections refused so far.
  int64_t refused() const { return refused_.load(); }

 private:
  // The reason a connection is refused, or empty when it is admitted.
  std::string judge(const std::vector<zmq::message_t>& request) const;
  // Counts a refusal, and logs the first one of each address, not every reconnection attempt.
  void note_refusal(const std::string& address, const std::string& reason);

  ZapRules rules_;
  std::atomic<int64_t> refused_{0};
  std::set<std::string> logged_;  // the ZAP thread's
  std::thread thread_;
};

}  // namespace safrl::serve
