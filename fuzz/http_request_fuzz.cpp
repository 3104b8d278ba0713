// Feeds arbitrary bytes to the HTTP request reader, split into pieces whose sizes come from the
// input itself, as a socket would deliver them. Any input must give complete requests within the
// bounds or an HttpError with a 4xx/5xx status whose JSON error encodes; a crash, a sanitizer
// report, another exception or a body over the bound is a bug.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "serve/http_request.h"
#include "serve/http_response.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using safrl::serve::HttpRequestReader;
  if (size == 0) return 0;
  const size_t piece = 1 + data[0] % 64;  // the first byte sets how the stream is cut
  const std::string_view stream(reinterpret_cast<const char*>(data) + 1, size - 1);
  safrl::serve::HttpLimits limits;
  limits.max_header_bytes = 512;
  limits.max_headers = 8;
  limits.max_body_bytes = 1024;
  HttpRequestReader reader(limits);
  try {
    for (size_t at = 0; at < stream.size(); at += piece) {
      HttpRequestReader::Progress progress = reader.feed(stream.substr(at, piece));
      while (progress != HttpRequestReader::Progress::kNeedMore) {
        if (progress == HttpRequestReader::Progress::kComplete) {
          const safrl::serve::HttpRequest request = reader.take();
          if (request.body.size() > limits.max_body_bytes) __builtin_trap();
          if (request.method.empty() || request.target.empty()) __builtin_trap();
        }
        progress = reader.feed();
      }
    }
  } catch (const safrl::serve::HttpError& e) {
    if (e.status() < 400 || e.status() > 505) __builtin_trap();
    // As the transport answers it: the status's own error code, the message as given.
    safrl::serve::serialize(safrl::serve::json_error(
        e.status(),
        safrl::serve::ErrorReply{safrl::serve::error_code_of_http_status(e.status()), e.what()}));
  }
  return 0;
}
