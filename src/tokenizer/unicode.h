// Unicode character classes and NFC normalization for the tokenizer, from utf8proc's tables.
//
// The classes are the ones the Qwen2 pre-tokenizer regex and the added-token rules ask for, with
// the meaning of the engines Hugging Face tokenizers runs them on:
//   kLetter      \p{L}  (Lu Ll Lt Lm Lo)
//   kNumber      \p{N}  (Nd Nl No)
//   kWhiteSpace  \s     Oniguruma's Unicode \s (the split regex) and Rust regex's \s (lstrip,
//                       rstrip): U+0009..U+000D, U+0085 and the Zs, Zl, Zp categories -- the
//                       White_Space property.
//   kWord        \w     Rust regex's Unicode \w (single_word): Alphabetic, M, Nd, Pc, Join_Control.
// Everything comes from utf8proc's Unicode tables (15.0 in utf8proc 2.8). Hugging Face tokenizers
// uses Oniguruma's and unicode-normalization-alignments' tables, of other Unicode versions; they
// differ only on code points assigned in between (docs/tokenizer.md).
// All functions are thread-safe; the first call builds a 64 KiB table for the BMP.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace safrl::tokenizer::unicode {

enum CharFlags : uint8_t {
  kLetter = 1 << 0,
  kNumber = 1 << 1,
  kWhiteSpace = 1 << 2,
  kWord = 1 << 3,
  // Internal to nfc(): the code point is left unchanged by NFC whatever surrounds it.
  kNfcStable = 1 << 4,
};

// The CharFlags of one scalar value.
uint8_t flags(char32_t cp);

// Unicode NFC of valid UTF-8 `text`. Returns `text` itself when it is already in NFC (checked
// with a quick scan, the common case), otherwise the normalized string stored in `buffer`.
std::string_view nfc(std::string_view text, std::string& buffer);

}  // namespace safrl::tokenizer::unicode
