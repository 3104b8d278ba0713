#include "serve/http_request.h"

#include <algorithm>
#include <cctype>

#include "util/error.h"

namespace safrl::serve {
namespace {

bool is_token_char(char c) {
  // RFC 9110 tchar.
  if (std::isalnum(static_cast<unsigned char>(c))) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), is_token_char);
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// The comma-separated elements of a list header, trimmed and without empty ones.
std::vector<std::string_view> list_elements(std::string_view value) {
  std::vector<std::string_view> out;
  while (!value.empty()) {
    const size_t comma = value.find(',');
    const std::string_view element = trim(value.substr(0, comma));
    if (!element.empty()) out.push_back(element);
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return out;
}

// A printable form of bytes a client sent, for error messages.
std::string quoted(std::string_view text) {
  std::string out = "\"";
  for (char c : text.substr(0, 64)) {
    out += std::isprint(static_cast<unsigned char>(c)) ? c : '?';
  }
  if (text.size() > 64) out += "...";
  return out + "\"";
}

constexpr size_t kMaxChunkLine = 1024;

bool is_control(char c) {
  return (static_cast<unsigned char>(c) < ' ' && c != '\t') || c == 127;
}

// The size a chunk size line declares; UINT64_MAX stands for any size too large to hold, which
// every body bound refuses.
uint64_t parse_chunk_size(std::string_view line) {
  // chunk-size [ws] [; extensions]: hexadecimal digits first, nothing else before them.
  const size_t digits_end = std::min(line.size(), line.find_first_not_of("0123456789abcdefABCDEF"));
  const std::string_view digits = line.substr(0, digits_end);
  const std::string_view rest = trim(line.substr(digits_end));
  if (digits.empty() || (!rest.empty() && rest.front() != ';') ||
      std::any_of(rest.begin(), rest.end(), is_control)) {
    throw HttpError(
        400, util::cat("the chunk size line ", quoted(line), " is not HEX-SIZE [; extensions]"));
  }
  // Leading zeros are allowed in any number, so only the significant digits can overflow.
  const std::string_view significant =
      digits.substr(std::min(digits.size(), digits.find_first_not_of('0')));
  if (significant.size() > 15) return UINT64_MAX;
  return significant.empty() ? 0 : std::stoull(std::string(significant), nullptr, 16);
}

// One element of a Content-Length list; UINT64_MAX stands for any length too large to hold.
uint64_t parse_content_length(std::string_view element) {
  if (!std::all_of(element.begin(), element.end(),
                   [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
    throw HttpError(400,
                    util::cat("Content-Length ", quoted(element), " is not a number of bytes"));
  }
  const std::string_view significant =
      element.substr(std::min(element.size(), element.find_first_not_of('0')));
  if (significant.size() > 18) return UINT64_MAX;
  return significant.empty() ? 0 : std::stoull(std::string(significant));
}

// What a head's headers say about its body and its connection, before they are checked against
// each other and the HTTP version.
struct Framing {
  std::optional<uint64_t> length;    // Content-Length, its repeats agreeing
  std::vector<std::string> codings;  // Transfer-Encoding, lower case, in order
  bool close = false;                // Connection: close
  bool keep_alive = false;           // Connection: keep-alive
  bool expect_continue = false;      // Expect: 100-continue
};

// Reads the framing headers in the order they came, so the first bad one is the one refused.
Framing read_framing(const std::vector<std::pair<std::string, std::string>>& headers) {
  Framing framing;
  for (const auto& [name, value] : headers) {
    if (name == "content-length") {
      const auto elements = list_elements(value);
      if (elements.empty()) throw HttpError(400, "an empty Content-Length header");
      for (std::string_view element : elements) {
        const uint64_t parsed = parse_content_length(element);
        if (framing.length && *framing.length != parsed) {
          throw HttpError(
              400,
              util::cat("the request has two different Content-Length values (",
                        *framing.length == UINT64_MAX ? "huge" : std::to_string(*framing.length),
                        " and ", element, ")"));
        }
        framing.length = parsed;
      }
    } else if (name == "transfer-encoding") {
      const auto elements = list_elements(value);
      if (elements.empty()) throw HttpError(400, "an empty Transfer-Encoding header");
      for (std::string_view element : elements) framing.codings.push_back(lower(element));
    } else if (name == "connection") {
      for (std::string_view element : list_elements(value)) {
        const std::string option = lower(element);
        framing.close = framing.close || option == "close";
        framing.keep_alive = framing.keep_alive || option == "keep-alive";
      }
    } else if (name == "expect") {
      if (lower(value) != "100-continue") {
        throw HttpError(417, util::cat("the expectation ", quoted(value),
                                       " is not supported (only 100-continue)"));
      }
      framing.expect_continue = true;
    }
  }
  return framing;
}

}  // namespace

std::string_view HttpRequest::path() const {
  const std::string_view target_view(target);
  return target_view.substr(0, target_view.find('?'));
}

std::optional<std::string_view> HttpRequest::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (key == name) return std::string_view(value);
  }
  return std::nullopt;
}

HttpRequestReader::HttpRequestReader(HttpLimits limits) : limits_(limits) {}

bool HttpRequestReader::started() const {
  return stage_ != Stage::kHead || buffered() > 0;
}

void HttpRequestReader::compact() {
  if (position_ == 0) return;
  if (position_ < buffer_.size() && position_ < (size_t{1} << 16)) return;
  buffer_.erase(0, position_);
  scanned_ = scanned_ > position_ ? scanned_ - position_ : 0;
  position_ = 0;
}

std::optional<std::string_view> HttpRequestReader::next_line(size_t max_bytes, const char* what) {
  const size_t newline = buffer_.find('\n', position_);
  if (newline == std::string::npos) {
    if (buffered() > max_bytes) {
      throw HttpError(400, util::cat("the ", what, " is longer than ", max_bytes, " bytes"));
    }
    return std::nullopt;
  }
  std::string_view line(buffer_.data() + position_, newline - position_);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.size() > max_bytes) {  // the whole line arrived in one read
    throw HttpError(400, util::cat("the ", what, " is longer than ", max_bytes, " bytes"));
  }
  position_ = newline + 1;
  return line;
}

HttpRequestReader::Progress HttpRequestReader::feed(std::string_view bytes) {
  compact();
  buffer_.append(bytes);
  while (stage_ != Stage::kComplete) {
    const bool head = stage_ == Stage::kHead;
    if (!read_stage()) return Progress::kNeedMore;
    // Stop between the head and the body, so the caller can refuse the request or answer
    // "100 Continue" before the client sends a body byte.
    if (head) return Progress::kHeadersDone;
  }
  return Progress::kComplete;
}

bool HttpRequestReader::read_stage() {
  switch (stage_) {
    case Stage::kHead:
      return read_head();
    case Stage::kBody:
      return read_body();
    case Stage::kChunkSize:
      return read_chunk_size();
    case Stage::kChunkData:
      return read_chunk_data();
    case Stage::kChunkEnd:
      return read_chunk_end();
    case Stage::kTrailers:
      return read_trailer();
    case Stage::kComplete:
      break;  // nothing left to read: feed() does not call this then
  }
  return true;
}

bool HttpRequestReader::read_head() {
  skip_empty_lines();
  const std::optional<size_t> end = find_head_end();
  if (!end) return false;
  parse_head(*end);
  return true;
}

void HttpRequestReader::skip_empty_lines() {
  while (position_ < buffer_.size()) {
    if (buffer_[position_] == '\n') {
      ++position_;
    } else if (buffer_[position_] == '\r' && position_ + 1 < buffer_.size() &&
               buffer_[position_ + 1] == '\n') {
      position_ += 2;
    } else {
      break;
    }
  }
}

std::optional<size_t> HttpRequestReader::find_head_end() {
  // The head ends at the first empty line: "\n\n" or "\n\r\n". The search resumes where the
  // last feed left it, so a head that trickles in byte by byte is scanned once, not once a byte.
  std::optional<size_t> end;
  size_t i = std::max(scanned_, position_);
  for (; i < buffer_.size(); ++i) {
    if (buffer_[i] != '\n') continue;
    if (i + 1 >= buffer_.size()) break;
    if (buffer_[i + 1] == '\n') {
      end = i + 2;
      break;
    }
    if (buffer_[i + 1] == '\r') {
      if (i + 2 >= buffer_.size()) break;
      if (buffer_[i + 2] == '\n') {
        end = i + 3;
        break;
      }
    }
  }
  scanned_ = i;
  // Checked also while the head is incomplete, so an endless head is refused as it arrives.
  const size_t head_bytes = end.value_or(buffer_.size()) - position_;
  if (head_bytes > limits_.max_header_bytes) {
    throw HttpError(431, util::cat("the request line and headers are over ",
                                   limits_.max_header_bytes, " bytes"));
  }
  return end;
}

bool HttpRequestReader::read_body() {
  const uint64_t want = *request_.content_length - request_.body.size();
  const size_t take = static_cast<size_t>(std::min<uint64_t>(want, buffered()));
  request_.body.append(buffer_, position_, take);
  position_ += take;
  if (request_.body.size() < *request_.content_length) return false;
  stage_ = Stage::kComplete;
  return true;
}

bool HttpRequestReader::read_chunk_size() {
  const auto line = next_line(kMaxChunkLine, "chunk size line");
  if (!line) return false;
  const uint64_t size = parse_chunk_size(*line);
  // Checked before any of the chunk's data is held.
  if (size > limits_.max_body_bytes || request_.body.size() + size > limits_.max_body_bytes) {
    throw HttpError(
        413, util::cat("the chunked body passes the limit of ", limits_.max_body_bytes, " bytes"));
  }
  chunk_left_ = size;
  stage_ = size == 0 ? Stage::kTrailers : Stage::kChunkData;
  return true;
}

bool HttpRequestReader::read_chunk_data() {
  const size_t take = static_cast<size_t>(std::min<uint64_t>(chunk_left_, buffered()));
  request_.body.append(buffer_, position_, take);
  position_ += take;
  chunk_left_ -= take;
  if (chunk_left_ > 0) return false;
  stage_ = Stage::kChunkEnd;
  return true;
}

bool HttpRequestReader::read_chunk_end() {
  const auto line = next_line(2, "end of a chunk");
  if (!line) return false;
  if (!line->empty()) throw HttpError(400, "a chunk's data is longer than its size says");
  stage_ = Stage::kChunkSize;
  return true;
}

bool HttpRequestReader::read_trailer() {
  const auto line = next_line(limits_.max_header_bytes, "trailer section");
  if (!line) return false;
  trailer_bytes_ += line->size() + 2;
  if (trailer_bytes_ > limits_.max_header_bytes) {
    throw HttpError(431,
                    util::cat("the trailer section is over ", limits_.max_header_bytes, " bytes"));
  }
  if (line->empty()) {
    stage_ = Stage::kComplete;  // trailers are checked, then dropped
  } else {
    check_field_line(*line);
  }
  return true;
}

HttpRequest HttpRequestReader::take() {
  HttpRequest out = std::move(request_);
  request_ = HttpRequest{};
  stage_ = Stage::kHead;
  chunk_left_ = 0;
  trailer_bytes_ = 0;
  return out;
}

void HttpRequestReader::parse_head(size_t end) {
  bool first = true;
  while (position_ < end) {
    const auto line = next_line(limits_.max_header_bytes, "header section");
    if (!line || line->empty()) break;  // the empty line that ends the head
    if (first) {
      read_request_line(*line);
      first = false;
    } else {
      read_header_line(*line);
    }
  }
  position_ = end;
  scanned_ = end;
  finish_head();
}

void HttpRequestReader::read_request_line(std::string_view line) {
  const size_t first_space = line.find(' ');
  const size_t last_space = line.rfind(' ');
  if (first_space == std::string_view::npos || first_space == last_space) {
    throw HttpError(400,
                    util::cat("the request line ", quoted(line), " is not METHOD TARGET HTTP/1.1"));
  }
  const std::string_view method = line.substr(0, first_space);
  const std::string_view target = line.substr(first_space + 1, last_space - first_space - 1);
  const std::string_view version = line.substr(last_space + 1);
  if (!is_token(method)) {
    throw HttpError(400, util::cat("the method ", quoted(method), " is not a token"));
  }
  if (target.empty() || std::any_of(target.begin(), target.end(), [](char c) {
        return static_cast<unsigned char>(c) <= ' ' || c == 127;
      })) {
    throw HttpError(400, util::cat("the request target ", quoted(target),
                                   " holds spaces or control characters"));
  }
  if (version == "HTTP/1.1") {
    request_.minor_version = 1;
  } else if (version == "HTTP/1.0") {
    request_.minor_version = 0;
  } else if (version.size() == 8 && version.substr(0, 5) == "HTTP/" &&
             std::isdigit(static_cast<unsigned char>(version[5])) && version[6] == '.' &&
             std::isdigit(static_cast<unsigned char>(version[7]))) {
    throw HttpError(505, util::cat(version, " is not supported; use HTTP/1.1"));
  } else {
    throw HttpError(
        400, util::cat("the request line ", quoted(line), " does not end in an HTTP version"));
  }
  request_.method = method;
  request_.target = target;
}

size_t HttpRequestReader::check_field_line(std::string_view line) {
  if (line.front() == ' ' || line.front() == '\t') {
    throw HttpError(400, "folded header lines (a line starting with a space) are not accepted");
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos || !is_token(line.substr(0, colon))) {
    throw HttpError(400, util::cat("the header line ", quoted(line), " is not NAME: VALUE"));
  }
  const std::string_view value = trim(line.substr(colon + 1));
  if (std::any_of(value.begin(), value.end(), is_control)) {
    throw HttpError(
        400, util::cat("the header ", quoted(line.substr(0, colon)), " holds control characters"));
  }
  return colon;
}

void HttpRequestReader::read_header_line(std::string_view line) {
  const size_t colon = check_field_line(line);
  const std::string_view value = trim(line.substr(colon + 1));
  if (request_.headers.size() >= limits_.max_headers) {
    throw HttpError(431, util::cat("the request has more than ", limits_.max_headers, " headers"));
  }
  request_.headers.emplace_back(lower(line.substr(0, colon)), std::string(value));
}

void HttpRequestReader::finish_head() {
  const Framing framing = read_framing(request_.headers);
  // HTTP/1.1 keeps the connection unless told to close it; HTTP/1.0 closes it unless told not to.
  request_.keep_alive = !framing.close && (request_.minor_version == 1 || framing.keep_alive);
  // An HTTP/1.0 client does not wait for "100 Continue".
  request_.expect_continue = framing.expect_continue && request_.minor_version == 1;
  if (!framing.codings.empty()) {
    if (framing.length) {
      throw HttpError(400, "the request has both Content-Length and Transfer-Encoding; send one");
    }
    expect_chunked_body(framing.codings);
  } else {
    expect_sized_body(framing.length);
  }
}

void HttpRequestReader::expect_chunked_body(const std::vector<std::string>& codings) {
  if (request_.minor_version == 0) {
    throw HttpError(400, "Transfer-Encoding is not HTTP/1.0; send Content-Length");
  }
  if (codings.size() != 1 || codings.front() != "chunked") {
    std::string list;
    for (const std::string& coding : codings) list += (list.empty() ? "" : ", ") + coding;
    throw HttpError(501, util::cat("Transfer-Encoding ", quoted(list),
                                   " is not supported; send Content-Length or chunked"));
  }
  stage_ = Stage::kChunkSize;
}

void HttpRequestReader::expect_sized_body(std::optional<uint64_t> length) {
  // Refused from the declared length, before the client spends time sending the body.
  if (length && *length > limits_.max_body_bytes) {
    throw HttpError(
        413,
        util::cat("the body of ", *length == UINT64_MAX ? "over 10^18" : std::to_string(*length),
                  " bytes is over the limit of ", limits_.max_body_bytes, " bytes"));
  }
  request_.content_length = length.value_or(0);
  if (*request_.content_length > 0) {
    // Memory follows the bytes received, not the length a client declares.
    request_.body.reserve(
        static_cast<size_t>(std::min<uint64_t>(*request_.content_length, 1 << 20)));
    stage_ = Stage::kBody;
  } else {
    request_.expect_continue = false;  // nothing to continue with
    stage_ = Stage::kComplete;
  }
}

}  // namespace safrl::serve
