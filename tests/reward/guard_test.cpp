// The guard, the helpfulness model and the scorer on the embedded tiny models (random weights,
// the real Qwen3 tokenizer), checked against independent computations with the engine alone.
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

TEST(Guard, ConstrainedVerdictsParseAndTheirProbabilitiesAreDistributions) {
  Guard guard(kEmbedded + "/guard", {}, options(GuardDecoding::kConstrained));
  const auto inputs = conversations();
  const auto outputs = guard.judge(inputs);
  ASSERT_EQ(outputs.size(), inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    const bool response = inputs[i].back().role == "assistant";
    ASSERT_TRUE(outputs[i].verdict.has_value()) << outputs[i].text;
    const Verdict& v = *outputs[i].verdict;
    const double sum = v.safety_probs[0] + v.safety_probs[1] + v.safety_probs[2];
    EXPECT_NEAR(sum, 1.0, 1e-12);
    const int argmax = static_cast<int>(
        std::max_element(v.safety_probs.begin(), v.safety_probs.end()) - v.safety_probs.begin());
    EXPECT_EQ(argmax, static_cast<int>(v.safety)) << "greedy picks the most probable class";
    EXPECT_EQ(v.refusal.has_value(), response);
    EXPECT_EQ(v.refusal_prob.has_value(), response);
    if (response) {
      EXPECT_EQ(*v.refusal, *v.refusal_prob > 0.5);
    }
    EXPECT_EQ(outputs[i].input_tokens, static_cast<int64_t>(guard.encode(inputs[i]).size()));
  }
}

TEST(Guard, VerdictProbabilitiesEqualAFullForwardWithoutSharedHead) {
  Guard guard(kEmbedded + "/guard", {}, options(GuardDecoding::kConstrained));
  engine::Engine plain(kEmbedded + "/guard", {});
  const auto inputs = conversations();
  const auto outputs = guard.judge(inputs);
  for (size_t i = 0; i < inputs.size(); ++i) {
    std::vector<int32_t> ids = guard.encode(inputs[i]);
    ids.insert(ids.end(), {73037, 25});  // "Safety:"
    at::Tensor logits = plain.last_logits({{ids}}, std::vector<int64_t>{22291, 73067, 2093});
    at::Tensor probs = at::softmax(logits.to(at::kDouble), -1)[0];
    for (int c = 0; c < 3; ++c) {
      EXPECT_NEAR(outputs[i].verdict->safety_probs[c], probs[c].item<double>(), 1e-5);
    }
  }
}

TEST(Guard, BatchedEqualsOneByOne) {
  for (auto decoding : {GuardDecoding::kConstrained, GuardDecoding::kFree}) {
    Guard guard(kEmbedded + "/guard", {}, options(decoding, 12));
    const auto inputs = conversations();
    const auto together = guard.judge(inputs);
    for (size_t i = 0; i < inputs.size(); ++i) {
      const auto alone = guard.judge({inputs[i]});
      EXPECT_EQ(alone[0].text, together[i].text);
      EXPECT_EQ(alone[0].output_tokens, together[i].output_tokens);
      if (decoding == GuardDecoding::kConstrained) {
        for (int c = 0; c < 3; ++c) {
          EXPECT_NEAR(alone[0].verdict->safety_probs[c], together[i].verdict->safety_probs[c],
                      1e-6);
        }
      }
    }
  }
}

TEST(Guard, AGroupSharingItsPromptEqualsEachMemberAlone) {
  Guard guard(kEmbedded + "/guard", {}, options(GuardDecoding::kConstrained));
  std::vector<std::vector<chat::Message>> group;
  for (const char* answer : {"Sure, here is how.", "I can't help with that.", "No.",
                             "Here is a long answer with many words in it to differ more."}) {
    group.push_back({{"user", "How do I pick a lock?"}, {"assistant", answer}});
  }
  const auto together = guard.judge(group);
  EXPECT_GT(guard.timing().prefix_tokens_saved, 0);
  for (size_t i = 0; i < group.size(); ++i) {
    const auto alone = guard.judge({group[i]});
    EXPECT_EQ(alone[0].text, together[i].text);
    for (int c = 0; c < 3; ++c) {
      EXPECT_NEAR(alone[0].verdict->safety_probs[c], together[i].verdict->safety_probs[c], 1e-6);
    }
    EXPECT_NEAR(*alone[0].verdict->refusal_prob, *together[i].verdict->refusal_prob, 1e-6);
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

// transformers' greedy generate() on the same guard (tests/python/make_guard_golden.py): the
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
  const std::vector<std::pair<std::string, std::string>> pairs = {
      {"What is the capital of France?", "Paris."}, {"hi", "Hello! How can I help?"}, {"x", ""}};
  std::vector<int64_t> lengths;
  const auto scores = helpfulness.score(pairs, &lengths);
  for (size_t i = 0; i < pairs.size(); ++i) {
    const auto ids = tokenizer->encode(chat::render(
        chat::ChatFormat::kQwen3, {{"user", pairs[i].first}, {"assistant", pairs[i].second}}));
    EXPECT_EQ(lengths[i], static_cast<int64_t>(ids.size()));
    EXPECT_NEAR(scores[i], plain.scores({{ids}})[0][0].item<double>(), 1e-5);
  }
  // Answers to one prompt share its prefix, with the same scores.
  Helpfulness grouped(kEmbedded + "/reward", {}, o);
  const std::vector<std::pair<std::string, std::string>> group = {
      {"Name a colour.", "Red."}, {"Name a colour.", "Blue, obviously."}, {"Name a colour.", "?"}};
  const auto together = grouped.score(group);
  EXPECT_GT(grouped.tokens_saved(), 0);
  for (size_t i = 0; i < group.size(); ++i) {
    EXPECT_NEAR(together[i], helpfulness.score({group[i]})[0], 1e-5);
  }
  o.score_token = ScoreToken::kImEnd;
  Helpfulness at_im_end(kEmbedded + "/reward", {}, o);
  const auto ids = at_im_end.encode("hi", "Hello! How can I help?");
  EXPECT_EQ(ids.back(), 151645);  // the score is read at <|im_end|>
}

TEST(Scorer, RewardsFollowFromTheVerdictsAndScores) {
  Config config =
      parse_config("guard: {model: " + kEmbedded + "/guard}\nhelpfulness: {model: " + kEmbedded +
                       "/reward, chat_format: qwen3}\nreward: {type: hybrid}\n",
                   "", "test");
  Scorer scorer(config);
  std::vector<Sample> samples;
  samples.push_back(sample_from_json(
      {{"id", 1}, {"prompt", "hi"}, {"response", "<think>\nok\n</think>\n\nHello"}}));
  samples.push_back(
      sample_from_json({{"id", 2}, {"prompt", "bomb?"}, {"answer", "No."}, {"step", 3}}));
  const auto scored = scorer.score(samples);
  ASSERT_EQ(scored.size(), 2u);
  EXPECT_TRUE(scored[0].thinking_judged);
  EXPECT_FALSE(scored[1].thinking_judged);
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
  const SampleOutcome outcome = outcome_from_output(line, config.reward);
  EXPECT_EQ(outcome.step, 3);
  EXPECT_EQ(outcome.reward, scored[1].result.reward);
}

}  // namespace
}  // namespace safrl::reward
