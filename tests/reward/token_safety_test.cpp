// The Stream guard's per-token labels in a scored sample and its output line ("token_safety"):
// against the guard's own judgement of the same conversation (itself tested against the official
// procedure in stream_guard_test), offsets in code points of the response as sent, the judgement
// cache carrying the labels, the read-back, and the refusal of a Gen guard.
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "reward/config.h"
#include "reward/score_line.h"
#include "reward/scorer.h"
#include "reward/stream_guard.h"
#include "util/error.h"

namespace safrl::reward {
namespace {

using nlohmann::json;

const std::string kModel = SAFRL_BINARY_DIR "/testdata/stream-guard/model";
const std::string kGenGuard = SAFRL_BINARY_DIR "/embedded/guard";

Config stream_config(size_t cache_bytes = 1 << 20) {
  return parse_config("guard: {model: " + kModel +
                          ", kind: stream}\nreward: {type: guard_only}\nbatching: "
                          "{judgement_cache_bytes: " +
                          std::to_string(cache_bytes) + "}\n",
                      "", "x.yaml");
}

const json kPrompt = json::array({{{"role", "user"}, {"content", "Say something nice."}}});
// 14 code points (2 CJK, space, 2 CJK, space, 2 emoji, space, "done.") in 28 bytes (4 CJK x 3,
// 2 emoji x 4, 8 ASCII).
const std::string kAnswer = "好的 谢谢 😀🎉 done.";

Sample sample(const std::string& id, const json& body, bool token_safety = true) {
  json value = {{"id", id}, {"messages", kPrompt}};
  value.update(body);
  Sample out = sample_from_json(value);
  out.token_safety = token_safety;
  return out;
}

// The guard's own labels of kPrompt + {assistant, kAnswer}, offsets in bytes of kAnswer.
TokenSafety guard_labels() {
  StreamGuard guard(kModel, {}, {});
  std::vector<chat::Message> conversation = chat::messages_from_json(kPrompt);
  conversation.push_back({"assistant", kAnswer});
  return *guard.judge({conversation})[0].tokens;
}

TEST(TokenSafety, ScoredAnswerCarriesTheGuardsLabelsWithCodePointOffsets) {
  const TokenSafety want = guard_labels();
  Scorer scorer(stream_config());
  const ScoredSample got = scorer.score({sample("a", {{"response", kAnswer}})})[0];
  ASSERT_TRUE(got.token_safety.has_value());
  const TokenSafety& tokens = *got.token_safety;
  ASSERT_EQ(tokens.labels.size(), want.labels.size());
  EXPECT_EQ(tokens.labels, want.labels);
  EXPECT_EQ(tokens.categories, want.categories);
  EXPECT_EQ(tokens.debounced.index, want.debounced.index);
  for (size_t i = 0; i < tokens.probs.size(); ++i) {
    for (size_t k = 0; k < 3; ++k) EXPECT_NEAR(tokens.probs[i][k], want.probs[i][k], 1e-5);
  }
  // The <|im_end|> "\n" after the content sit at its end: [14, 14] in code points where the
  // guard said [28, 28] in bytes.
  ASSERT_EQ(code_points(kAnswer), 14);
  ASSERT_EQ(kAnswer.size(), 28u);
  EXPECT_EQ(want.offsets.back(), (std::pair<int64_t, int64_t>{28, 28}));
  EXPECT_EQ(tokens.offsets.back(), (std::pair<int64_t, int64_t>{14, 14}));
  // Each token covers every character it holds a byte of: begin = the index of the character
  // holding byte `begin` (the characters starting in [0, begin], less one), end = the characters
  // starting before byte `end`.
  bool split_character = false;
  for (size_t i = 0; i < tokens.offsets.size(); ++i) {
    const auto [begin, end] = want.offsets[i];
    const auto b = static_cast<size_t>(begin), e = static_cast<size_t>(end);
    const int64_t first =
        b < kAnswer.size() ? code_points(kAnswer.substr(0, b + 1)) - 1 : code_points(kAnswer);
    EXPECT_EQ(tokens.offsets[i], std::make_pair(first, code_points(kAnswer.substr(0, e))))
        << "position " << i;
    split_character |= first != code_points(kAnswer.substr(0, b));
  }
  // Byte-level BPE splits at least one emoji of kAnswer, so the widening was exercised.
  EXPECT_TRUE(split_character);
  EXPECT_EQ(got.answer_report.decoded_by, DecodedBy::kNone);
}

TEST(TokenSafety, AThinkBlockSplitOffTheResponseShiftsTheOffsetsBySeparatedText) {
  Scorer scorer(stream_config());
  // "<think>想一想</think>\n\n" is 7 + 3 + 8 + 2 = 20 code points before the answer.
  const std::string think = "<think>想一想</think>\n\n";
  ASSERT_EQ(code_points(think), 20);
  const std::vector<ScoredSample> got = scorer.score(
      {sample("plain", {{"answer", kAnswer}}), sample("split", {{"response", think + kAnswer}})});
  ASSERT_TRUE(got[0].token_safety && got[1].token_safety);
  const auto& plain = got[0].token_safety->offsets;
  const auto& split = got[1].token_safety->offsets;
  ASSERT_EQ(plain.size(), split.size());
  for (size_t i = 0; i < plain.size(); ++i) {
    EXPECT_EQ(split[i].first, plain[i].first + 20) << "position " << i;
    EXPECT_EQ(split[i].second, plain[i].second + 20) << "position " << i;
  }
  EXPECT_EQ(got[1].token_safety->labels, got[0].token_safety->labels);
}

TEST(TokenSafety, ARepeatedAnswerGetsTheFirstOnesLabelsWithinACallAndFromTheCache) {
  Scorer scorer(stream_config());
  const std::vector<ScoredSample> first =
      scorer.score({sample("a", {{"response", kAnswer}}), sample("b", {{"response", kAnswer}})});
  // Within the call: one judgement for the two (one guard hit).
  EXPECT_EQ(first[1].cache_hits.guard, 1);
  ASSERT_TRUE(first[0].token_safety && first[1].token_safety);
  EXPECT_EQ(token_safety_json(*first[1].token_safety), token_safety_json(*first[0].token_safety));
  // Across calls: from the cache, labels included.
  const ScoredSample again = scorer.score({sample("c", {{"response", kAnswer}})})[0];
  EXPECT_EQ(again.cache_hits.guard, 1);
  ASSERT_TRUE(again.token_safety);
  EXPECT_EQ(token_safety_json(*again.token_safety), token_safety_json(*first[0].token_safety));
}

TEST(TokenSafety, TheLineCarriesItOnlyWhenAskedAndReadsBack) {
  Scorer scorer(stream_config());
  const std::vector<Sample> samples = {sample("asked", {{"response", kAnswer}}),
                                       sample("not", {{"response", kAnswer}}, false)};
  const std::vector<ScoredSample> scored = scorer.score(samples);
  const json asked = scorer.to_json(samples[0], scored[0]);
  const json plain = scorer.to_json(samples[1], scored[1]);
  EXPECT_FALSE(plain.contains("token_safety"));
  ASSERT_TRUE(asked.contains("token_safety"));
  EXPECT_EQ(asked["token_safety"], token_safety_json(*scored[0].token_safety));
  EXPECT_EQ(asked["token_safety"]["offsets"].back(), json({14, 14}));
  EXPECT_EQ(asked["answer"]["decoding"], "none");
  // The inverse: line_sample + scored_from_line give the line back (what --rescore rewrites).
  EXPECT_EQ(score_line_json(line_sample(asked), scored_from_line(asked), scorer.config().reward),
            asked);
}

TEST(TokenSafety, AGenGuardRefusesTheRequestSayingWhatItNeeds) {
  Scorer scorer(parse_config("guard: {model: " + kGenGuard + "}\nreward: {type: guard_only}\n", "",
                             "x.yaml"));
  try {
    scorer.score({sample("a", {{"response", "Hi."}})});
    FAIL() << "not refused";
  } catch (const util::InputError& e) {
    EXPECT_STREQ(e.what(),
                 "token_safety needs guard.kind: stream (this server's guard is Qwen3Guard-Gen)");
  }
  // Not asked: scored as before.
  EXPECT_EQ(scorer.score({sample("b", {{"response", "Hi."}}, false)}).size(), 1u);
}

}  // namespace
}  // namespace safrl::reward
