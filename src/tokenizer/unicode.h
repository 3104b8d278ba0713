// Unicode character classes and NFC normalization for the tokenizer, as Hugging Face's.
//
// The classes are the ones the Qwen2 pre-tokenizer regex and the added-token rules ask for, with
// the meaning of the engines Hugging Face tokenizers runs them on:
//   kLetter      \p{L}  (Lu Ll Lt Lm Lo)
//   kNumber      \p{N}  (Nd Nl No)
//   kWhiteSpace  \s     Oniguruma's Unicode \s (the split regex) and Rust regex's \s (lstrip,
//                       rstrip): U+0009..U+000D, U+0085 and the Zs, Zl, Zp categories -- the
//                       White_Space property.
//   kWord        \w     Rust regex's Unicode \w (single_word): Alphabetic, M, Nd, Pc, Join_Control.
// Both follow the Unicode versions of Hugging Face tokenizers 0.23: the classes Unicode 16.0's
// general categories (those of Oniguruma and Rust regex), NFC Unicode 9.0's tables (those of the
// unicode-normalization-alignments crate). utf8proc 2.8 (Unicode 15.0) provides them, corrected
// by unicode_tables.h where its version gives another answer (docs/tokenizer.md).
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

// Unicode NFC of valid UTF-8 `text`, as Hugging Face's NFC normalizer computes it. Returns `text`
// itself when it is already in NFC (checked with a quick scan, the common case), otherwise the
// normalized string stored in `buffer`.
std::string_view nfc(std::string_view text, std::string& buffer);

}  // namespace safrl::tokenizer::unicode
