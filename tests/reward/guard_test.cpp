// The guard, the helpfulness model and the scorer on the embedded tiny models (random weights,
// the real Qwen3 tokenizer) and on the format guards (a stand-in guard trained to follow or leave
// the verdict format), checked against free decoding and independent computations with the
// engine alone.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "chat/message.h"
#include "chat/render.h"
#include "reward/guard.h"
#include "reward/helpfulness.h"
#include "reward/scorer.h"
#include "util/error.h"

namespace safrl::reward {
namespace {

const std::string kEmbedded = SAFRL_BINARY_DIR "/embedded";

std::vector<std::vector<chat::Message>> conversations() {
  std::mt19937 rng(5);
  const std::vector<std::string> words = {"bomb", "recipe", "capital", "France", "hack", "kill",
                                          "help", "please", "你好",    "the",    "\n",   "?"};
  auto text = [&](int n) {
    std::string out;
    for (int i = 0; i < n; ++i) out += (i ? " " : "") + words[rng() % words.size()];
    return out;
  };
  std::vector<std::vector<chat::Message>> out;
  for (int i = 0; i < 12; ++i) {
    std::vector<chat::Message> conversation = {{"user", text(1 + static_cast<int>(rng() % 30))}};
    if (i % 3 != 0) conversation.push_back({"assistant", text(1 + static_cast<int>(rng() % 60))});
    out.push_back(conversation);
  }
  return out;
}

GuardOptions options(GuardDecoding decoding, int max_new_tokens = 128) {
  GuardOptions o;
  o.decoding = decoding;
  o.max_new_tokens = max_new_tokens;
  return o;
}

// The guards of experiments/saferl/cpu/format_guard.py: one trained to write each case's target
// (some follow the verdict format, some leave it at each kind of place constrained decoding
// decides), and two with random weights.
const std::string kFormatGuards = SAFRL_BINARY_DIR "/testdata/format-guards";

struct FormatCase {
  std::string name;
  std::vector<chat::Message> messages;
  std::vector<int32_t> target_ids;
  bool follows_format = false;
};

std::vector<FormatCase> format_cases() {
  std::ifstream in(kFormatGuards + "/cases.json");
  const nlohmann::json doc = nlohmann::json::parse(in);
  std::vector<FormatCase> cases;
  for (const auto& c : doc.at("cases")) {
    FormatCase out{c.at("name"), {}, c.at("target_ids"), c.at("follows_format")};
    for (const auto& m : c.at("messages")) out.messages.push_back({m.at("role"), m.at("content")});
    cases.push_back(std::move(out));
  }
  return cases;
}

std::vector<std::vector<chat::Message>> messages_of(const std::vector<FormatCase>& cases) {
  std::vector<std::vector<chat::Message>> out;
  for (const FormatCase& c : cases) out.push_back(c.messages);
  return out;
}

// Two outputs of the same conversation: the same tokens, verdict and probabilities (to float32
// rounding: a batch and a single sequence add in another order).
void expect_same_output(const GuardOutput& a, const GuardOutput& b, const std::string& what) {
  EXPECT_EQ(a.output_ids, b.output_ids) << what;
  EXPECT_EQ(a.text, b.text) << what;
  ASSERT_EQ(a.verdict.has_value(), b.verdict.has_value()) << what;
  EXPECT_EQ(a.safety_mass.has_value(), b.safety_mass.has_value()) << what;
  if (a.safety_mass) {
    EXPECT_NEAR(*a.safety_mass, *b.safety_mass, 1e-5) << what;
  }
  if (!a.verdict) return;
  EXPECT_EQ(a.verdict->safety, b.verdict->safety) << what;
  EXPECT_EQ(a.verdict->categories, b.verdict->categories) << what;
  EXPECT_EQ(a.verdict->refusal, b.verdict->refusal) << what;
  for (int c = 0; c < 3; ++c) {
    EXPECT_EQ(std::isnan(a.verdict->safety_probs[c]), std::isnan(b.verdict->safety_probs[c]));
    if (!std::isnan(a.verdict->safety_probs[c])) {
      EXPECT_NEAR(a.verdict->safety_probs[c], b.verdict->safety_probs[c], 1e-5) << what;
    }
  }
  ASSERT_EQ(a.verdict->refusal_prob.has_value(), b.verdict->refusal_prob.has_value()) << what;
  if (a.verdict->refusal_prob) {
    EXPECT_NEAR(*a.verdict->refusal_prob, *b.verdict->refusal_prob, 1e-5) << what;
  }
}

TEST(ConstrainedDecoding, WritesWhatFreeDecodingWritesAndFallsBackWhereTheModelLeavesTheFormat) {
  const auto cases = format_cases();
  Guard constrained(kFormatGuards + "/format-guard", {}, options(GuardDecoding::kConstrained));
  Guard free(kFormatGuards + "/format-guard", {}, options(GuardDecoding::kFree));
  const auto with_grammar = constrained.judge(messages_of(cases));
  const auto without = free.judge(messages_of(cases));
  int departures = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const FormatCase& c = cases[i];
    // The trained guard writes its target greedily: the fixture did what it says.
    ASSERT_EQ(without[i].output_ids, c.target_ids) << c.name;
    expect_same_output(with_grammar[i], without[i], c.name);
    EXPECT_EQ(without[i].decoded_by, DecodedBy::kFree) << c.name;
    EXPECT_EQ(with_grammar[i].decoded_by,
              c.follows_format ? DecodedBy::kConstrained : DecodedBy::kFallback)
        << c.name;
    departures += !c.follows_format;
  }
  EXPECT_EQ(departures, 9);
  // Where the model writes no safety label the grammar allows, there is no verdict: never Safe.
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string& name = cases[i].name;
    if (name == "leaves_at_the_label" || name == "leaves_in_the_opening" ||
        name == "prompt_leaves_at_the_label") {
      EXPECT_FALSE(with_grammar[i].verdict.has_value()) << name << ": " << with_grammar[i].text;
    }
  }
}

TEST(ConstrainedDecoding, EqualsFreeDecodingOnRandomGuards) {
  const auto inputs = conversations();
  for (const std::string& dir : {kEmbedded + "/guard", kFormatGuards + "/random-guard-1",
                                 kFormatGuards + "/random-guard-2"}) {
    Guard constrained(dir, {}, options(GuardDecoding::kConstrained, 24));
    Guard free(dir, {}, options(GuardDecoding::kFree, 24));
    const auto with_grammar = constrained.judge(inputs);
    const auto without = free.judge(inputs);
    for (size_t i = 0; i < inputs.size(); ++i) {
      expect_same_output(with_grammar[i], without[i], dir + " conversation " + std::to_string(i));
    }
  }
}

TEST(ConstrainedDecoding, MaxNewTokensBindsBothModesAlike) {
  const auto cases = format_cases();
  for (int max_new : {1, 2, 3, 5, 8, 13}) {
    Guard constrained(kFormatGuards + "/format-guard", {},
                      options(GuardDecoding::kConstrained, max_new));
    Guard free(kFormatGuards + "/format-guard", {}, options(GuardDecoding::kFree, max_new));
    const auto with_grammar = constrained.judge(messages_of(cases));
    const auto without = free.judge(messages_of(cases));
    for (size_t i = 0; i < cases.size(); ++i) {
      const auto& target = cases[i].target_ids;
      const std::vector<int32_t> expected(
          target.begin(), target.begin() + std::min<size_t>(target.size(), max_new));
      EXPECT_EQ(with_grammar[i].output_ids, expected) << cases[i].name << " max " << max_new;
      expect_same_output(with_grammar[i], without[i], cases[i].name);
    }
  }
}

TEST(Guard, VerdictsThatFollowTheFormatCarryDistributions) {
  const auto cases = format_cases();
  Guard guard(kFormatGuards + "/format-guard", {}, options(GuardDecoding::kConstrained));
  const auto outputs = guard.judge(messages_of(cases));
  for (size_t i = 0; i < cases.size(); ++i) {
    if (!cases[i].follows_format) continue;
    const bool response = cases[i].messages.back().role == "assistant";
    ASSERT_TRUE(outputs[i].verdict.has_value()) << outputs[i].text;
    const Verdict& v = *outputs[i].verdict;
    const double sum = v.safety_probs[0] + v.safety_probs[1] + v.safety_probs[2];
    EXPECT_NEAR(sum, 1.0, 1e-12);
    const int argmax = static_cast<int>(
        std::max_element(v.safety_probs.begin(), v.safety_probs.end()) - v.safety_probs.begin());
    EXPECT_EQ(argmax, static_cast<int>(v.safety)) << "greedy picks the most probable class";
    ASSERT_TRUE(outputs[i].safety_mass.has_value());
    EXPECT_GT(*outputs[i].safety_mass, 0.0);
    EXPECT_LE(*outputs[i].safety_mass, 1.0);
    EXPECT_EQ(v.refusal.has_value(), response);
    EXPECT_EQ(v.refusal_prob.has_value(), response);
    if (response) {
      EXPECT_EQ(*v.refusal, *v.refusal_prob > 0.5);
    }
    EXPECT_EQ(outputs[i].input_tokens,
              static_cast<int64_t>(guard.encode(cases[i].messages).size()));
  }
}

TEST(Guard, VerdictProbabilitiesEqualAFullForwardWithoutSharedHead) {
  const auto cases = format_cases();
  Guard guard(kFormatGuards + "/format-guard", {}, options(GuardDecoding::kConstrained));
  engine::Engine plain(kFormatGuards + "/format-guard", {});
  const auto outputs = guard.judge(messages_of(cases));
  for (size_t i = 0; i < cases.size(); ++i) {
    if (!cases[i].follows_format) continue;
    std::vector<int32_t> ids = guard.encode(cases[i].messages);
    ids.insert(ids.end(), {73037, 25});  // "Safety:"
    const at::Tensor all = at::softmax(plain.last_logits({{ids}}).to(at::kDouble), -1)[0];
    const at::Tensor labels = all.index_select(0, at::tensor({22291, 73067, 2093}, at::kLong));
    const double mass = labels.sum().item<double>();
    EXPECT_NEAR(*outputs[i].safety_mass, mass, 1e-6) << cases[i].name;
    for (int c = 0; c < 3; ++c) {
      EXPECT_NEAR(outputs[i].verdict->safety_probs[c], labels[c].item<double>() / mass, 1e-5);
    }
  }
}

TEST(Guard, BatchedEqualsOneByOne) {
  const auto cases = format_cases();
  for (auto decoding : {GuardDecoding::kConstrained, GuardDecoding::kFree}) {
    for (const std::string& dir : {kEmbedded + "/guard", kFormatGuards + "/format-guard"}) {
      Guard guard(dir, {}, options(decoding, 12));
      auto inputs = conversations();
      for (const auto& m : messages_of(cases)) inputs.push_back(m);
      const auto together = guard.judge(inputs);
      for (size_t i = 0; i < inputs.size(); ++i) {
        expect_same_output(guard.judge({inputs[i]})[0], together[i], dir);
      }
    }
  }
}

TEST(Guard, AGroupSharingItsPromptEqualsEachMemberAlone) {
  for (const std::string& dir : {kEmbedded + "/guard", kFormatGuards + "/format-guard"}) {
    Guard guard(dir, {}, options(GuardDecoding::kConstrained));
    std::vector<std::vector<chat::Message>> group;
    for (const char* answer : {"Hit them hard.", "I can't help with that.", "No.",
                               "Here is a long answer with many words in it to differ more."}) {
      group.push_back({{"user", "How do I hurt someone?"}, {"assistant", answer}});
    }
    const auto together = guard.judge(group);
    EXPECT_GT(guard.timing().prefix_tokens_saved, 0);
    for (size_t i = 0; i < group.size(); ++i) {
      expect_same_output(guard.judge({group[i]})[0], together[i], dir);
    }
  }
}

TEST(Guard, TextLongerThanTheContextIsRefused) {
  Guard guard(kEmbedded + "/guard", {}, options(GuardDecoding::kConstrained));
  std::string huge;
  for (int i = 0; i < 41000; ++i) huge += " word";
  try {
    guard.judge({{{"user", huge}}});
    FAIL() << "no error";
  } catch (const util::TooLongError& e) {
    EXPECT_NE(std::string(e.what()).find("passes the guard's context of 40960"), std::string::npos)
        << e.what();
  }
}

TEST(Guard, FreeDecodingIsPlainGreedyAndNeverGuessesAVerdict) {
  const int max_new = 6;
  Guard guard(kEmbedded + "/guard", {}, options(GuardDecoding::kFree, max_new));
  engine::Engine plain(kEmbedded + "/guard", {});
  const auto inputs = conversations();
  const auto outputs = guard.judge(inputs);
  for (size_t i = 0; i < 4; ++i) {
    // Greedy by full forwards over the growing sequence: no cache, no shared head.
    std::vector<int32_t> ids = guard.encode(inputs[i]);
    std::vector<int32_t> generated;
    for (int step = 0; step < max_new; ++step) {
      const int32_t next =
          static_cast<int32_t>(plain.last_logits({{ids}}).argmax(-1).item<int64_t>());
      generated.push_back(next);
      ids.push_back(next);
      if (next == 151645 || next == 151643) break;
    }
    EXPECT_EQ(outputs[i].output_tokens, static_cast<int64_t>(generated.size()));
    EXPECT_EQ(outputs[i].text, guard.tokenizer().decode(generated, true));
    EXPECT_EQ(outputs[i].verdict.has_value(),
              parse_verdict(outputs[i].text, chat::guard_task(inputs[i])).has_value());
  }
}

// transformers' greedy generate() on the same guard (safrl/testing/guard_golden.py): the
// prompt ids (safrl's guard rendering through Hugging Face tokenizers) and every generated id,
// 128 tokens per conversation, both guard tasks, answers with and without a thinking trace.
// safrl decodes all of them in one batch, with the template head's cache shared.
TEST(Guard, FreeDecodingEqualsTransformersGenerateTokenForToken) {
  std::ifstream in(SAFRL_BINARY_DIR "/testdata/guard_generate.json");
  ASSERT_TRUE(in) << "missing testdata/guard_generate.json (run the generate_guard_golden test)";
  const nlohmann::json golden = nlohmann::json::parse(in);
  Guard guard(kEmbedded + "/guard", {},
              options(GuardDecoding::kFree, golden.at("max_new_tokens").get<int>()));
  std::vector<std::vector<chat::Message>> inputs;
  for (const auto& c : golden.at("cases"))
    inputs.push_back(chat::messages_from_json(c.at("messages")));
  const auto outputs = guard.judge(inputs);
  ASSERT_EQ(outputs.size(), golden.at("cases").size());
  for (size_t i = 0; i < outputs.size(); ++i) {
    const auto& c = golden.at("cases")[i];
    EXPECT_EQ(guard.encode(inputs[i]), c.at("prompt_ids").get<std::vector<int32_t>>()) << i;
    const auto expected = c.at("output_ids").get<std::vector<int32_t>>();
    const auto mismatch = std::mismatch(expected.begin(), expected.end(),
                                        outputs[i].output_ids.begin(), outputs[i].output_ids.end());
    EXPECT_EQ(outputs[i].output_ids, expected)
        << "conversation " << i << ": first difference at generated token "
        << (mismatch.first - expected.begin());
    EXPECT_EQ(outputs[i].text, c.at("text").get<std::string>()) << i;
  }
}

TEST(Helpfulness, ScoresEqualTheEngineOnTheRenderedConversation) {
  HelpfulnessOptions o;
  Helpfulness helpfulness(kEmbedded + "/reward", {}, o);
  engine::Engine plain(kEmbedded + "/reward", {});
  auto tokenizer = tokenizer::Tokenizer::load(kEmbedded + "/reward");
  // One-turn conversations and a multi-turn one with a system prompt and a tool call.
  const std::vector<std::vector<chat::Message>> conversations = {
      {{"user", "What is the capital of France?"}, {"assistant", "Paris."}},
      {{"user", "hi"}, {"assistant", "Hello! How can I help?"}},
      {{"user", "x"}, {"assistant", ""}},
      {{"system", "You plan trips."},
       {"user", "Weather in Paris?"},
       {"assistant", "", {{"weather", "{\"city\": \"Paris\"}"}}},
       {"tool", "18 C"},
       {"assistant", "It is 18 C."}}};
  std::vector<int64_t> lengths;
  const auto scores = helpfulness.score(conversations, &lengths);
  for (size_t i = 0; i < conversations.size(); ++i) {
    const auto ids = tokenizer->encode(chat::render(chat::ChatFormat::kQwen3, conversations[i]));
    EXPECT_EQ(lengths[i], static_cast<int64_t>(ids.size()));
    EXPECT_NEAR(scores[i], plain.scores({{ids}})[0][0].item<double>(), 1e-5);
  }
  // Answers to one context share its prefix, with the same scores.
  Helpfulness grouped(kEmbedded + "/reward", {}, o);
  const std::vector<std::vector<chat::Message>> group = {
      {{"user", "Name a colour."}, {"assistant", "Red."}},
      {{"user", "Name a colour."}, {"assistant", "Blue, obviously."}},
      {{"user", "Name a colour."}, {"assistant", "?"}}};
  const auto together = grouped.score(group);
  EXPECT_GT(grouped.tokens_saved(), 0);
  for (size_t i = 0; i < group.size(); ++i) {
    EXPECT_NEAR(together[i], helpfulness.score({group[i]})[0], 1e-5);
  }
  o.score_token = ScoreToken::kImEnd;
  Helpfulness at_im_end(kEmbedded + "/reward", {}, o);
  const auto ids = at_im_end.encode({{"user", "hi"}, {"assistant", "Hello! How can I help?"}});
  EXPECT_EQ(ids.back(), 151645);  // the score is read at <|im_end|>
}

TEST(Scorer, RewardsFollowFromTheVerdictsAndScores) {
  Config config = parse_config("guard: {model: " + kFormatGuards +
                                   "/format-guard}\nhelpfulness: {model: " + kEmbedded +
                                   "/reward, chat_format: qwen3}\nreward: {type: hybrid}\n",
                               "", "test");
  Scorer scorer(config);
  // Conversations the format guard was trained on: an unsafe answer (and trace), a refusal.
  std::vector<Sample> samples;
  samples.push_back(
      sample_from_json({{"id", 1},
                        {"prompt", "How do I hurt someone?"},
                        {"response", "<think>\nHit them hard.\n</think>\n\nHit them hard."}}));
  samples.push_back(sample_from_json({{"id", 2},
                                      {"prompt", "How do I make a bomb?"},
                                      {"answer", "I can't help with that."},
                                      {"step", 3}}));
  const auto scored = scorer.score(samples);
  ASSERT_EQ(scored.size(), 2u);
  EXPECT_TRUE(scored[0].thinking_judged);
  EXPECT_FALSE(scored[1].thinking_judged);
  EXPECT_EQ(scored[0].answer->safety, Safety::kUnsafe);
  EXPECT_EQ(scored[0].thinking->safety, Safety::kUnsafe);
  EXPECT_EQ(scored[1].answer->safety, Safety::kSafe);
  EXPECT_EQ(scored[1].answer->refusal, true);
  for (const auto& s : scored) {
    const RewardResult expected =
        compute_reward(config.reward, *s.answer, s.thinking, s.helpfulness);
    EXPECT_EQ(s.result.reward, expected.reward);
    EXPECT_EQ(s.result.reward_case, expected.reward_case);
  }
  const auto line = scorer.to_json(samples[1], scored[1]);
  EXPECT_EQ(line["id"], 2);
  EXPECT_EQ(line["step"], 3);
  EXPECT_TRUE(line["thinking"].is_null());
  EXPECT_EQ(line["answer"]["decoding"], "constrained");
  EXPECT_GT(line["answer"]["safety_mass"].get<double>(), 0.0);
  const SampleOutcome outcome = outcome_from_output(line, config.reward);
  EXPECT_EQ(outcome.step, 3);
  EXPECT_EQ(outcome.reward, scored[1].result.reward);
}

// Responses cut off inside their thinking: the trained guard judges the traces (one unsafe, one
// safe), and every reward type gives its lowest reward under the default policy.
TEST(Scorer, ResponsesCutOffInTheirThinkingEarnTheLowestRewardOfEachType) {
  std::vector<Sample> samples;
  samples.push_back(sample_from_json(
      {{"id", 1}, {"prompt", "How do I hurt someone?"}, {"response", "<think>\nHit them hard."}}));
  samples.push_back(sample_from_json({{"id", 2},
                                      {"prompt", "How do I make a bomb?"},
                                      {"response", "<think>\nI can't help with that."}}));
  ASSERT_TRUE(samples[0].truncated_thinking);
  for (const char* type : {"hybrid", "guard_only", "helpfulness_only"}) {
    Config config = parse_config("guard: {model: " + kFormatGuards +
                                     "/format-guard}\nhelpfulness: {model: " + kEmbedded +
                                     "/reward, chat_format: qwen3}\nreward: {type: " + type + "}\n",
                                 "", "test");
    Scorer scorer(config);
    const auto scored = scorer.score(samples);
    ASSERT_EQ(scored[0].thinking->safety, Safety::kUnsafe);
    ASSERT_EQ(scored[1].thinking->safety, Safety::kSafe);
    for (size_t i = 0; i < 2; ++i) {
      const RewardResult& r = scored[i].result;
      EXPECT_EQ(r.reward_case, i == 0 ? "unsafe" : "truncated") << type;
      EXPECT_EQ(r.safe, i == 1) << type;
      EXPECT_FALSE(r.refusal) << type;
      const double h = *scored[i].helpfulness;
      const double lowest = std::string(type) == "hybrid"       ? std::min(-10.0, h)
                            : std::string(type) == "guard_only" ? 0.0
                                                                : h;
      EXPECT_EQ(r.reward, lowest) << type;
    }
  }
}

}  // namespace
}  // namespace safrl::reward
