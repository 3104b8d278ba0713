#include "cli/json_lines.h"

#include <istream>
#include <ostream>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "util/bounded_json.h"
#include "util/error.h"
#include "util/utf8.h"

namespace safrl::cli {

namespace {

using nlohmann::json;

// The offset of the first byte that does not belong to a well-formed UTF-8 sequence, or npos.
// Each sequence is checked with util::utf8::is_valid, whose rules (no overlongs, no surrogates)
// decide; the lead byte only says how long a sequence would be.
size_t first_invalid_utf8(std::string_view text) {
  if (util::utf8::is_valid(text)) return std::string_view::npos;
  for (size_t pos = 0; pos < text.size();) {
    const auto lead = static_cast<unsigned char>(text[pos]);
    const size_t length = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
    if (pos + length > text.size() || !util::utf8::is_valid(text.substr(pos, length))) return pos;
    pos += length;
  }
  return std::string_view::npos;
}

std::string hex_byte(char byte) {
  constexpr char kDigits[] = "0123456789ABCDEF";
  const auto b = static_cast<unsigned char>(byte);
  return {'0', 'x', kDigits[b >> 4], kDigits[b & 0xF]};
}

[[noreturn]] void refuse(const std::string& message) {
  throw util::InputError(message);
}

}  // namespace

bool LineReader::next(RawLine& line) {
  std::streambuf& buffer = *in_.rdbuf();
  for (;;) {
    line.text.clear();
    line.too_long = 0;
    size_t length = 0;
    bool ended = false;  // by a newline, rather than the end of the input
    bool blank = true;   // decided over the whole line, also past the bound
    for (int c; (c = buffer.sbumpc()) != std::char_traits<char>::eof();) {
      if (c == '\n') {
        ended = true;
        break;
      }
      blank = blank && (c == ' ' || c == '\t' || c == '\r');
      if (++length <= max_bytes_) line.text.push_back(static_cast<char>(c));
    }
    if (!ended && length == 0) {
      in_.setstate(std::ios::eofbit);
      return false;
    }
    line.number = ++number_;
    if (blank) continue;
    if (length > max_bytes_) {
      line.text.clear();
      line.text.shrink_to_fit();
      line.too_long = length;
    } else if (line.text.back() == '\r') {
      line.text.pop_back();
    }
    return true;
  }
}

json parse_json_line(const RawLine& line, const LineLimits& limits) {
  if (line.too_long > 0) {
    refuse(util::cat("the line is ", line.too_long, " bytes, more than the limit of ",
                     limits.max_bytes,
                     "; shorten it (no model's context holds that much text; keep bulk data out "
                     "of \"meta\")"));
  }
  const std::string& text = line.text;
  if (const size_t bad = first_invalid_utf8(text); bad != std::string::npos) {
    refuse(util::cat("not UTF-8: byte ", hex_byte(text[bad]), " at byte ", bad + 1,
                     " of the line does not belong to a UTF-8 character; write the file as UTF-8 "
                     "(binary data in a field must be encoded, e.g. as base64)"));
  }
  // nlohmann reads a NUL as the end of the input, so the bytes after one would be dropped unread.
  if (const size_t nul = text.find('\0'); nul != std::string::npos) {
    refuse(util::cat("the line holds a NUL byte at byte ", nul + 1,
                     "; JSON text cannot hold one (inside a string, write \\u0000)"));
  }
  util::BoundedJson parsed;
  try {
    parsed = util::parse_bounded(text, {limits.max_depth, limits.max_values});
  } catch (const json::exception& e) {
    // nlohmann's message quotes the bytes last read, which may end inside a character.
    refuse(util::cat("not valid JSON (", util::utf8::repair(e.what()), ")"));
  }
  if (parsed.stopped == util::JsonStop::kTooDeep) {
    refuse(util::cat("the line is nested deeper than ", limits.max_depth,
                     " levels of arrays and objects (the line itself is one); flatten \"meta\""));
  }
  if (parsed.stopped == util::JsonStop::kTooMany) {
    refuse(util::cat("the line holds more than ", limits.max_values,
                     " JSON values; split it, or move the bulk out of \"meta\""));
  }
  return std::move(parsed.value);
}

std::string dump_line(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

int run_json_lines(std::istream& in, std::ostream& out, std::ostream& err,
                   const LineHandler& handle) {
  const LineLimits limits;
  LineReader reader(in, limits.max_bytes);
  int exit_code = 0;
  for (RawLine line; reader.next(line);) {
    std::string problem;
    try {
      out << dump_line(handle(parse_json_line(line, limits))) << '\n';
      continue;
    } catch (const util::InputError& e) {
      problem = e.what();
    } catch (const json::type_error& e) {
      problem = util::cat("a field has the wrong type (", e.what(), ")");
    } catch (const json::exception& e) {
      problem = util::cat("not usable JSON (", e.what(), ")");
    }
    problem = util::utf8::repair(problem);
    err << "line " << line.number << ": " << problem << '\n';
    out << dump_line(json{{"error", problem}}) << '\n';
    exit_code = 1;
  }
  out.flush();
  return exit_code;
}

}  // namespace safrl::cli
