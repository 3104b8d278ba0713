#include "tokenizer/pretokenizer.h"

#include <cstdint>

#include "tokenizer/unicode.h"
#include "util/utf8.h"

namespace safrl::tokenizer {
namespace {

using unicode::kLetter;
using unicode::kNumber;
using unicode::kWhiteSpace;

// Oniguruma's case-insensitive match folds U+017F LATIN SMALL LETTER LONG S onto 's' (the only
// non-ASCII code point that folds onto one of s t r e v m l d).
char32_t fold_contraction_letter(char32_t cp) {
  if (cp >= 'A' && cp <= 'Z') return cp + ('a' - 'A');
  if (cp == 0x017F) return 's';
  return cp;
}

bool is_cr_or_lf(char32_t cp) {
  return cp == '\r' || cp == '\n';
}

// [^\s\p{L}\p{N}]
bool is_other(uint8_t flags) {
  return (flags & (kLetter | kNumber | kWhiteSpace)) == 0;
}

// End (exclusive char index) of the run of characters from `i` that have any of `mask`.
size_t run_end(const std::vector<SplitChar>& c, size_t i, uint8_t mask) {
  while (i < c.size() && (c[i].flags & mask)) ++i;
  return i;
}

// End (exclusive char index) of the regex match that starts at char `i`. The pattern's
// alternatives are tried in order and the first that matches wins, as in a backtracking engine.
size_t match_end(const std::vector<SplitChar>& c, size_t i) {
  const size_t n = c.size();
  const char32_t cp = c[i].cp;
  const uint8_t flags = c[i].flags;

  // (?i:'s|'t|'re|'ve|'m|'ll|'d)
  if (cp == '\'' && i + 1 < n) {
    const char32_t a = fold_contraction_letter(c[i + 1].cp);
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return i + 2;
    if (i + 2 < n) {
      const char32_t b = fold_contraction_letter(c[i + 2].cp);
      if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return i + 3;
    }
  }

  // [^\r\n\p{L}\p{N}]?\p{L}+ : with the optional character taken when it is there, else without.
  if (flags & kLetter) return run_end(c, i, kLetter);
  if (!is_cr_or_lf(cp) && !(flags & kNumber) && i + 1 < n && (c[i + 1].flags & kLetter)) {
    return run_end(c, i + 1, kLetter);
  }

  // \p{N} : one number character at a time.
  if (flags & kNumber) return i + 1;

  // ' ?[^\s\p{L}\p{N}]+[\r\n]*' : without the space the class cannot start on a space, so the
  // space is only ever taken as the optional prefix.
  const size_t symbols_start = cp == ' ' ? i + 1 : i;
  if (symbols_start < n && is_other(c[symbols_start].flags)) {
    size_t end = symbols_start;
    while (end < n && is_other(c[end].flags)) ++end;
    while (end < n && is_cr_or_lf(c[end].cp)) ++end;
    return end;
  }

  // What is left starts with white space; `space_end` ends its run.
  const size_t space_end = run_end(c, i, kWhiteSpace);

  // \s*[\r\n]+ : \s* backtracks from the end of the run to its last CR or LF; the [\r\n]+ after
  // it cannot extend further since the rest of the run holds no CR or LF.
  for (size_t j = space_end; j > i; --j) {
    if (is_cr_or_lf(c[j - 1].cp)) return j;
  }

  // \s+(?!\S) : the whole run at the end of the text; before a non-space, the run minus its last
  // character (which then satisfies the look-ahead), when that leaves at least one.
  if (space_end == n) return n;
  if (space_end - i >= 2) return space_end - 1;

  // \s+ : a single space before a non-space that no branch above took.
  return space_end;
}

}  // namespace

void split_qwen2(std::string_view text, std::vector<SplitChar>& chars,
                 std::vector<std::string_view>& pieces) {
  chars.clear();
  pieces.clear();
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t offset = pos;
    const char32_t cp = util::utf8::decode(text, pos);
    chars.push_back({cp, offset, unicode::flags(cp)});
  }
  size_t i = 0;
  while (i < chars.size()) {
    const size_t end = match_end(chars, i);
    const size_t begin_byte = chars[i].byte_offset;
    const size_t end_byte = end < chars.size() ? chars[end].byte_offset : text.size();
    pieces.push_back(text.substr(begin_byte, end_byte - begin_byte));
    i = end;
  }
}

}  // namespace safrl::tokenizer
