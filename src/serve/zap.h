// The ZAP handler (ZeroMQ's authentication protocol, RFC 27) of a CURVE server: admits the
// clients whose public key is in the allowed list and refuses every other. It owns its socket on
// a thread of its own, which ends when the context is shut down.
#pragma once

#include <string>
#include <thread>
#include <vector>

#include <zmq.hpp>

namespace safrl::serve {

class ZapHandler {
 public:
  ZapHandler(zmq::context_t& context, std::vector<std::string> allowed_client_keys);
  // Joins the thread: shut the context down first.
  ~ZapHandler();
  ZapHandler(const ZapHandler&) = delete;
  ZapHandler& operator=(const ZapHandler&) = delete;

 private:
  std::vector<std::string> allowed_;
  std::thread thread_;
};

}  // namespace safrl::serve
