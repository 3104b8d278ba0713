// The GPT-2 byte-level alphabet used by ByteLevel pre-tokenizers and decoders: each of the 256
// byte values is shown as one printable code point (bytes_to_unicode() in GPT-2's encoder.py and
// in Hugging Face tokenizers). Printable Latin-1 bytes stand for themselves; the other 68 bytes
// (controls, space, DEL, NBSP, soft hyphen) take U+0100 upwards in byte order.
// Pure functions over constant tables; thread-safe.
#pragma once

#include <cstdint>
#include <string>

namespace safrl::tokenizer::byte_level {

// The code point that stands for `byte`.
char32_t char_of_byte(uint8_t byte);

// The byte that `cp` stands for, or -1 when `cp` is not in the alphabet.
int byte_of_char(char32_t cp);

// The UTF-8 encoding of the alphabet character for `byte`, e.g. "Ġ" for a space.
const std::string& token_of_byte(uint8_t byte);

}  // namespace safrl::tokenizer::byte_level
