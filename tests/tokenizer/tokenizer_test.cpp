// The Qwen3 tokenizer against committed reference ids (tests/data/tokenizer, made with
// scripts/reference/tokenize_reference.py), the Qwen3Guard test vectors of docs/qwen3guard.md,
// decoding, invalid UTF-8 and a seeded round trip over random Unicode.
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <utf8proc.h>

#include "support/qwen3_tokenizer.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"
#include "tokenizer/unicode_tables.h"
#include "util/error.h"
#include "util/utf8.h"

namespace safrl::tokenizer {
namespace {

using testing::qwen3;
using Ids = std::vector<int32_t>;

std::string nfc(const std::string& text) {
  utf8proc_uint8_t* normalized = nullptr;
  const utf8proc_ssize_t length =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                   static_cast<utf8proc_ssize_t>(text.size()), &normalized,
                   static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  if (length < 0) throw std::runtime_error("utf8proc_map failed");
  std::string result(reinterpret_cast<const char*>(normalized), static_cast<size_t>(length));
  std::free(normalized);
  return result;
}

// "first difference at i: got x, want y" for a readable failure on long id lists.
std::string first_difference(const Ids& got, const Ids& want) {
  size_t i = 0;
  while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
  return util::cat("lengths ", got.size(), " vs ", want.size(), ", first difference at ", i,
                   ": got ", i < got.size() ? std::to_string(got[i]) : "end", ", want ",
                   i < want.size() ? std::to_string(want[i]) : "end");
}

TEST(Qwen3Reference, EveryCorpusEntryHasTheReferenceIds) {
  const auto cases = testing::reference_cases();
  ASSERT_EQ(cases.size(), 410u);
  size_t equal = 0;
  for (const auto& reference : cases) {
    const Ids ids = qwen3().encode(reference.text);
    if (ids == reference.ids) {
      ++equal;
    } else {
      ADD_FAILURE() << reference.name << ": " << first_difference(ids, reference.ids);
    }
  }
  EXPECT_EQ(equal, cases.size());
}

TEST(Qwen3Reference, DecodeGivesBackTheNormalizedText) {
  for (const auto& reference : testing::reference_cases()) {
    EXPECT_EQ(qwen3().decode(reference.ids, false), nfc(reference.text)) << reference.name;
  }
}

// docs/qwen3guard.md sections 1 and 2.
TEST(Qwen3Guard, RenderedPromptsHaveTheDocumentedTokenCounts) {
  size_t checked = 0;
  for (const auto& reference : testing::reference_cases()) {
    if (reference.name == "guard_prompt_bomb") {
      EXPECT_EQ(qwen3().encode(reference.text).size(), 303u);
      ++checked;
    }
    if (reference.name == "guard_response_bomb_refusal") {
      EXPECT_EQ(qwen3().encode(reference.text).size(), 414u);
      ++checked;
    }
  }
  EXPECT_EQ(checked, 2u);
}

TEST(Qwen3Guard, VerdictLinesTokenizeAsDocumented) {
  EXPECT_EQ(qwen3().encode("Safety: Safe"), (Ids{73037, 25, 22291}));
  EXPECT_EQ(qwen3().encode("Safety: Unsafe"), (Ids{73037, 25, 73067}));
  EXPECT_EQ(qwen3().encode("Safety: Controversial"), (Ids{73037, 25, 2093, 12563, 530}));
  EXPECT_EQ(qwen3().encode("Safety: Safe\nCategories: None\nRefusal: Yes"),
            (Ids{73037, 25, 22291, 198, 20970, 25, 2240, 198, 3945, 35414, 25, 7414}));
  EXPECT_EQ(qwen3().encode("Refusal: No"), (Ids{3945, 35414, 25, 2308}));
}

TEST(Qwen3Guard, SpecialTokenIds) {
  EXPECT_EQ(qwen3().token_to_id("<|endoftext|>"), 151643);
  EXPECT_EQ(qwen3().token_to_id("<|im_start|>"), 151644);
  EXPECT_EQ(qwen3().token_to_id("<|im_end|>"), 151645);
  EXPECT_EQ(qwen3().token_to_id("<think>"), 151667);
  EXPECT_EQ(qwen3().token_to_id("</think>"), 151668);
  EXPECT_EQ(qwen3().encode("<|im_start|>assistant\n<think>\n\n</think>\n\n"),
            (Ids{151644, 77091, 198, 151667, 271, 151668, 271}));
}

TEST(Qwen3Vocabulary, Lookups) {
  EXPECT_EQ(qwen3().vocab_size(), 151669);
  EXPECT_EQ(qwen3().token_to_id("Ġworld"), 1879);
  EXPECT_EQ(qwen3().token_to_id("!"), 0);
  EXPECT_EQ(qwen3().token_to_id("not a token"), std::nullopt);
  EXPECT_EQ(qwen3().id_to_token(1879), "Ġworld");
  EXPECT_EQ(qwen3().id_to_token(151645), "<|im_end|>");
  EXPECT_TRUE(qwen3().is_special(151645));
  EXPECT_TRUE(qwen3().is_special(151643));
  EXPECT_FALSE(qwen3().is_special(151667));  // <think> is an added token, not a special one
  EXPECT_FALSE(qwen3().is_special(1879));
  EXPECT_FALSE(qwen3().is_special(-1));
  EXPECT_FALSE(qwen3().is_special(151669));
}

TEST(Qwen3Decode, KeepsOrSkipsSpecialTokens) {
  const std::string text = "<|im_start|>user\nHi<|im_end|>\n<think>\nx\n</think>\n<|endoftext|>";
  const Ids ids = qwen3().encode(text);
  EXPECT_EQ(qwen3().decode(ids, false), text);
  EXPECT_EQ(qwen3().decode(ids, true), "user\nHi\n<think>\nx\n</think>\n");
}

TEST(Qwen3Decode, IdOutsideTheVocabularyIsAnInputError) {
  EXPECT_THROW(qwen3().decode({9707, 151669}, false), util::InputError);
  EXPECT_THROW(qwen3().decode({-1}, true), util::InputError);
  EXPECT_THROW(qwen3().id_to_token(151936), util::InputError);
  try {
    qwen3().decode({200000}, false);
  } catch (const util::InputError& e) {
    EXPECT_STREQ(e.what(), "token id 200000 is not a token of this vocabulary (ids are 0..151668)");
  }
}

Ids byte_ids(std::initializer_list<uint8_t> bytes) {
  Ids ids;
  for (const uint8_t byte : bytes)
    ids.push_back(*qwen3().token_to_id(byte_level::token_of_byte(byte)));
  return ids;
}

TEST(Qwen3Decode, InvalidUtf8BecomesReplacementCharacters) {
  EXPECT_EQ(qwen3().decode(byte_ids({0xE4, 0xBD, 0xA0}), false), "你");
  // One U+FFFD per maximal invalid subpart, as Rust's from_utf8_lossy.
  EXPECT_EQ(qwen3().decode(byte_ids({0xE4, 0xBD, 'a'}), false), "\uFFFDa");
  EXPECT_EQ(qwen3().decode(byte_ids({0xED, 0xA0, 0x80}), false), "\uFFFD\uFFFD\uFFFD");
  EXPECT_EQ(qwen3().decode(byte_ids({0xF0, 0x9F, 0x98}), false), "\uFFFD");
  EXPECT_EQ(qwen3().decode(byte_ids({0xFF, 'x', 0x80}), false), "\uFFFDx\uFFFD");
}

TEST(Qwen3Encode, InvalidUtf8IsRepairedFirst) {
  EXPECT_EQ(qwen3().encode("a\xFF"
                           "b"),
            qwen3().encode("a\uFFFDb"));
  EXPECT_EQ(qwen3().encode("\xE4\xBD"), qwen3().encode("\uFFFD"));
  EXPECT_EQ(qwen3().encode("\xED\xA0\x80!"), qwen3().encode("\uFFFD\uFFFD\uFFFD!"));
  EXPECT_EQ(qwen3().encode("<|im_end|>\xC0\xAF"), qwen3().encode("<|im_end|>\uFFFD\uFFFD"));
  EXPECT_EQ(qwen3().decode(qwen3().encode("ok\xF5\x80"), false), "ok\uFFFD\uFFFD");
  EXPECT_EQ(qwen3().encode(std::string("a\0b", 3)), (Ids{64, 188, 65}));
}

TEST(Qwen3Encode, EmptyTextHasNoIds) {
  EXPECT_TRUE(qwen3().encode("").empty());
}

// Hugging Face's ids (tokenizers 0.23.2) for code points new in Unicode 16.0: letters and digits
// for its regex, while its NFC, of Unicode 9.0, leaves U+105D2 U+0307 uncomposed (Unicode 16.0
// composes them to U+105C9 TODHRI LETTER EI).
TEST(Qwen3Encode, FollowsHuggingFaceOnUnicode16) {
  EXPECT_EQ(qwen3().encode("x\U00013968's"), (Ids{87, 124373, 98, 101, 594}));
  EXPECT_EQ(qwen3().encode("\U00016D70\U00016D71"), (Ids{125427, 113, 108, 125427, 113, 109}));
  EXPECT_EQ(qwen3().encode("\U000105D2\u0307"), (Ids{123934, 245, 240, 136, 229}));
}

// A random string of scalar values drawn mostly from the ranges that stress normalization,
// pre-tokenization and byte-level BPE.
std::string random_unicode(std::mt19937& rng) {
  struct Range {
    char32_t first, last;
  };
  static const std::vector<Range> kRanges = {
      {0x20, 0x7E},      {0x09, 0x0D},       {0x20, 0x20},       {0xA0, 0x17F},    {0x0300, 0x036F},
      {0x0370, 0x03FF},  {0x0400, 0x04FF},   {0x0600, 0x06FF},   {0x0900, 0x097F}, {0x1100, 0x11FF},
      {0x2000, 0x206F},  {0x3040, 0x30FF},   {0x4E00, 0x9FFF},   {0xAC00, 0xD7A3}, {0xFE00, 0xFE0F},
      {0xFEFF, 0xFEFF},  {0x1F300, 0x1F6FF}, {0x1F3FB, 0x1F3FF}, {0x200D, 0x200D}, {0x0085, 0x0085},
      {0x0000, 0x10FFFF}};
  std::uniform_int_distribution<size_t> which(0, kRanges.size() - 1);
  std::uniform_int_distribution<int> length(0, 40);
  std::string text;
  for (int n = length(rng); n > 0; --n) {
    const Range range = kRanges[which(rng)];
    char32_t cp = std::uniform_int_distribution<char32_t>(range.first, range.last)(rng);
    if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;
    util::utf8::append(text, cp);
  }
  return text;
}

TEST(Qwen3RoundTrip, DecodeOfEncodeIsNfcOnRandomUnicode) {
  std::mt19937 rng(12345);
  for (int i = 0; i < 4000; ++i) {
    const std::string text = random_unicode(rng);
    const Ids ids = qwen3().encode(text);
    ASSERT_EQ(qwen3().decode(ids, false), nfc(text)) << ::testing::PrintToString(text);
    ASSERT_EQ(qwen3().encode(qwen3().decode(ids, false)), ids) << ::testing::PrintToString(text);
  }
}

bool unassigned_in_unicode9(char32_t cp) {
  for (size_t i = 0; i < unicode::kNfcUnassignedInUnicode9Count; ++i) {
    const unicode::CodePointRange& range = unicode::kNfcUnassignedInUnicode9[i];
    if (cp >= range.first && cp <= range.last) return true;
  }
  return false;
}

// The quick check that skips full normalization must never skip a change: every BMP code point
// in contexts that compose, reorder or split. Code points that Hugging Face's NFC (Unicode 9.0)
// takes for unassigned are normalized otherwise than utf8proc does (unicode_test.cpp).
TEST(Nfc, QuickCheckAgreesWithUtf8procOnEveryBmpCodePoint) {
  const std::vector<std::string> before = {"", "a", "\u1100", "\u0915", "\u304B", "\uAC00"};
  const std::vector<std::string> after = {"",       "\u0301", "\u0338", "\u093C",
                                          "\u1161", "\u11A8", "\u3099", "\u0323"};
  std::string buffer;
  for (char32_t cp = 0; cp < 0x10000; ++cp) {
    if ((cp >= 0xD800 && cp <= 0xDFFF) || unassigned_in_unicode9(cp)) continue;
    std::string middle;
    util::utf8::append(middle, cp);
    for (const std::string& prefix : before) {
      for (const std::string& suffix : after) {
        const std::string text = prefix + middle + suffix;
        ASSERT_EQ(std::string(unicode::nfc(text, buffer)), nfc(text)) << "U+" << std::hex << cp;
      }
    }
  }
}

TEST(Qwen3Threads, SharedTokenizerEncodesConcurrently) {
  const auto cases = testing::reference_cases();
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 5; ++round) {
        for (const auto& reference : cases) {
          if (qwen3().encode(reference.text) != reference.ids) ++mismatches[t];
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(mismatches, std::vector<int>(4, 0));
}

}  // namespace
}  // namespace safrl::tokenizer
