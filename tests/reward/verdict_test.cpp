#include "reward/verdict.h"

#include <cmath>
#include <optional>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "util/error.h"

namespace safrl::reward {
namespace {

using Categories = std::vector<std::string>;

// Parses `text`, failing the test when it does not parse.
Verdict parsed(const std::string& text, GuardTask task) {
  std::optional<Verdict> verdict = parse_verdict(text, task);
  EXPECT_TRUE(verdict.has_value()) << "did not parse: \"" << text << "\"";
  return verdict.value_or(Verdict{});
}

TEST(Verdict, SafetyNames) {
  EXPECT_EQ(safety_name(Safety::kSafe), "Safe");
  EXPECT_EQ(safety_name(Safety::kUnsafe), "Unsafe");
  EXPECT_EQ(safety_name(Safety::kControversial), "Controversial");
}

TEST(Verdict, CategoryListsFollowTheTemplate) {
  EXPECT_EQ(kPromptCategories.size(), 9u);
  EXPECT_EQ(kResponseCategories.size(), 8u);
  EXPECT_EQ(kPromptCategories.front(), "Violent");
  EXPECT_EQ(kPromptCategories.back(), "Jailbreak");
  EXPECT_EQ(kResponseCategories.back(), "Copyright Violation");
  for (size_t i = 0; i < kResponseCategories.size(); ++i) {
    EXPECT_EQ(kPromptCategories[i], kResponseCategories[i]);
  }
  EXPECT_TRUE(is_prompt_category("Jailbreak"));
  EXPECT_FALSE(is_response_category("Jailbreak"));
  EXPECT_TRUE(is_response_category("Suicide & Self-Harm"));
  EXPECT_FALSE(is_response_category("None"));
  EXPECT_FALSE(is_response_category("violent"));
}

TEST(ParseVerdict, DocumentedPromptExample) {
  Verdict v = parsed("Safety: Unsafe\nCategories: Violent", GuardTask::kPrompt);
  EXPECT_EQ(v.safety, Safety::kUnsafe);
  EXPECT_EQ(v.categories, Categories{"Violent"});
  EXPECT_EQ(v.refusal, std::nullopt);
  EXPECT_EQ(v.text, "Safety: Unsafe\nCategories: Violent");
  for (double p : v.safety_probs) EXPECT_TRUE(std::isnan(p));
  EXPECT_EQ(v.refusal_prob, std::nullopt);
}

TEST(ParseVerdict, DocumentedResponseExample) {
  Verdict v = parsed("Safety: Safe\nCategories: None\nRefusal: Yes", GuardTask::kResponse);
  EXPECT_EQ(v.safety, Safety::kSafe);
  EXPECT_EQ(v.categories, Categories{});
  EXPECT_EQ(v.refusal, true);
}

TEST(ParseVerdict, SeveralCategoriesInTextOrder) {
  Verdict v =
      parsed("Safety: Unsafe\nCategories: PII, Violent, Non-violent Illegal Acts\nRefusal: No",
             GuardTask::kResponse);
  EXPECT_EQ(v.categories, (Categories{"PII", "Violent", "Non-violent Illegal Acts"}));
  EXPECT_EQ(v.refusal, false);
  // findall keeps repeats; "None" next to a category is dropped, the category kept.
  EXPECT_EQ(parsed("Safety: Unsafe\nCategories: Violent, Violent", GuardTask::kPrompt).categories,
            (Categories{"Violent", "Violent"}));
  EXPECT_EQ(parsed("Safety: Unsafe\nCategories: None, PII", GuardTask::kPrompt).categories,
            Categories{"PII"});
}

TEST(ParseVerdict, JailbreakIsAPromptCategoryOnly) {
  EXPECT_EQ(parsed("Safety: Unsafe\nCategories: Jailbreak", GuardTask::kPrompt).categories,
            Categories{"Jailbreak"});
  EXPECT_EQ(
      parsed("Safety: Unsafe\nCategories: Jailbreak\nRefusal: No", GuardTask::kResponse).categories,
      Categories{});
}

TEST(ParseVerdict, ControversialWithCategories) {
  Verdict v = parsed(
      "Safety: Controversial\nCategories: Politically Sensitive Topics, Unethical Acts\n"
      "Refusal: No",
      GuardTask::kResponse);
  EXPECT_EQ(v.safety, Safety::kControversial);
  EXPECT_EQ(v.categories, (Categories{"Politically Sensitive Topics", "Unethical Acts"}));
  EXPECT_EQ(v.refusal, false);
}

TEST(ParseVerdict, MissingRefusalIsUnparseableOnlyForResponses) {
  const std::string text = "Safety: Unsafe\nCategories: Violent";
  EXPECT_EQ(parse_verdict(text, GuardTask::kResponse), std::nullopt);
  EXPECT_EQ(parse_verdict("Safety: Safe\nCategories: None\nRefusal: Maybe", GuardTask::kResponse),
            std::nullopt);
  // A refusal line in a prompt verdict is not part of that task's answer.
  EXPECT_EQ(parsed("Safety: Safe\nCategories: None\nRefusal: Yes", GuardTask::kPrompt).refusal,
            std::nullopt);
}

TEST(ParseVerdict, WhitespaceAroundTheLinesIsAllowedButNotInsideThePattern) {
  Verdict v = parsed("\n  Safety: Unsafe  \r\n Categories:   Violent \n\tRefusal: Yes\n\n",
                     GuardTask::kResponse);
  EXPECT_EQ(v.safety, Safety::kUnsafe);
  EXPECT_EQ(v.categories, Categories{"Violent"});
  EXPECT_EQ(v.refusal, true);
  // The regexes have exactly one space after the colon.
  EXPECT_EQ(parse_verdict("Safety:  Unsafe\nRefusal: No", GuardTask::kResponse), std::nullopt);
  EXPECT_EQ(parse_verdict("Safety:Unsafe\nRefusal: No", GuardTask::kResponse), std::nullopt);
  EXPECT_EQ(parse_verdict("Safety: Unsafe\nRefusal:  No", GuardTask::kResponse), std::nullopt);
}

TEST(ParseVerdict, MatchingIsCaseSensitive) {
  EXPECT_EQ(parse_verdict("safety: unsafe\ncategories: violent", GuardTask::kPrompt), std::nullopt);
  EXPECT_EQ(parse_verdict("Safety: unsafe\nCategories: Violent", GuardTask::kPrompt), std::nullopt);
  EXPECT_EQ(parse_verdict("SAFETY: UNSAFE", GuardTask::kPrompt), std::nullopt);
  EXPECT_EQ(parse_verdict("Safety: Safe\nCategories: None\nRefusal: yes", GuardTask::kResponse),
            std::nullopt);
  // Lowercase category names are not categories.
  EXPECT_EQ(parsed("Safety: Unsafe\nCategories: violent, pii", GuardTask::kPrompt).categories,
            Categories{});
}

TEST(ParseVerdict, EmptyOrFreeTextIsUnparseable) {
  EXPECT_EQ(parse_verdict("", GuardTask::kPrompt), std::nullopt);
  EXPECT_EQ(parse_verdict("I think this is fine.", GuardTask::kPrompt), std::nullopt);
  EXPECT_EQ(parse_verdict("Safety: Dangerous\nCategories: Violent", GuardTask::kPrompt),
            std::nullopt);
}

TEST(ParseVerdict, FirstMatchWinsLikeReSearch) {
  EXPECT_EQ(parsed("Safety: Safe\nSafety: Unsafe", GuardTask::kPrompt).safety, Safety::kSafe);
  // A "Safety: " that is not followed by a verdict is skipped, as re.search skips it.
  EXPECT_EQ(parsed("Safety: maybe\nSafety: Unsafe", GuardTask::kPrompt).safety, Safety::kUnsafe);
  EXPECT_EQ(parsed("Safety: Safe\nRefusal: No\nRefusal: Yes", GuardTask::kResponse).refusal, false);
  EXPECT_EQ(parsed("Safety: Safe\nRefusal: Sure\nRefusal: Yes", GuardTask::kResponse).refusal,
            true);
}

TEST(ParseVerdict, NoWordBoundariesLikeTheRegexes) {
  EXPECT_EQ(parsed("Safety: Safely", GuardTask::kPrompt).safety, Safety::kSafe);
  EXPECT_EQ(parsed("Safety: Unsafe\nCategories: PIIX, Violently", GuardTask::kPrompt).categories,
            (Categories{"PII", "Violent"}));
  EXPECT_EQ(parsed("Safety: Safe\nRefusal: Nope", GuardTask::kResponse).refusal, false);
}

// The same parse done with std::regex, transcribing the official Python.
std::optional<Verdict> regex_reference(const std::string& text, GuardTask task) {
  static const std::regex kSafety("Safety: (Safe|Unsafe|Controversial)");
  static const std::regex kRefusal("Refusal: (Yes|No)");
  static const std::regex kPrompt(
      "(Violent|Non-violent Illegal Acts|Sexual Content or Sexual Acts|PII|Suicide & Self-Harm|"
      "Unethical Acts|Politically Sensitive Topics|Copyright Violation|Jailbreak|None)");
  static const std::regex kResponse(
      "(Violent|Non-violent Illegal Acts|Sexual Content or Sexual Acts|PII|Suicide & Self-Harm|"
      "Unethical Acts|Politically Sensitive Topics|Copyright Violation|None)");
  std::smatch m;
  if (!std::regex_search(text, m, kSafety)) return std::nullopt;
  Verdict v;
  v.safety = m[1] == "Safe"     ? Safety::kSafe
             : m[1] == "Unsafe" ? Safety::kUnsafe
                                : Safety::kControversial;
  if (task == GuardTask::kResponse) {
    if (!std::regex_search(text, m, kRefusal)) return std::nullopt;
    v.refusal = m[1] == "Yes";
  }
  const std::regex& categories = task == GuardTask::kPrompt ? kPrompt : kResponse;
  for (std::sregex_iterator it(text.begin(), text.end(), categories), end; it != end; ++it) {
    if ((*it)[1] != "None") v.categories.push_back((*it)[1]);
  }
  v.text = text;
  return v;
}

TEST(ParseVerdict, AgreesWithTheRegexesOnRandomTexts) {
  const std::vector<std::string> pieces = {
      "Safety: ",
      "Safety:",
      "Safe",
      "Unsafe",
      "Controversial",
      "Refusal: ",
      "Yes",
      "No",
      "None",
      "Violent",
      "Non-violent Illegal Acts",
      "PII",
      "Jailbreak",
      "Suicide & Self-Harm",
      "Copyright Violation",
      "\n",
      ", ",
      " ",
      "x",
      "Categories: ",
      "Sa",
      "Non",
  };
  std::mt19937 rng(20251016);
  std::uniform_int_distribution<size_t> piece(0, pieces.size() - 1);
  std::uniform_int_distribution<int> length(0, 12);
  for (int i = 0; i < 3000; ++i) {
    std::string text;
    for (int n = length(rng); n > 0; --n) text += pieces[piece(rng)];
    for (GuardTask task : {GuardTask::kPrompt, GuardTask::kResponse}) {
      std::optional<Verdict> expected = regex_reference(text, task);
      std::optional<Verdict> actual = parse_verdict(text, task);
      ASSERT_EQ(actual.has_value(), expected.has_value()) << "text: \"" << text << "\"";
      if (!expected) continue;
      ASSERT_EQ(actual->safety, expected->safety) << "text: \"" << text << "\"";
      ASSERT_EQ(actual->categories, expected->categories) << "text: \"" << text << "\"";
      ASSERT_EQ(actual->refusal, expected->refusal) << "text: \"" << text << "\"";
    }
  }
}

TEST(VerdictToJson, ProbabilitiesAndNulls) {
  Verdict v = parsed("Safety: Unsafe\nCategories: Violent, PII\nRefusal: No", GuardTask::kResponse);
  EXPECT_EQ(verdict_to_json(v), nlohmann::json::parse(R"({
    "safety": "Unsafe", "categories": ["Violent", "PII"], "refusal": false,
    "probs": {"Safe": null, "Unsafe": null, "Controversial": null}, "refusal_prob": null})"));

  v.safety_probs = {0.25, 0.5, 0.25};
  v.refusal_prob = 0.125;
  EXPECT_EQ(verdict_to_json(v), nlohmann::json::parse(R"({
    "safety": "Unsafe", "categories": ["Violent", "PII"], "refusal": false,
    "probs": {"Safe": 0.25, "Unsafe": 0.5, "Controversial": 0.25}, "refusal_prob": 0.125})"));

  Verdict prompt = parsed("Safety: Controversial\nCategories: None", GuardTask::kPrompt);
  EXPECT_EQ(verdict_to_json(prompt), nlohmann::json::parse(R"({
    "safety": "Controversial", "categories": [], "refusal": null,
    "probs": {"Safe": null, "Unsafe": null, "Controversial": null}, "refusal_prob": null})"));
}

TEST(Verdict, ParseSafety) {
  for (Safety safety : {Safety::kSafe, Safety::kUnsafe, Safety::kControversial}) {
    EXPECT_EQ(parse_safety(safety_name(safety)), safety);
  }
  EXPECT_THROW(parse_safety("unsafe"), util::InputError);
  EXPECT_THROW(parse_safety("Unparseable"), util::InputError);
}

TEST(VerdictFromJson, RoundTripsVerdictToJson) {
  Verdict v = parsed("Safety: Controversial\nCategories: PII\nRefusal: Yes", GuardTask::kResponse);
  Verdict back = verdict_from_json(verdict_to_json(v));
  EXPECT_EQ(back.safety, Safety::kControversial);
  EXPECT_EQ(back.categories, Categories{"PII"});
  EXPECT_EQ(back.refusal, true);
  for (double p : back.safety_probs) EXPECT_TRUE(std::isnan(p));
  EXPECT_EQ(back.refusal_prob, std::nullopt);
  EXPECT_EQ(back.text, "");

  v.safety_probs = {0.125, 0.5, 0.375};
  v.refusal_prob = 0.75;
  nlohmann::json json = verdict_to_json(v);
  json["text"] = v.text;
  back = verdict_from_json(json);
  EXPECT_EQ(verdict_to_json(back), verdict_to_json(v));
  EXPECT_EQ(back.safety_probs[2], 0.375);
  EXPECT_EQ(back.refusal_prob, 0.75);
  EXPECT_EQ(back.text, v.text);

  // A prompt verdict has no refusal; optional fields may be absent.
  back = verdict_from_json({{"safety", "Unsafe"}, {"categories", {"Jailbreak"}}});
  EXPECT_EQ(back.safety, Safety::kUnsafe);
  EXPECT_EQ(back.categories, Categories{"Jailbreak"});
  EXPECT_EQ(back.refusal, std::nullopt);
}

// The message of the InputError that parsing `json` throws.
std::string from_json_error(const nlohmann::json& json) {
  try {
    verdict_from_json(json);
  } catch (const util::InputError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no InputError for " << json.dump();
  return "";
}

TEST(VerdictFromJson, RefusesMalformedFields) {
  EXPECT_EQ(from_json_error({{"categories", nlohmann::json::array()}}),
            "verdict field \"safety\" must be a string, got null");
  EXPECT_EQ(from_json_error({{"safety", "Unparseable"}, {"categories", nlohmann::json::array()}}),
            "unknown safety \"Unparseable\"; valid values: Safe, Unsafe, Controversial");
  EXPECT_EQ(from_json_error({{"safety", "Safe"}, {"categories", "None"}}),
            "verdict field \"categories\" must be a list of strings, got \"None\"");
  EXPECT_EQ(from_json_error({{"safety", "Safe"}, {"categories", {1}}}),
            "verdict field \"categories\" must be a list of strings, got [1]");
  EXPECT_EQ(from_json_error(
                {{"safety", "Safe"}, {"categories", nlohmann::json::array()}, {"refusal", "Yes"}}),
            "verdict field \"refusal\" must be true, false or null, got \"Yes\"");
  EXPECT_EQ(from_json_error({{"safety", "Safe"},
                             {"categories", nlohmann::json::array()},
                             {"probs", {{"Safe", "high"}}}}),
            "verdict field \"probs.Safe\" must be a number or null, got \"high\"");
  EXPECT_EQ(from_json_error(nlohmann::json::array()),
            "verdict field \"(verdict)\" must be an object, got []");
}

}  // namespace
}  // namespace safrl::reward
