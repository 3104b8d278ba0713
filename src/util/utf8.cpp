#include "util/utf8.h"

#include <cstdint>
#include <cstring>

namespace safrl::util::utf8 {
namespace {

// Length of the well-formed sequence that starts at text[pos] (Unicode Table 3-7), or 0 when none
// does; then *subpart is the length of the maximal invalid subpart there (at least 1).
size_t scan(std::string_view text, size_t pos, size_t* subpart) {
  const auto lead = static_cast<unsigned char>(text[pos]);
  if (lead < 0x80) return 1;
  size_t trailing = 0;
  // Range allowed for the first trailing byte; the others are always 80..BF.
  unsigned char low = 0x80;
  unsigned char high = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    trailing = 1;
  } else if (lead == 0xE0) {
    trailing = 2;
    low = 0xA0;  // no overlongs
  } else if (lead == 0xED) {
    trailing = 2;
    high = 0x9F;  // no surrogates
  } else if (lead >= 0xE1 && lead <= 0xEF) {
    trailing = 2;
  } else if (lead == 0xF0) {
    trailing = 3;
    low = 0x90;  // no overlongs
  } else if (lead >= 0xF1 && lead <= 0xF3) {
    trailing = 3;
  } else if (lead == 0xF4) {
    trailing = 3;
    high = 0x8F;  // nothing above U+10FFFF
  } else {
    *subpart = 1;  // 80..C1 and F5..FF never start a sequence
    return 0;
  }
  size_t i = 1;
  for (; i <= trailing && pos + i < text.size(); ++i) {
    const auto byte = static_cast<unsigned char>(text[pos + i]);
    if (byte < low || byte > high) break;
    low = 0x80;
    high = 0xBF;
  }
  if (i > trailing) return trailing + 1;
  *subpart = i;
  return 0;
}

// Index of the first byte at or after `pos` that is not ASCII, eight bytes at a time.
size_t skip_ascii(std::string_view text, size_t pos) {
  constexpr uint64_t kHighBits = 0x8080808080808080ULL;
  while (pos + 8 <= text.size()) {
    uint64_t word;
    std::memcpy(&word, text.data() + pos, 8);
    if (word & kHighBits) break;
    pos += 8;
  }
  while (pos < text.size() && static_cast<unsigned char>(text[pos]) < 0x80) ++pos;
  return pos;
}

}  // namespace

bool is_valid(std::string_view text) {
  size_t pos = skip_ascii(text, 0);
  size_t subpart = 0;
  while (pos < text.size()) {
    const size_t length = scan(text, pos, &subpart);
    if (length == 0) return false;
    pos = skip_ascii(text, pos + length);
  }
  return true;
}

std::string repair(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 8);
  size_t pos = 0;
  while (pos < text.size()) {
    size_t subpart = 0;
    const size_t length = scan(text, pos, &subpart);
    if (length > 0) {
      out.append(text.data() + pos, length);
      pos += length;
    } else {
      append(out, kReplacementChar);
      pos += subpart;
    }
  }
  return out;
}

void append(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

}  // namespace safrl::util::utf8
