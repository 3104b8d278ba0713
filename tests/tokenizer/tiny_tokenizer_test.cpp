// A tiny byte-level tokenizer written by the test: added-token flags with Hugging Face's semantics
// (the Qwen3 file sets none of them), BPE merge order against a naive implementation, and the
// settings that load() must refuse, each refusal naming its key path in the file.
#include <climits>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/test_support.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

namespace safrl::tokenizer {
namespace {

using nlohmann::json;
using testing::contains_all;
using testing::load_error;
using Ids = std::vector<int32_t>;

// Ids 0..255 are the bytes themselves; merges build 256.. in order.
constexpr int32_t kAB = 256, kABC = 257, kSpaceA = 258, kCC = 259, kXYZ = 260, kBA = 261,
                  kCCAB = 262, kAA = 263, kAAB = 264;
constexpr int32_t kSep = 300, kRight = 301, kWord = 302, kEAcute = 303, kS = 304, kOrdo = 305;

json added(int32_t id, const std::string& content, json flags) {
  json token = {{"id", id},        {"content", content},  {"single_word", false}, {"lstrip", false},
                {"rstrip", false}, {"normalized", false}, {"special", false}};
  for (const auto& item : flags.items()) token[item.key()] = item.value();
  return token;
}

json tiny_tokenizer_json() {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_level::token_of_byte(static_cast<uint8_t>(b))] = b;
  const std::string space = byte_level::token_of_byte(' ');
  vocab["ab"] = kAB;
  vocab["abc"] = kABC;
  vocab[space + "a"] = kSpaceA;
  vocab["cc"] = kCC;
  vocab["xyz"] = kXYZ;  // reachable only through ignore_merges
  vocab["ba"] = kBA;
  vocab["ccab"] = kCCAB;
  vocab["aa"] = kAA;
  vocab["aab"] = kAAB;
  return {{"version", "1.0"},
          {"truncation", nullptr},
          {"padding", nullptr},
          {"added_tokens", json::array({added(kSep, "<sep>", {{"lstrip", true}, {"special", true}}),
                                        added(kRight, "[R]", {{"rstrip", true}}),
                                        added(kWord, "word", {{"single_word", true}}),
                                        added(kEAcute, "e\u0301", {{"normalized", true}}),
                                        added(kS, "<s>", {{"special", true}}),
                                        added(kOrdo, "ordo", json::object())})},
          {"normalizer", {{"type", "NFC"}}},
          {"pre_tokenizer",
           {{"type", "Sequence"},
            {"pretokenizers", json::array({{{"type", "Split"},
                                            {"pattern", {{"Regex", std::string(kQwen2Pattern)}}},
                                            {"behavior", "Isolated"},
                                            {"invert", false}},
                                           {{"type", "ByteLevel"},
                                            {"add_prefix_space", false},
                                            {"trim_offsets", false},
                                            {"use_regex", false}}})}}},
          {"post_processor",
           {{"type", "ByteLevel"},
            {"add_prefix_space", false},
            {"trim_offsets", false},
            {"use_regex", false}}},
          {"decoder",
           {{"type", "ByteLevel"},
            {"add_prefix_space", false},
            {"trim_offsets", false},
            {"use_regex", false}}},
          {"model",
           {{"type", "BPE"},
            {"dropout", nullptr},
            {"unk_token", nullptr},
            {"continuing_subword_prefix", ""},
            {"end_of_word_suffix", ""},
            {"fuse_unk", false},
            {"byte_fallback", false},
            {"ignore_merges", false},
            {"vocab", vocab},
            // Ranks: a+a first, so "aab" prefers aa+b over a+ab.
            {"merges", json::array({json::array({"a", "a"}), json::array({"a", "b"}),
                                    json::array({"ab", "c"}), json::array({space, "a"}),
                                    json::array({"c", "c"}), json::array({"b", "a"}),
                                    json::array({"cc", "ab"}), json::array({"aa", "b"})})}}}};
}

class TinyTokenizer : public ::testing::Test {
 protected:
  std::shared_ptr<const Tokenizer> load(const json& tokenizer_json,
                                        const json& config = nullptr) const {
    std::ofstream(dir_.file("tokenizer.json")) << tokenizer_json.dump();
    if (!config.is_null()) std::ofstream(dir_.file("tokenizer_config.json")) << config.dump();
    return Tokenizer::load(dir_.path());
  }
  std::string refusal(const json& tokenizer_json, const json& config = nullptr) const {
    return load_error([&] { load(tokenizer_json, config); });
  }
  std::string refusal_after(const std::function<void(json&)>& change) const {
    json tokenizer_json = tiny_tokenizer_json();
    change(tokenizer_json);
    return refusal(tokenizer_json);
  }
  std::string config_refusal(const json& config) const {
    return refusal(tiny_tokenizer_json(), config);
  }

  testing::TempDir dir_;
};

Ids bytes(const std::string& text) {
  return Ids(text.begin(), text.end());
}

Ids concat(std::initializer_list<Ids> parts) {
  Ids all;
  for (const Ids& part : parts) all.insert(all.end(), part.begin(), part.end());
  return all;
}

TEST_F(TinyTokenizer, PlainTextGoesThroughMerges) {
  const auto tok = load(tiny_tokenizer_json());
  EXPECT_EQ(tok->encode("abc ab a"), (Ids{kABC, ' ', kAB, kSpaceA}));
  EXPECT_EQ(tok->encode("aab"), (Ids{kAAB}));
  EXPECT_EQ(tok->vocab_size(), 306);
}

TEST_F(TinyTokenizer, LstripSwallowsWhiteSpaceOnTheLeft) {
  const auto tok = load(tiny_tokenizer_json());
  EXPECT_EQ(tok->encode("x  \t<sep>y"), (Ids{'x', kSep, 'y'}));
  EXPECT_EQ(tok->encode("<sep>  <sep>"), (Ids{kSep, kSep}));
  EXPECT_EQ(tok->encode("x\u3000<sep>"), (Ids{'x', kSep}));
}

TEST_F(TinyTokenizer, RstripSwallowsWhiteSpaceOnTheRight) {
  const auto tok = load(tiny_tokenizer_json());
  EXPECT_EQ(tok->encode("[R] \n z"), (Ids{kRight, 'z'}));
  EXPECT_EQ(tok->encode(" [R]"), (Ids{' ', kRight}));
}

TEST_F(TinyTokenizer, SingleWordNeedsNonWordNeighbours) {
  const auto tok = load(tiny_tokenizer_json());
  EXPECT_EQ(tok->encode("a word."), concat({{'a', ' '}, {kWord}, {'.'}}));
  EXPECT_EQ(tok->encode("word"), (Ids{kWord}));
  EXPECT_EQ(tok->encode("-word_"), concat({{'-'}, bytes("word_")}));
  EXPECT_EQ(tok->encode("wordy"), bytes("wordy"));
  EXPECT_EQ(tok->encode("\u00FCword"), concat({{0xC3, 0xBC}, bytes("word")}));
  // U+0897 ARABIC PEPET, a mark new in Unicode 16.0, is \w for Hugging Face's Rust regex too.
  EXPECT_EQ(tok->encode("\u0897word"), concat({{0xE0, 0xA2, 0x97}, bytes("word")}));
  // The rejected "word" match is consumed, so the overlapping "ordo" is not found (Hugging Face's
  // leftmost-longest automaton continues after a match, accepted or not).
  EXPECT_EQ(tok->encode("swordo"), bytes("swordo"));
  EXPECT_EQ(tok->encode("s ordo"), concat({{'s', ' '}, {kOrdo}}));
}

TEST_F(TinyTokenizer, NormalizedTokenMatchesTheNormalizedText) {
  const auto tok = load(tiny_tokenizer_json());
  EXPECT_EQ(tok->encode("cafe\u0301!"), (Ids{'c', 'a', 'f', kEAcute, '!'}));
  EXPECT_EQ(tok->encode("caf\u00E9!"), (Ids{'c', 'a', 'f', kEAcute, '!'}));
  // Hugging Face decodes it from its normalized form through the ByteLevel alphabet, where "é" is
  // the single byte 0xE9: invalid UTF-8.
  EXPECT_EQ(tok->decode({kEAcute}, false), "\uFFFD");
}

TEST_F(TinyTokenizer, SpecialTokensAreSkippedOnRequest) {
  const auto tok = load(tiny_tokenizer_json());
  const Ids ids = tok->encode("<s>ab<sep>[R]");
  EXPECT_EQ(ids, (Ids{kS, kAB, kSep, kRight}));
  EXPECT_EQ(tok->decode(ids, false), "<s>ab<sep>[R]");
  EXPECT_EQ(tok->decode(ids, true), "ab[R]");
  EXPECT_TRUE(tok->is_special(kSep));
  EXPECT_FALSE(tok->is_special(kRight));
}

TEST_F(TinyTokenizer, SplitSpecialTokensIgnoresOnlySpecialOnes) {
  const auto tok = load(tiny_tokenizer_json(), {{"split_special_tokens", true}});
  EXPECT_EQ(tok->encode("<s>[R]"), concat({bytes("<s>"), {kRight}}));
}

TEST_F(TinyTokenizer, IgnoreMergesTakesWholeVocabularyWords) {
  json with = tiny_tokenizer_json();
  EXPECT_EQ(load(with)->encode("xyz"), bytes("xyz"));
  with["model"]["ignore_merges"] = true;
  EXPECT_EQ(load(with)->encode("xyz"), (Ids{kXYZ}));
}

TEST_F(TinyTokenizer, LegacyStringMergesAreTheSame) {
  json legacy = tiny_tokenizer_json();
  for (json& merge : legacy["model"]["merges"]) {
    merge = merge[0].get<std::string>() + " " + merge[1].get<std::string>();
  }
  EXPECT_EQ(load(legacy)->encode("aab cc abc"), load(tiny_tokenizer_json())->encode("aab cc abc"));
}

// Merges applied the textbook way: the lowest-ranked adjacent pair, leftmost first, until none.
Ids naive_bpe(const std::string& word,
              const std::map<std::pair<int32_t, int32_t>, std::pair<int, int32_t>>& merges) {
  Ids symbols = bytes(word);
  while (true) {
    int best_rank = INT32_MAX;
    size_t best = 0;
    for (size_t i = 0; i + 1 < symbols.size(); ++i) {
      const auto it = merges.find({symbols[i], symbols[i + 1]});
      if (it != merges.end() && it->second.first < best_rank) {
        best_rank = it->second.first;
        best = i;
      }
    }
    if (best_rank == INT32_MAX) return symbols;
    symbols[best] = merges.at({symbols[best], symbols[best + 1]}).second;
    symbols.erase(symbols.begin() + static_cast<std::ptrdiff_t>(best) + 1);
  }
}

TEST_F(TinyTokenizer, MergeOrderMatchesTheTextbookOnShortAndLongWords) {
  const auto tok = load(tiny_tokenizer_json());
  const std::map<std::pair<int32_t, int32_t>, std::pair<int, int32_t>> merges = {
      {{'a', 'a'}, {0, kAA}}, {{'a', 'b'}, {1, kAB}}, {{kAB, 'c'}, {2, kABC}},
      {{'c', 'c'}, {4, kCC}}, {{'b', 'a'}, {5, kBA}}, {{kCC, kAB}, {6, kCCAB}},
      {{kAA, 'b'}, {7, kAAB}}};
  std::mt19937 rng(99);
  std::uniform_int_distribution<int> letter(0, 2);
  for (int length : {1, 2, 3, 5, 8, 20, 47, 48, 49, 64, 200, 1000}) {
    for (int trial = 0; trial < 30; ++trial) {
      std::string word;
      for (int i = 0; i < length; ++i) word.push_back(static_cast<char>('a' + letter(rng)));
      ASSERT_EQ(tok->encode(word), naive_bpe(word, merges)) << word;
    }
  }
}

TEST_F(TinyTokenizer, RefusesOtherNormalizers) {
  EXPECT_TRUE(contains_all(refusal_after([](json& t) {
                             t["normalizer"] = {{"type", "NFKC"}};
                           }),
                           {"tokenizer.json", "normalizer", "NFKC", "supported: NFC or null"}));
  EXPECT_TRUE(
      contains_all(refusal_after([](json& t) {
                     t["normalizer"] = {{"type", "Sequence"}, {"normalizers", json::array()}};
                   }),
                   {"normalizer", "Sequence"}));
}

TEST_F(TinyTokenizer, RefusesOtherPreTokenizers) {
  EXPECT_TRUE(contains_all(refusal_after([](json& t) {
                             t["pre_tokenizer"] = {{"type", "ByteLevel"},
                                                   {"add_prefix_space", false},
                                                   {"use_regex", true}};
                           }),
                           {"pre_tokenizer", "ByteLevel", "Qwen2 pattern"}));
  EXPECT_TRUE(contains_all(
      refusal_after([](json& t) {
        t["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] =
            R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
      }),
      {"Split regex other than Qwen2's", "\\\\p{N}{1,3}"}));
  EXPECT_TRUE(
      contains_all(refusal_after([](json& t) {
                     t["pre_tokenizer"]["pretokenizers"][0]["behavior"] = "Removed";
                   }),
                   {"pre_tokenizer.pretokenizers[0].behavior: a string (\"Removed\") found"}));
  EXPECT_TRUE(
      contains_all(refusal_after([](json& t) {
                     t["pre_tokenizer"]["pretokenizers"][1]["add_prefix_space"] = true;
                   }),
                   {"pre_tokenizer.pretokenizers[1].add_prefix_space: true is not supported"}));
  EXPECT_TRUE(
      contains_all(refusal_after([](json& t) {
                     t["pre_tokenizer"]["pretokenizers"][0]["pattern"] = {{"String", " "}};
                   }),
                   {"pre_tokenizer.pretokenizers[0].pattern.Regex: missing; supported: only"}));
}

TEST_F(TinyTokenizer, RefusesOtherModelsAndOptions) {
  EXPECT_TRUE(contains_all(refusal_after([](json& t) { t["model"]["type"] = "WordPiece"; }),
                           {"model", "WordPiece", "supported: BPE"}));
  EXPECT_TRUE(contains_all(refusal_after([](json& t) { t["model"]["byte_fallback"] = true; }),
                           {"model.byte_fallback: true is not supported (supported: false)"}));
  EXPECT_TRUE(contains_all(refusal_after([](json& t) { t["model"]["dropout"] = 0.1; }),
                           {"model.dropout: a number (0.1) is not supported"}));
  EXPECT_TRUE(
      contains_all(refusal_after([](json& t) { t["model"]["end_of_word_suffix"] = "</w>"; }),
                   {"model.end_of_word_suffix"}));
  EXPECT_TRUE(contains_all(refusal_after([](json& t) { t["model"]["new_option"] = 1; }),
                           {"model.new_option: unknown key; allowed here: type, dropout"}));
  EXPECT_TRUE(contains_all(refusal_after([](json& t) {
                             t["model"]["merges"].push_back(json::array({"q", "zz"}));
                           }),
                           {"merge #8", "\"zz\""}));
  EXPECT_TRUE(contains_all(refusal_after([](json& t) { t["model"]["merges"][0] = "a b c"; }),
                           {"model.merges[0]"}));
  EXPECT_TRUE(contains_all(refusal_after([](json& t) { t["model"]["vocab"].erase("!"); }),
                           {"no token for byte 33"}));
}

TEST_F(TinyTokenizer, RefusesOtherDecodersPostProcessorsAndTruncation) {
  EXPECT_TRUE(contains_all(refusal_after([](json& t) {
                             t["decoder"] = {{"type", "Metaspace"}};
                           }),
                           {"decoder", "Metaspace", "supported: ByteLevel"}));
  EXPECT_TRUE(contains_all(refusal_after([](json& t) {
                             t["post_processor"] = {{"type", "TemplateProcessing"}};
                           }),
                           {"post_processor", "TemplateProcessing"}));
  EXPECT_TRUE(contains_all(refusal_after([](json& t) {
                             t["truncation"] = {{"max_length", 8}};
                           }),
                           {"truncation", "never truncates"}));
  EXPECT_TRUE(contains_all(refusal_after([](json& t) { t["added_tokens"][1]["id"] = 'a'; }),
                           {"added_tokens[1]", "\"[R]\"", "model.vocab gives it to \"a\""}));
}

TEST_F(TinyTokenizer, RefusesTokenizerConfigSettingsThatChangeIds) {
  EXPECT_TRUE(contains_all(config_refusal({{"add_bos_token", true}}),
                           {"tokenizer_config.json: add_bos_token: true is not supported"}));
  EXPECT_TRUE(contains_all(config_refusal({{"clean_up_tokenization_spaces", true}}),
                           {"clean_up_tokenization_spaces: true is not supported"}));
  EXPECT_TRUE(contains_all(config_refusal({{"do_lower_case", true}}),
                           {"tokenizer_config.json: do_lower_case: unknown key; allowed here: "}));
  EXPECT_TRUE(contains_all(config_refusal({{"tokenizer_class", "LlamaTokenizer"}}),
                           {"tokenizer_class: a string (\"LlamaTokenizer\") is not supported"}));
  EXPECT_TRUE(contains_all(config_refusal({{"eos_token", "</s>"}}), {"eos_token: names \"</s>\""}));
  EXPECT_TRUE(contains_all(config_refusal({{"additional_special_tokens", {"[R]"}}}),
                           {"additional_special_tokens[0]", "not a special added token"}));
  EXPECT_TRUE(contains_all(
      config_refusal(
          {{"added_tokens_decoder", {{"300", {{"content", "<sep>"}, {"special", false}}}}}}),
      {"added_tokens_decoder[\"300\"]", "disagrees"}));
  EXPECT_NO_THROW(load(tiny_tokenizer_json(), {{"eos_token", "<s>"},
                                               {"additional_special_tokens", {"<sep>"}},
                                               {"errors", "replace"},
                                               {"tokenizer_class", "Qwen2Tokenizer"}}));
}

TEST_F(TinyTokenizer, AWrongTypeIsNamedByItsKeyPathInTheFile) {
  // "Ġa" (a byte-level space, then a) is not a plain key, so the path quotes it.
  EXPECT_EQ(refusal_after([](json& t) { t["model"]["vocab"]["Ġa"] = true; }),
            "tokenizer.json: model.vocab[\"Ġa\"]: must be an integer from 0 to 2147483647, "
            "got a boolean (true) (in " +
                dir_.file("tokenizer.json") + ")");
  EXPECT_EQ(refusal_after([](json& t) { t["added_tokens"][2]["special"] = "yes"; }),
            "tokenizer.json: added_tokens[2].special: must be true or false, got a string "
            "(\"yes\") (in " +
                dir_.file("tokenizer.json") + ")");
  // <sep> is a special added token; the second entry's content is not a token string.
  EXPECT_EQ(
      config_refusal({{"additional_special_tokens", json::array({"<sep>", {{"content", 5}}})}}),
      "tokenizer_config.json: additional_special_tokens[1]: must be a token string or null, "
      "got an object (in " +
          dir_.file("tokenizer_config.json") + ")");
}

TEST_F(TinyTokenizer, MissingOrBrokenFilesAreLoadErrors) {
  EXPECT_TRUE(contains_all(load_error([&] { Tokenizer::load(dir_.file("nowhere")); }),
                           {"nowhere/tokenizer.json"}));
  std::ofstream(dir_.file("tokenizer.json")) << "{\"version\": ";
  EXPECT_TRUE(contains_all(load_error([&] { Tokenizer::load(dir_.path()); }),
                           {"tokenizer.json is not valid JSON"}));
}

}  // namespace
}  // namespace safrl::tokenizer
