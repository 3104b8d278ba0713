#include "tokenizer/byte_level.h"

#include <array>

#include "util/utf8.h"

namespace safrl::tokenizer::byte_level {
namespace {

struct Alphabet {
  std::array<char32_t, 256> char_of_byte{};
  std::array<std::string, 256> token_of_byte;

  Alphabet() {
    const auto prints_as_itself = [](int b) {
      return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    };
    char32_t next_free = 0x100;
    for (int b = 0; b < 256; ++b) {
      char_of_byte[b] = prints_as_itself(b) ? static_cast<char32_t>(b) : next_free++;
      util::utf8::append(token_of_byte[b], char_of_byte[b]);
    }
  }
};

const Alphabet& alphabet() {
  static const Alphabet instance;
  return instance;
}

}  // namespace

char32_t char_of_byte(uint8_t byte) {
  return alphabet().char_of_byte[byte];
}

int byte_of_char(char32_t cp) {
  // The alphabet is Latin-1's printable bytes plus U+0100..U+0143.
  if (cp < 0x100) {
    return alphabet().char_of_byte[cp] == cp ? static_cast<int>(cp) : -1;
  }
  if (cp < 0x100 + 68) {
    for (int b = 0; b < 256; ++b) {
      if (alphabet().char_of_byte[b] == cp) return b;
    }
  }
  return -1;
}

const std::string& token_of_byte(uint8_t byte) {
  return alphabet().token_of_byte[byte];
}

}  // namespace safrl::tokenizer::byte_level
