// Reading HTTP/1.x requests from a byte stream, incrementally (RFC 9112), with every bound
// checked while the bytes arrive: the header block's size and line count, the body's declared or
// received size. The reader never blocks and never holds more than one request's bytes beyond
// what the caller gave it. Anything it cannot accept is an HttpError with the status to answer
// and a message that says what to fix. Pure, no sockets, no threads: the gateway (http_gateway.h)
// owns those, and a fuzzer feeds this directly.
//
// Accepted: HTTP/1.0 and 1.1, a body by one Content-Length (repeats must agree) or by chunked
// transfer coding, pipelined requests (the bytes after one request start the next), leading
// empty lines, LF line ends. Refused: header blocks over the bound (431), a bad or disagreeing
// Content-Length (400), Content-Length with Transfer-Encoding (400, the request-smuggling
// ambiguity), codings other than chunked (501), other HTTP versions (505), unknown expectations
// (417), bodies over the bound (413, from the declared length before any body byte is read).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace safrl::serve {

struct HttpLimits {
  size_t max_header_bytes = 32 << 10;  // request line and headers (or trailers) together
  size_t max_headers = 100;
  size_t max_body_bytes = 64 << 20;
};

// A request that cannot be accepted: answer `status` with the message, then close.
class HttpError : public std::runtime_error {
 public:
  HttpError(int status, const std::string& message)
      : std::runtime_error(message), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

struct HttpRequest {
  std::string method;
  std::string target;  // as sent: path and query
  int minor_version = 1;
  std::vector<std::pair<std::string, std::string>> headers;  // names in lower case, in order
  std::string body;
  bool keep_alive = true;  // the client lets the connection be reused after the reply
  bool expect_continue = false;
  std::optional<uint64_t> content_length;  // nullopt: chunked or no body

  // The path without the query.
  std::string_view path() const;
  // The first header of that (lower-case) name.
  std::optional<std::string_view> header(std::string_view name) const;
};

class HttpRequestReader {
 public:
  enum class Progress {
    kNeedMore,     // nothing to act on yet
    kHeadersDone,  // request() has the request line and headers; the body follows
    kComplete,     // take() the request
  };

  explicit HttpRequestReader(HttpLimits limits);

  // Adds received bytes (none: goes on with bytes already held, after a take()) and reads as far
  // as they go. kHeadersDone is returned once per request, before any of its body is read, so
  // the caller can refuse it or answer "100 Continue". Throws HttpError.
  Progress feed(std::string_view bytes = {});
  // The request read so far (its headers are complete after kHeadersDone).
  const HttpRequest& request() const { return request_; }
  // The complete request; the reader starts on the next one with the bytes it still holds.
  HttpRequest take();
  // Whether any byte of the current request has arrived (leading empty lines do not count).
  bool started() const;
  // Bytes held that belong to no complete request yet.
  size_t buffered() const { return buffer_.size() - position_; }

 private:
  // Where the reader is in the current request. Each stage has one reader below, which reads
  // what it can of its part and returns true once that part is whole (stage_ then names the
  // next part), false when it needs more bytes.
  enum class Stage { kHead, kBody, kChunkSize, kChunkData, kChunkEnd, kTrailers, kComplete };

  // Calls the reader of stage_.
  bool read_stage();
  // The request line and headers, up to the empty line that ends them.
  bool read_head();
  // A body of Content-Length bytes.
  bool read_body();
  // A chunk's "HEX-SIZE [; extensions]" line.
  bool read_chunk_size();
  bool read_chunk_data();
  // The line end after a chunk's data.
  bool read_chunk_end();
  // One trailer line, or the empty line that ends the request.
  bool read_trailer();

  // Skips the empty lines a client may send before a request line (RFC 9112 section 2.2).
  void skip_empty_lines();
  // The offset just past the empty line that ends the head, or nullopt while it has not arrived.
  std::optional<size_t> find_head_end();
  // Parses the whole head in buffer_[position_, end) and sets up its body.
  void parse_head(size_t end);
  void read_request_line(std::string_view line);
  void read_header_line(std::string_view line);
  // Checks a NAME: VALUE line (a header or a trailer); returns the colon's position.
  static size_t check_field_line(std::string_view line);
  // Sets the connection and body framing that the headers ask for, and the stage that follows.
  void finish_head();
  void expect_chunked_body(const std::vector<std::string>& codings);
  void expect_sized_body(std::optional<uint64_t> length);
  // The next line from position_ (without its line end), or nullopt while incomplete.
  std::optional<std::string_view> next_line(size_t max_bytes, const char* what);
  void compact();

  HttpLimits limits_;
  std::string buffer_;
  size_t position_ = 0;  // bytes of buffer_ already read
  size_t scanned_ = 0;   // how far the search for the head's end got
  Stage stage_ = Stage::kHead;
  HttpRequest request_;
  uint64_t chunk_left_ = 0;
  size_t trailer_bytes_ = 0;
};

}  // namespace safrl::serve
