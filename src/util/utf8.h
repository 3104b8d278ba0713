// UTF-8 helpers: validation (the protocol and the tokenizer), repair of invalid input and
// code-point decoding (the tokenizer).
//
// repair() implements the Unicode "substitution of maximal subparts" practice (Unicode 15,
// section 3.9, U+FFFD substitution): each maximal prefix of a well-formed sequence that cannot be
// completed, and each byte that cannot start one, becomes one U+FFFD. Rust's
// String::from_utf8_lossy (used by Hugging Face tokenizers' ByteLevel decoder), Python's
// bytes.decode('utf-8', 'replace') and the WHATWG TextDecoder all do exactly this, so decoded
// text and repaired input agree byte for byte with those implementations.
// All functions are pure and thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace safrl::util::utf8 {

inline constexpr char32_t kReplacementChar = 0xFFFD;

// True when `text` is well-formed UTF-8 (no surrogates, no overlongs, nothing above U+10FFFF).
bool is_valid(std::string_view text);

// `text` with every maximal invalid subpart replaced by U+FFFD; valid input is returned unchanged.
std::string repair(std::string_view text);

// Appends the UTF-8 encoding of the scalar value `cp`.
void append(std::string& out, char32_t cp);

// Decodes the code point that starts at text[pos] and advances pos past it. `text` must be valid
// UTF-8 (callers repair first); this is the hot path of the pre-tokenizer, so it does not re-check.
inline char32_t decode(std::string_view text, size_t& pos) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(pos);
  if (lead < 0x80) {
    pos += 1;
    return lead;
  }
  if (lead < 0xE0) {
    const char32_t cp = (char32_t{lead} & 0x1F) << 6 | (byte(pos + 1) & 0x3F);
    pos += 2;
    return cp;
  }
  if (lead < 0xF0) {
    const char32_t cp =
        (char32_t{lead} & 0x0F) << 12 | (byte(pos + 1) & 0x3F) << 6 | (byte(pos + 2) & 0x3F);
    pos += 3;
    return cp;
  }
  const char32_t cp = (char32_t{lead} & 0x07) << 18 | (byte(pos + 1) & 0x3F) << 12 |
                      (byte(pos + 2) & 0x3F) << 6 | (byte(pos + 3) & 0x3F);
  pos += 4;
  return cp;
}

}  // namespace safrl::util::utf8
