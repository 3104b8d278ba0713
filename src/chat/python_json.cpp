#include "chat/python_json.h"

#include <charconv>
#include <cstdlib>
#include <stdexcept>

namespace safrl::chat {
namespace {

// Python's float repr: the shortest digits that round-trip, in fixed notation when the decimal
// exponent is in [-4, 16) (always with a fractional part, "1.0"), otherwise d[.ddd]e+XX with at
// least two exponent digits.
void append_float(std::string& out, double value) {
  char buffer[64];
  std::to_chars_result r =
      std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::scientific);
  if (r.ec != std::errc()) throw std::logic_error("python_json_dumps: to_chars failed");
  std::string_view sci(buffer, static_cast<size_t>(r.ptr - buffer));
  std::string sign;
  if (sci.front() == '-') {
    sign = "-";
    sci.remove_prefix(1);
  }
  const size_t e = sci.find('e');
  std::string digits(sci.substr(0, e));
  if (digits.size() > 1) digits.erase(1, 1);  // drop the '.'
  const int exponent = std::atoi(std::string(sci.substr(e + 1)).c_str());
  out += sign;
  if (exponent >= -4 && exponent < 16) {
    if (exponent < 0) {
      out += "0.";
      out.append(static_cast<size_t>(-exponent - 1), '0');
      out += digits;
    } else if (static_cast<size_t>(exponent) + 1 >= digits.size()) {
      out += digits;
      out.append(static_cast<size_t>(exponent) + 1 - digits.size(), '0');
      out += ".0";
    } else {
      out += digits.substr(0, static_cast<size_t>(exponent) + 1);
      out += '.';
      out += digits.substr(static_cast<size_t>(exponent) + 1);
    }
    return;
  }
  out += digits.substr(0, 1);
  if (digits.size() > 1) {
    out += '.';
    out += digits.substr(1);
  }
  out += exponent < 0 ? "e-" : "e+";
  const int magnitude = std::abs(exponent);
  if (magnitude < 10) out += '0';
  out += std::to_string(magnitude);
}

void append_value(std::string& out, const nlohmann::json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::object: {
      out += '{';
      bool first = true;
      for (const auto& item : value.items()) {
        if (!first) out += ", ";
        first = false;
        out += nlohmann::json(item.key()).dump();
        out += ": ";
        append_value(out, item.value());
      }
      out += '}';
      return;
    }
    case nlohmann::json::value_t::array: {
      out += '[';
      for (size_t i = 0; i < value.size(); ++i) {
        if (i > 0) out += ", ";
        append_value(out, value[i]);
      }
      out += ']';
      return;
    }
    case nlohmann::json::value_t::number_float:
      append_float(out, value.get<double>());
      return;
    default:
      // Strings, integers, booleans and null: nlohmann escapes exactly the characters json.dumps
      // escapes with ensure_ascii=False ('"', '\\' and U+0000..U+001F, lowercase \u00xx).
      out += value.dump();
      return;
  }
}

}  // namespace

std::string python_json_dumps(const nlohmann::json& value) {
  std::string out;
  append_value(out, value);
  return out;
}

}  // namespace safrl::chat
