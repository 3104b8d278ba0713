#include "util/log.h"

#include <atomic>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <nlohmann/json.hpp>

#include "util/error.h"

namespace safrl::util {
namespace {

std::atomic<LogLevel> g_level{LogLevel::kInfo};
std::atomic<bool> g_json{false};

std::mutex& write_mutex() {
  static std::mutex mutex;
  return mutex;
}

// ISO 8601 in UTC with milliseconds: 2026-12-07T19:45:01.123Z.
std::string utc_timestamp(std::chrono::system_clock::time_point when) {
  const auto since_epoch = when.time_since_epoch();
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
  auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch - seconds).count();
  std::time_t whole = static_cast<std::time_t>(seconds.count());
  if (millis < 0) {  // before 1970: floor, not truncate
    millis += 1000;
    --whole;
  }
  std::tm utc{};
  gmtime_r(&whole, &utc);
  char buffer[32];
  const size_t used = std::strftime(buffer, sizeof(buffer), "%Y-%m-%dT%H:%M:%S", &utc);
  std::snprintf(buffer + used, sizeof(buffer) - used, ".%03dZ", static_cast<int>(millis));
  return buffer;
}

// Indexed by LogLevel: lowercase for --log-level and JSON, uppercase in text lines.
constexpr std::string_view kLevelNames[] = {"debug", "info", "warn", "error"};
constexpr std::string_view kUpperLevelNames[] = {"DEBUG", "INFO", "WARN", "ERROR"};

std::string_view upper_level_name(LogLevel level) {
  return kUpperLevelNames[static_cast<int>(level)];
}

}  // namespace

std::string_view log_level_name(LogLevel level) {
  return kLevelNames[static_cast<int>(level)];
}

LogLevel parse_log_level(std::string_view name) {
  for (LogLevel level : {LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarn, LogLevel::kError}) {
    if (name == log_level_name(level)) return level;
  }
  throw InputError(cat("unknown log level '", name, "': use debug, info, warn or error"));
}

bool parse_log_format_is_json(std::string_view name) {
  if (name == "text") return false;
  if (name == "json") return true;
  throw InputError(cat("unknown log format '", name, "': use text or json"));
}

void set_log_level(LogLevel level) {
  g_level.store(level, std::memory_order_relaxed);
}

LogLevel log_level() {
  return g_level.load(std::memory_order_relaxed);
}

bool log_enabled(LogLevel level) {
  return level >= log_level();
}

void set_log_json(bool json) {
  g_json.store(json, std::memory_order_relaxed);
}

bool log_json() {
  return g_json.load(std::memory_order_relaxed);
}

std::string format_log_line(LogLevel level, std::string_view component, std::string_view message,
                            std::chrono::system_clock::time_point when, bool json) {
  if (!json) {
    return cat(utc_timestamp(when), ' ', upper_level_name(level), ' ', component, ": ", message);
  }
  // ordered_json keeps the fields in the documented order; replace keeps a message with invalid
  // UTF-8 (a client's bytes quoted in an error) loggable instead of throwing.
  nlohmann::ordered_json line;
  line["ts"] = utc_timestamp(when);
  line["level"] = log_level_name(level);
  line["component"] = component;
  line["message"] = message;
  return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void log(LogLevel level, std::string_view component, std::string_view message) {
  if (!log_enabled(level)) return;
  std::string line =
      format_log_line(level, component, message, std::chrono::system_clock::now(), log_json());
  line += '\n';
  std::lock_guard<std::mutex> lock(write_mutex());
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace safrl::util
