#include "serve/error_reply.h"

#include "util/enum_names.h"

namespace safrl::serve {

namespace {

constexpr util::EnumName<ErrorCode> kErrorNames[] = {
    {ErrorCode::kBadRequest, "bad_request"},
    {ErrorCode::kUnsupportedVersion, "unsupported_version"},
    {ErrorCode::kTooLarge, "too_large"},
    {ErrorCode::kTooLong, "too_long"},
    {ErrorCode::kBusy, "busy"},
    {ErrorCode::kDeadlineExceeded, "deadline_exceeded"},
    {ErrorCode::kShuttingDown, "shutting_down"},
    {ErrorCode::kUnavailable, "unavailable"},
    {ErrorCode::kModelError, "model_error"},
    {ErrorCode::kInternal, "internal"},
};

}  // namespace

std::string_view error_code_name(ErrorCode code) {
  return util::name_of(kErrorNames, code);
}

std::optional<ErrorCode> parse_error_code(std::string_view name) {
  return util::find_name(kErrorNames, name);
}

nlohmann::json error_json(const ErrorReply& error) {
  nlohmann::json object = {{"code", error_code_name(error.code)}, {"message", error.message}};
  if (error.retry_after_ms) object["retry_after_ms"] = *error.retry_after_ms;
  return object;
}

nlohmann::json error_reply(const std::string& id, const ErrorReply& error) {
  nlohmann::json reply = {{"type", "error"}, {"error", error_json(error)}};
  if (!id.empty()) reply["id"] = id;
  return reply;
}

int http_status(ErrorCode code) {
  switch (code) {
    case ErrorCode::kBadRequest:
    case ErrorCode::kTooLong:
      return 400;
    case ErrorCode::kTooLarge:
      return 413;
    case ErrorCode::kBusy:
    case ErrorCode::kShuttingDown:
    case ErrorCode::kUnavailable:
      return 503;
    case ErrorCode::kDeadlineExceeded:
      return 504;
    case ErrorCode::kUnsupportedVersion:
    case ErrorCode::kModelError:
    case ErrorCode::kInternal:
      return 500;
  }
  return 500;
}

}  // namespace safrl::serve
