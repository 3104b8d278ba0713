// The few fields of a protocol frame (docs/protocol.md) the front (front_zmq.h) needs to route
// it: the request id, the deadline, the prompt it is routed by, and of a reply its type and error
// code. Read straight from the msgpack bytes without building the message: skipping a value is a
// loop over element headers, not a recursion, so no nesting depth or element count a legal frame
// may carry makes it slow or deep, and nothing is allocated but the strings returned. Pure,
// thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace safrl::serve {

struct FrameFields {
  std::optional<std::string> id;          // "id", when it is a string
  std::optional<int64_t> deadline_ms;     // "deadline_ms", when it is an integer
  std::optional<std::string> type;        // "type", when it is a string
  std::optional<std::string> error_code;  // "error": {"code"}, when it is a string
  // The prompt of a score request's first group, else of its first sample (for "messages", their
  // msgpack bytes): requests that share it are best scored by one engine, in one batch with the
  // prompt's prefix computed once.
  std::optional<std::string> first_prompt;
};

// The fields of a frame holding one msgpack map; nullopt when the frame is not one.
std::optional<FrameFields> read_frame_fields(std::string_view frame);

}  // namespace safrl::serve
