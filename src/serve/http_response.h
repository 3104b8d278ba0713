// Writing HTTP/1.1 responses, and the JSON error body every refusal carries:
// {"error": {"code": ..., "message": ...}} (docs/protocol.md's codes), made from an ErrorReply
// (error_reply.h) here, at the HTTP edge. Pure.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "serve/error_reply.h"

namespace safrl::serve {

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // beyond the ones always written
  bool close = false;                                        // "Connection: close", then close
};

// The standard reason phrase of a status ("Unknown" for others).
std::string_view reason_phrase(int status);
// The response's bytes: status line, Content-Type, Content-Length, Connection when it closes,
// the extra headers, the body (left out for HEAD, whose Content-Length is the GET body's).
std::string serialize(const HttpResponse& response, bool head_only = false);
// A JSON error response with the status of its code (http_status) ...
HttpResponse json_error(const ErrorReply& error);
// ... or with a status the transport chooses (403, 404, 405, 408, an HttpError's). The message
// may quote a client's bytes, so invalid UTF-8 is replaced. A retry hint becomes retry_after_ms
// in the body and a Retry-After header (whole seconds, rounded up).
HttpResponse json_error(int status, const ErrorReply& error);
// The code in the body of a refusal of the transport's own (HttpError, thrown before a request
// exists): 413 and 431 too_large, 503 busy, every other status bad_request.
ErrorCode error_code_of_http_status(int status);

}  // namespace safrl::serve
