// Feeds arbitrary bytes to the server's request decoder. Any input must either decode or throw
// ProtocolError, whose error reply must encode; a crash, sanitizer report or other exception is a
// bug (it would escape the server's request boundary as something other than a typed reply).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "serve/protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view frame(reinterpret_cast<const char*>(data), size);
  try {
    const auto request = safrl::serve::decode_request(frame, 1 << 20);
    // Samples and group indices must line up, as the server's batching assumes.
    if (request.samples.size() != request.group_of.size()) __builtin_trap();
  } catch (const safrl::serve::ProtocolError& e) {
    // The server answers every refusal; the reply must encode whatever the message holds.
    safrl::serve::encode(safrl::serve::error_reply(e.request_id(), e.reply()));
  }
  return 0;
}
