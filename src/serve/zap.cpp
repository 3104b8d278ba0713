#include "serve/zap.h"

#include <algorithm>
#include <array>
#include <cerrno>

#include <zmq_addon.hpp>

#include "util/error.h"
#include "util/log.h"

namespace safrl::serve {
namespace {

// Refused addresses logged by name; past this many, refusals are only counted (a scan of a
// network must not fill the log).
constexpr size_t kMaxLoggedAddresses = 64;

}  // namespace

ZapHandler::ZapHandler(zmq::context_t& context, ZapRules rules) : rules_(std::move(rules)) {
  // Bound before the server socket names its ZAP domain, so no handshake finds no handler.
  auto socket = std::make_shared<zmq::socket_t>(context, zmq::socket_type::rep);
  socket->bind("inproc://zeromq.zap.01");
  thread_ = std::thread([this, socket] {
    while (true) {
      std::vector<zmq::message_t> request;
      try {
        if (!zmq::recv_multipart(*socket, std::back_inserter(request))) continue;
      } catch (const zmq::error_t& e) {
        if (e.num() == EINTR) continue;  // a signal landed on this thread
        socket->close();
        return;  // context shut down
      }
      // ZAP request: version, request id, domain, address, identity, mechanism, credentials...
      if (request.size() < 6) continue;
      const std::string reason = judge(request);
      if (!reason.empty()) note_refusal(request[3].to_string(), reason);
      const std::string status = reason.empty() ? "200" : "400";
      const std::string text = reason.empty() ? "OK" : reason;
      std::array<zmq::const_buffer, 6> reply = {
          zmq::str_buffer("1.0"), zmq::buffer(request[1].data(), request[1].size()),
          zmq::buffer(status),    zmq::buffer(text),
          zmq::str_buffer(""),    zmq::str_buffer("")};
      while (true) {
        try {
          zmq::send_multipart(*socket, reply);
          break;
        } catch (const zmq::error_t& e) {
          if (e.num() == EINTR) continue;  // send the answer again
          socket->close();
          return;  // context shut down
        }
      }
    }
  });
}

ZapHandler::~ZapHandler() {
  if (thread_.joinable()) thread_.join();
}

std::string ZapHandler::judge(const std::vector<zmq::message_t>& request) const {
  const std::string address = request[3].to_string();
  if (!rules_.addresses.empty() && !address_allowed(rules_.addresses, address)) {
    return "address not in server.allowed_clients";
  }
  if (!rules_.curve) return "";
  if (request[5].to_string() != "CURVE" || request.size() < 7 || request[6].size() != 32) {
    return "not a CURVE client";
  }
  char z85[41] = {};
  zmq_z85_encode(z85, static_cast<const uint8_t*>(request[6].data()), 32);
  const auto& keys = rules_.client_keys;
  if (std::find(keys.begin(), keys.end(), std::string(z85)) == keys.end()) {
    return util::cat("client key ", z85, " not in server.curve.allowed_client_keys");
  }
  return "";
}

void ZapHandler::note_refusal(const std::string& address, const std::string& reason) {
  ++refused_;
  if (logged_.size() >= kMaxLoggedAddresses || !logged_.insert(address).second) return;
  util::log_warn("serve",
                 util::cat("refused a ZeroMQ connection from ", address, ": ", reason,
                           logged_.size() == kMaxLoggedAddresses
                               ? " (further refusals are counted in stats' refused_connections, "
                                 "not logged)"
                               : " (its later attempts are counted in stats' "
                                 "refused_connections, not logged)"));
}

}  // namespace safrl::serve
