#include "tokenizer/added_vocabulary.h"

#include <algorithm>
#include <utility>

#include "tokenizer/unicode.h"
#include "util/utf8.h"

namespace safrl::tokenizer {
namespace {

// The code point that ends `text` (valid UTF-8, not empty).
char32_t last_char(std::string_view text) {
  size_t pos = text.size() - 1;
  while (pos > 0 && (static_cast<unsigned char>(text[pos]) & 0xC0) == 0x80) --pos;
  return util::utf8::decode(text, pos);
}

char32_t first_char(std::string_view text) {
  size_t pos = 0;
  return util::utf8::decode(text, pos);
}

bool has_flag(char32_t cp, unicode::CharFlags flag) {
  return (unicode::flags(cp) & flag) != 0;
}

// Start of the white space that ends text[0, end): Rust's `\s*$` on that prefix.
size_t trailing_space_start(std::string_view text, size_t end) {
  while (end > 0 && has_flag(last_char(text.substr(0, end)), unicode::kWhiteSpace)) {
    --end;
    while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  }
  return end;
}

// End of the white space that starts text[begin, ...): Rust's `^\s*` on that suffix.
size_t leading_space_end(std::string_view text, size_t begin) {
  while (begin < text.size()) {
    size_t next = begin;
    if (!has_flag(util::utf8::decode(text, next), unicode::kWhiteSpace)) break;
    begin = next;
  }
  return begin;
}

}  // namespace

void AddedVocabulary::Matcher::add(std::string pattern, size_t token_index) {
  const auto first = static_cast<unsigned char>(pattern[0]);
  patterns_.push_back({std::move(pattern), token_index});
  std::vector<size_t>& bucket = by_first_byte_[first];
  bucket.push_back(patterns_.size() - 1);
  std::stable_sort(bucket.begin(), bucket.end(), [this](size_t a, size_t b) {
    return patterns_[a].text.size() > patterns_[b].text.size();
  });
}

bool AddedVocabulary::Matcher::find(std::string_view text, size_t from, size_t* start, size_t* end,
                                    size_t* token_index) const {
  for (size_t pos = from; pos < text.size(); ++pos) {
    const std::vector<size_t>& bucket = by_first_byte_[static_cast<unsigned char>(text[pos])];
    for (const size_t index : bucket) {
      const std::string& pattern = patterns_[index].text;
      if (text.compare(pos, pattern.size(), pattern) == 0) {
        *start = pos;
        *end = pos + pattern.size();
        *token_index = patterns_[index].token_index;
        return true;
      }
    }
  }
  return false;
}

AddedVocabulary::AddedVocabulary(std::vector<AddedToken> tokens, bool split_special_tokens,
                                 bool nfc)
    : tokens_(std::move(tokens)), split_special_tokens_(split_special_tokens) {
  for (size_t i = 0; i < tokens_.size(); ++i) {
    const AddedToken& token = tokens_[i];
    if (!token.normalized) {
      raw_.add(token.content, i);
    } else if (nfc) {
      std::string buffer;
      normalized_.add(std::string(unicode::nfc(token.content, buffer)), i);
    } else {
      normalized_.add(token.content, i);
    }
  }
}

void AddedVocabulary::split_raw(std::string_view text, std::vector<Segment>& out) const {
  split(text, raw_, out);
}

void AddedVocabulary::split_normalized(std::string_view text, std::vector<Segment>& out) const {
  split(text, normalized_, out);
}

void AddedVocabulary::split(std::string_view text, const Matcher& matcher,
                            std::vector<Segment>& out) const {
  size_t done = 0;  // text before this offset is already in `out`
  size_t search_from = 0;
  size_t match_start = 0;
  size_t match_end = 0;
  size_t index = 0;
  while (!matcher.empty() && matcher.find(text, search_from, &match_start, &match_end, &index)) {
    search_from = match_end;
    const AddedToken& token = tokens_[index];
    if (split_special_tokens_ && token.special) continue;
    if (token.single_word) {
      const bool word_before =
          match_start > 0 && has_flag(last_char(text.substr(0, match_start)), unicode::kWord);
      const bool word_after =
          match_end < text.size() && has_flag(first_char(text.substr(match_end)), unicode::kWord);
      if (word_before || word_after) continue;
    }
    // An rstrip token may have swallowed the start of this match; Hugging Face would emit
    // overlapping splits there, which no real vocabulary triggers, so it is skipped.
    if (match_start < done) continue;
    size_t start = match_start;
    size_t end = match_end;
    if (token.lstrip) start = std::max(trailing_space_start(text, start), done);
    if (token.rstrip) end = leading_space_end(text, end);
    if (done < start) out.push_back({text.substr(done, start - done), -1});
    out.push_back({text.substr(start, end - start), token.id});
    done = end;
  }
  if (done < text.size()) out.push_back({text.substr(done), -1});
}

}  // namespace safrl::tokenizer
