#include "serve/http_response.h"

#include <nlohmann/json.hpp>

namespace safrl::serve {

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 413:
      return "Content Too Large";
    case 417:
      return "Expectation Failed";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

std::string serialize(const HttpResponse& response, bool head_only) {
  std::string out = "HTTP/1.1 " + std::to_string(response.status) + " ";
  out += reason_phrase(response.status);
  out += "\r\nContent-Type: " + response.content_type;
  out += "\r\nContent-Length: " + std::to_string(response.body.size());
  if (response.close) out += "\r\nConnection: close";
  for (const auto& [name, value] : response.headers) out += "\r\n" + name + ": " + value;
  out += "\r\n\r\n";
  if (!head_only) out += response.body;
  return out;
}

HttpResponse json_error(const ErrorReply& error) {
  return json_error(http_status(error.code), error);
}

HttpResponse json_error(int status, const ErrorReply& error) {
  HttpResponse response;
  response.status = status;
  response.body = nlohmann::json{{"error", error_json(error)}}.dump(
      -1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (error.retry_after_ms) {
    response.headers.emplace_back("Retry-After",
                                  std::to_string((*error.retry_after_ms + 999) / 1000));
  }
  return response;
}

ErrorCode error_code_of_http_status(int status) {
  if (status == 413 || status == 431) return ErrorCode::kTooLarge;
  if (status == 503) return ErrorCode::kBusy;
  return ErrorCode::kBadRequest;
}

}  // namespace safrl::serve
