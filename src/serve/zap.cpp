#include "serve/zap.h"

#include <algorithm>
#include <array>
#include <cerrno>

#include <zmq_addon.hpp>

namespace safrl::serve {

ZapHandler::ZapHandler(zmq::context_t& context, std::vector<std::string> allowed_client_keys)
    : allowed_(std::move(allowed_client_keys)) {
  // Bound before the server socket turns CURVE on, so no handshake finds no handler.
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
      if (request.size() < 7) continue;
      std::string status = "400", text = "not a CURVE client";
      if (request[5].to_string() == "CURVE" && request[6].size() == 32) {
        char z85[41] = {};
        zmq_z85_encode(z85, static_cast<const uint8_t*>(request[6].data()), 32);
        const bool ok =
            std::find(allowed_.begin(), allowed_.end(), std::string(z85)) != allowed_.end();
        status = ok ? "200" : "400";
        text = ok ? "OK" : "client key not allowed";
      }
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

}  // namespace safrl::serve
