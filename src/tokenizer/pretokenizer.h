// The Qwen2 pre-tokenizer: Split(kQwen2Pattern, behavior Isolated) as Hugging Face tokenizers
// runs it (Oniguruma, leftmost-first alternation, greedy quantifiers with backtracking), written
// out by hand instead of through a regex engine; pretokenizer.cpp comments each branch with the
// sub-pattern it implements. Every character of the input is covered by some match, so the
// pieces, in order, concatenate back to the input.
//
// Character classes come from unicode.h. Stateless and thread-safe; the caller owns the scratch.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

namespace safrl::tokenizer {

// The only Split pattern the tokenizer accepts: Qwen2's, exactly as tokenizer.json spells it.
inline constexpr std::string_view kQwen2Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// One decoded code point of the text being split.
struct SplitChar {
  char32_t cp;
  size_t byte_offset;
  unsigned char flags;  // unicode::CharFlags
};

// Splits valid UTF-8 `text` into `pieces` (cleared first), views into `text`. `chars` is scratch.
void split_qwen2(std::string_view text, std::vector<SplitChar>& chars,
                 std::vector<std::string_view>& pieces);

}  // namespace safrl::tokenizer
