// The hand-written Qwen2 splitter against the regex itself, compiled by PCRE2 (UTF + UCP), on the
// corpus and on random text, plus the places where Hugging Face's Oniguruma and a JavaScript
// regex engine differ (the JavaScript port of tokenizers was the reference before issue 13).
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "support/qwen3_tokenizer.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/unicode.h"
#include "util/utf8.h"

namespace safrl::tokenizer {
namespace {

std::vector<std::string> split(std::string_view text) {
  std::vector<SplitChar> chars;
  std::vector<std::string_view> pieces;
  split_qwen2(text, chars, pieces);
  return {pieces.begin(), pieces.end()};
}

class Pcre2Regex {
 public:
  explicit Pcre2Regex(std::string_view pattern) {
    int error = 0;
    PCRE2_SIZE offset = 0;
    code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                          PCRE2_UTF | PCRE2_UCP, &error, &offset, nullptr);
    if (code_ == nullptr) throw std::runtime_error("PCRE2 rejects the pattern");
    match_ = pcre2_match_data_create_from_pattern(code_, nullptr);
  }
  ~Pcre2Regex() {
    pcre2_match_data_free(match_);
    pcre2_code_free(code_);
  }
  Pcre2Regex(const Pcre2Regex&) = delete;
  Pcre2Regex& operator=(const Pcre2Regex&) = delete;

  // Every match in order, each search starting where the previous match ended (find_iter).
  std::vector<std::string> find_all(std::string_view text) const {
    std::vector<std::string> matches;
    size_t start = 0;
    while (start < text.size()) {
      const int rc = pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(),
                                 start, 0, match_, nullptr);
      if (rc < 0) break;
      const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match_);
      matches.emplace_back(text.substr(ovector[0], ovector[1] - ovector[0]));
      if (ovector[1] == ovector[0]) throw std::runtime_error("empty match");
      start = ovector[1];
    }
    return matches;
  }

  bool matches_whole(std::string_view text) const {
    const int rc = pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), 0,
                               PCRE2_ANCHORED | PCRE2_ENDANCHORED, match_, nullptr);
    return rc >= 0;
  }

 private:
  pcre2_code* code_ = nullptr;
  pcre2_match_data* match_ = nullptr;
};

const Pcre2Regex& qwen2_regex() {
  static const Pcre2Regex regex(kQwen2Pattern);
  return regex;
}

// PCRE2 10.42 (Unicode 14) and safrl's classes (Unicode 16) disagree on code points assigned in
// between, and PCRE2's \s adds U+180E MONGOLIAN VOWEL SEPARATOR, which Oniguruma's does not. Random
// text avoids such code points: the splitting logic is under test here, not the Unicode tables.
bool classes_agree(char32_t cp) {
  static const Pcre2Regex letter(R"(\p{L})");
  static const Pcre2Regex number(R"(\p{N})");
  static const Pcre2Regex space(R"(\s)");
  std::string text;
  util::utf8::append(text, cp);
  const uint8_t flags = unicode::flags(cp);
  return letter.matches_whole(text) == ((flags & unicode::kLetter) != 0) &&
         number.matches_whole(text) == ((flags & unicode::kNumber) != 0) &&
         space.matches_whole(text) == ((flags & unicode::kWhiteSpace) != 0);
}

// Random text rich in what the regex distinguishes: letters, numbers, apostrophes before
// contraction letters, CR / LF and other white space, punctuation, symbols, marks and any scalar.
std::string random_text(std::mt19937& rng) {
  static const std::vector<char32_t> kPicks = {
      'a',    'Z',    's',    'S',    't',    'r',    'e',    'v',    'm',    'l',    'd',
      'L',    '\'',   '\'',   ' ',    ' ',    ' ',    '\t',   '\n',   '\r',   '0',    '7',
      '.',    ',',    '!',    '-',    '_',    '(',    '"',    0x00A0, 0x0085, 0x2028, 0x3000,
      0x000B, 0x017F, 0x00E9, 0x0301, 0x4E2D, 0x0661, 0x00B2, 0x2164, 0xFEFF, 0x200D, 0x1F600,
      0x0915, 0x093C, 0xAC00, 0x3099, 0x0000, 0x2014, 0x00BF, 0x1D7D8};
  std::uniform_int_distribution<int> length(0, 24);
  std::uniform_int_distribution<size_t> pick(0, kPicks.size() + 3);
  std::uniform_int_distribution<char32_t> any(0, 0x10FFFF);
  std::string text;
  for (int n = length(rng); n > 0; --n) {
    const size_t choice = pick(rng);
    char32_t cp = choice < kPicks.size() ? kPicks[choice] : any(rng);
    while ((cp >= 0xD800 && cp <= 0xDFFF) || !classes_agree(cp)) cp = any(rng);
    util::utf8::append(text, cp);
  }
  return text;
}

bool all_classes_agree(std::string_view text) {
  for (size_t pos = 0; pos < text.size();) {
    if (!classes_agree(util::utf8::decode(text, pos))) return false;
  }
  return true;
}

TEST(Qwen2Splitter, MatchesPcre2OnTheCorpus) {
  size_t checked = 0;
  for (const auto& reference : testing::reference_cases()) {
    std::string normalized_buffer;
    const std::string_view text = unicode::nfc(reference.text, normalized_buffer);
    if (!all_classes_agree(text)) continue;
    EXPECT_EQ(split(text), qwen2_regex().find_all(text)) << reference.name;
    ++checked;
  }
  EXPECT_GE(checked, 400u);
}

TEST(Qwen2Splitter, MatchesPcre2OnRandomText) {
  std::mt19937 rng(20240607);
  for (int i = 0; i < 5000; ++i) {
    const std::string text = random_text(rng);
    ASSERT_EQ(split(text), qwen2_regex().find_all(text))
        << "text: " << ::testing::PrintToString(text);
  }
}

TEST(Qwen2Splitter, PiecesConcatenateToTheText) {
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    const std::string text = random_text(rng);
    std::string joined;
    for (const std::string& piece : split(text)) {
      EXPECT_FALSE(piece.empty());
      joined += piece;
    }
    ASSERT_EQ(joined, text);
  }
}

TEST(Qwen2Splitter, ExamplesOfEachBranch) {
  using Pieces = std::vector<std::string>;
  EXPECT_EQ(split("don't I'M they'LL"), (Pieces{"don", "'t", " I", "'M", " they", "'LL"}));
  EXPECT_EQ(split("abc123"), (Pieces{"abc", "1", "2", "3"}));
  EXPECT_EQ(split("x  y"), (Pieces{"x", " ", " y"}));
  EXPECT_EQ(split("a \n\n b"), (Pieces{"a", " \n\n", " b"}));
  EXPECT_EQ(split("end  "), (Pieces{"end", "  "}));
  EXPECT_EQ(split("x !!\n\ny"), (Pieces{"x", " !!\n\n", "y"}));
  EXPECT_EQ(split("\tfoo"), (Pieces{"\tfoo"}));
  EXPECT_EQ(split("a\r\nb"), (Pieces{"a", "\r\n", "b"}));
}

// The pieces Hugging Face's Oniguruma produces where a JavaScript regex differs (U+0085, U+FEFF;
// docs/tokenizer.md).
TEST(Qwen2Splitter, FollowsOnigurumaWhereJavaScriptDiffers) {
  using Pieces = std::vector<std::string>;
  // (?i:'s) also matches U+017F LATIN SMALL LETTER LONG S, which case-folds to s.
  EXPECT_EQ(split("x'\u017Fy"), (Pieces{"x", "'\u017F", "y"}));
  // U+0085 NEXT LINE is \s for Oniguruma.
  EXPECT_EQ(split("a \u0085x"), (Pieces{"a", " ", "\u0085x"}));
  // U+FEFF is not \s for Oniguruma (it is for JavaScript).
  EXPECT_EQ(split("say \uFEFFhi"), (Pieces{"say", " \uFEFF", "hi"}));
}

// Oniguruma's tables in Hugging Face tokenizers are Unicode 16.0: U+13968 EGYPTIAN HIEROGLYPH-13968
// is a letter, U+16D70 KIRAT RAI DIGIT ZERO and U+1CCF0 OUTLINED DIGIT ZERO are digits. To
// utf8proc 2.8 (Unicode 15.0) all three are unassigned.
TEST(Qwen2Splitter, ClassifiesWithUnicode16) {
  using Pieces = std::vector<std::string>;
  EXPECT_EQ(split("x\U00013968's \U00016D70\U00016D71 1\U0001CCF0"),
            (Pieces{"x\U00013968", "'s", " ", "\U00016D70", "\U00016D71", " ", "1", "\U0001CCF0"}));
}

}  // namespace
}  // namespace safrl::tokenizer
