// The one typed error of the serve layer: ErrorReply{code, message, retry_after_ms} is what a
// refused request is answered with, from where the refusal is decided (admission, the decoder,
// the scoring worker, the fronts) to the edge that writes it. It travels as this value; JSON,
// msgpack and HTTP statuses are made only at the edge, by the functions below (the way
// text-embeddings-inference keeps one error enum and turns it into HTTP only at its router).
//
// What each earlier form became:
//   Refusal (admission.h)          ErrorReply: Admission::try_admit returns one, shutting_down()
//                                  is one.
//   Reply{json, code} (job.h)      Reply{body, std::optional<ErrorReply>}: an error is carried
//                                  typed from the engine thread; server.cpp encodes it as msgpack,
//                                  openrlhf_route.cpp as an HTTP response, neither reads it back
//                                  out of JSON.
//   GroupResult::Failure (reward)  stays the reward layer's outcome of a group (the reward layer
//                                  sits below serve and `safrl score` reads it too); the scoring
//                                  worker turns it into an ErrorReply in one switch.
//   ProtocolError (protocol.h)     stays the exception that carries a refusal out of the depth of
//                                  decoding (decode_request, bounded JSON, OpenRLHF bodies),
//                                  with the request id and version its reply needs; reply() is
//                                  its ErrorReply, taken at the one catch of each request path.
//   HttpError (http_request.h)     stays the transport's own exception: it is thrown while the
//                                  bytes of an HTTP request arrive, before any protocol request
//                                  exists, and carries an HTTP status that no ErrorCode names
//                                  (417, 431, 501, 505, 408). Its body's code comes from that
//                                  status through error_code_of_http_status (http_response.h),
//                                  the one conversion in that direction.
//   Builders: protocol.cpp's error_reply(id, code, message, retry), job.cpp's error(...) and
//   http_response.cpp's json_error(status, code, ...) became error_reply(id, ErrorReply) and
//   json_error(ErrorReply) / json_error(status, ErrorReply), both writing error_json() below.
//   openrlhf::http_status became http_status() below.
//
// Pure functions, thread-safe, no LibTorch.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

namespace safrl::serve {

// docs/protocol.md, "Error codes".
enum class ErrorCode {
  kBadRequest,
  kUnsupportedVersion,
  kTooLarge,
  kTooLong,
  kBusy,
  kDeadlineExceeded,
  kShuttingDown,
  kUnavailable,  // a model the server calls (vLLM) did not answer; the request can succeed later
  kModelError,
  kInternal,
};
std::string_view error_code_name(ErrorCode code);  // "bad_request", ...
std::optional<ErrorCode> parse_error_code(std::string_view name);

struct ErrorReply {
  ErrorReply(ErrorCode error_code, std::string text,
             std::optional<int64_t> retry_after = std::nullopt)
      : code(error_code), message(std::move(text)), retry_after_ms(retry_after) {}

  ErrorCode code;
  std::string message;  // for people: says what to change
  // When to retry (busy, shutting_down, unavailable); absent: the code says what to do.
  std::optional<int64_t> retry_after_ms;
};

// {"code", "message", "retry_after_ms"?}: the error object every reply carries, ZeroMQ's and
// HTTP's alike. The only place its fields are named.
nlohmann::json error_json(const ErrorReply& error);
// The protocol's error reply (docs/protocol.md, "Replies"): {"type": "error", "id"?, "error"};
// the id is left out when empty (a request too broken to have one). encode() adds "v"; the
// shape is the same in every protocol version.
nlohmann::json error_reply(const std::string& id, const ErrorReply& error);
// The HTTP status of a refusal with this code (docs/trainers/openrlhf.md, "Errors"): 400
// bad_request and too_long, 413 too_large, 503 busy, shutting_down and unavailable, 504
// deadline_exceeded, 500 for the rest.
int http_status(ErrorCode code);

}  // namespace safrl::serve
