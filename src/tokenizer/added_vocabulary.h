// Added tokens (tokenizer.json "added_tokens") and how text is split at them, following Hugging
// Face's AddedVocabulary:
//   - Tokens with normalized=false are found in the raw text (split_raw), tokens with
//     normalized=true in each normalized plain segment (split_normalized), with their content
//     normalized the same way.
//   - Matching is leftmost-longest and non-overlapping over bytes (Hugging Face uses a
//     leftmost-longest Aho-Corasick automaton); a match that a flag then rejects is still consumed.
//   - single_word: the match is dropped when a \w character touches it on either side.
//   - lstrip / rstrip: white space before / after the match joins the token and disappears
//     (lstrip never reaches back into the previous token's span).
//   - split_special_tokens (tokenizer_config.json): special tokens are not recognised at all.
// Immutable after construction; thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace safrl::tokenizer {

// One entry of tokenizer.json "added_tokens".
struct AddedToken {
  int32_t id = -1;
  std::string content;
  bool single_word = false;  // only match whole words
  bool lstrip = false;       // swallow white space on the left
  bool rstrip = false;       // swallow white space on the right
  bool normalized = false;   // match against the normalized text
  bool special = false;      // skipped by decode(skip_special_tokens=true)
};

// A run of text after splitting at added tokens: plain text (id < 0) or one added token.
struct Segment {
  std::string_view text;
  int32_t id;
};

class AddedVocabulary {
 public:
  // `nfc`: the tokenizer normalizes with NFC, so normalized tokens are matched in NFC form.
  AddedVocabulary(std::vector<AddedToken> tokens, bool split_special_tokens, bool nfc);

  // Appends the segments of `text` for the tokens with normalized=false.
  void split_raw(std::string_view text, std::vector<Segment>& out) const;
  // Appends the segments of normalized `text` for the tokens with normalized=true.
  void split_normalized(std::string_view text, std::vector<Segment>& out) const;

  bool has_normalized_tokens() const { return !normalized_.empty(); }
  const std::vector<AddedToken>& tokens() const { return tokens_; }

 private:
  // Leftmost-longest search for a set of byte strings.
  class Matcher {
   public:
    void add(std::string pattern, size_t token_index);
    bool empty() const { return patterns_.empty(); }
    // Finds the leftmost match at or after `from`, the longest one there.
    bool find(std::string_view text, size_t from, size_t* start, size_t* end,
              size_t* token_index) const;

   private:
    struct Pattern {
      std::string text;
      size_t token_index;
    };
    std::vector<Pattern> patterns_;
    // Indices into patterns_ by first byte, longest first.
    std::array<std::vector<size_t>, 256> by_first_byte_;
  };

  void split(std::string_view text, const Matcher& matcher, std::vector<Segment>& out) const;

  std::vector<AddedToken> tokens_;
  bool split_special_tokens_;
  Matcher raw_;
  Matcher normalized_;
};

}  // namespace safrl::tokenizer
