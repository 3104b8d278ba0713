// The one diagnostic logger of safrl: every line a component writes to stderr (a server starting,
// a monitor's alert, a request the server could not answer) goes through log(), with a level, the
// component that wrote it and a UTC timestamp, as text or as JSON lines for log collectors:
//
//   2026-12-07T19:45:01.123Z WARN serve: message
//   {"ts":"2026-12-07T19:45:01.123Z","level":"warn","component":"serve","message":"message"}
//
// Lines below the level set by set_log_level (default info) are dropped. The CLI's usage text, a
// command's final "safrl: ..." error line and its result (`safrl score`'s progress and summary)
// are not diagnostics and stay plain std::cerr writes.
// Thread-safe: the level and format are atomics, and each line is written whole under one mutex,
// so lines of concurrent writers never interleave.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace safrl::util {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

// Writes one line to stderr when `level` is at or above the current level.
void log(LogLevel level, std::string_view component, std::string_view message);

inline void log_debug(std::string_view component, std::string_view message) {
  log(LogLevel::kDebug, component, message);
}
inline void log_info(std::string_view component, std::string_view message) {
  log(LogLevel::kInfo, component, message);
}
inline void log_warn(std::string_view component, std::string_view message) {
  log(LogLevel::kWarn, component, message);
}
inline void log_error(std::string_view component, std::string_view message) {
  log(LogLevel::kError, component, message);
}

void set_log_level(LogLevel level);
LogLevel log_level();
// True when a line of `level` would be written: lets a caller skip building a costly message.
bool log_enabled(LogLevel level);

// "debug", "info", "warn" or "error"; anything else throws util::InputError naming them.
LogLevel parse_log_level(std::string_view name);
// The lowercase name parse_log_level accepts.
std::string_view log_level_name(LogLevel level);

// JSON lines instead of text (default text).
void set_log_json(bool json);
bool log_json();
// "text" → false, "json" → true; anything else throws util::InputError naming them.
bool parse_log_format_is_json(std::string_view name);

// The line log() writes for a message at `when`, without the trailing newline: what the tests
// check byte for byte.
std::string format_log_line(LogLevel level, std::string_view component, std::string_view message,
                            std::chrono::system_clock::time_point when, bool json);

}  // namespace safrl::util
