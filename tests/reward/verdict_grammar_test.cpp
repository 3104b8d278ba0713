// The verdict grammar on the real Qwen3 tokenizer: it accepts exactly the guard's output format,
// token for token as the tokenizer spells whole verdicts, and every walk through it parses.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "reward/verdict.h"
#include "reward/verdict_grammar.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

namespace safrl::reward {
namespace {

const std::string kTokenizerDir = SAFRL_TOKENIZER_DIR;

class GrammarTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { tokenizer_ = tokenizer::Tokenizer::load(kTokenizerDir); }
  static std::shared_ptr<const tokenizer::Tokenizer> tokenizer_;

  // Walks `text` + <|im_end|> through the grammar; true when every token is allowed and the
  // walk ends done.
  bool accepts(const VerdictGrammar& grammar, const std::string& text) {
    auto ids = tokenizer_->encode(text + "<|im_end|>");
    auto cursor = grammar.start();
    for (int32_t id : ids) {
      const auto allowed = grammar.allowed(cursor);
      if (std::find(allowed.begin(), allowed.end(), id) == allowed.end()) return false;
      cursor = grammar.advance(cursor, id);
    }
    return grammar.done(cursor);
  }
};
std::shared_ptr<const tokenizer::Tokenizer> GrammarTest::tokenizer_;

TEST_F(GrammarTest, OpeningAndVerdictTokensAreTheDocumentedIds) {
  VerdictGrammar grammar(*tokenizer_, GuardTask::kResponse);
  auto cursor = grammar.start();
  EXPECT_EQ(grammar.allowed(cursor), (std::vector<int32_t>{73037}));  // "Safety"
  cursor = grammar.advance(cursor, 73037);
  EXPECT_EQ(grammar.allowed(cursor), (std::vector<int32_t>{25}));  // ":"
  cursor = grammar.advance(cursor, 25);
  EXPECT_TRUE(grammar.at_safety_choice(cursor));
  EXPECT_EQ(grammar.allowed(cursor), (std::vector<int32_t>{2093, 22291, 73067}));
  EXPECT_EQ(grammar.safety_tokens(), (std::array<int32_t, 3>{22291, 73067, 2093}));
  EXPECT_EQ(grammar.refusal_tokens(), (std::array<int32_t, 2>{7414, 2308}));
  EXPECT_EQ(grammar.safety_prefix(), (std::vector<int32_t>{73037, 25}));
  EXPECT_EQ(grammar.refusal_prefix(), (std::vector<int32_t>{198, 3945, 35414, 25}));
  EXPECT_THROW(grammar.advance(cursor, 25), util::Error);
}

TEST_F(GrammarTest, AcceptsEveryWellFormedVerdict) {
  VerdictGrammar response(*tokenizer_, GuardTask::kResponse);
  VerdictGrammar prompt(*tokenizer_, GuardTask::kPrompt);
  for (
      const char* text : {
          "Safety: Safe\nCategories: None\nRefusal: Yes",
          "Safety: Unsafe\nCategories: Violent\nRefusal: No",
          "Safety: Controversial\nCategories: Politically Sensitive Topics\nRefusal: No",
          "Safety: Unsafe\nCategories: Non-violent Illegal Acts, Suicide & Self-Harm, "
          "PII\nRefusal: No",
          "Safety: Unsafe\nCategories: Violent, Non-violent Illegal Acts, Sexual Content or Sexual "
          "Acts, PII, Suicide & Self-Harm, Unethical Acts, Politically Sensitive Topics, Copyright "
          "Violation\nRefusal: No",
      }) {
    EXPECT_TRUE(accepts(response, text)) << text;
    EXPECT_FALSE(accepts(prompt, text)) << text;  // the prompt task has no refusal line
  }
  for (const char* text : {"Safety: Unsafe\nCategories: Violent", "Safety: Safe\nCategories: None",
                           "Safety: Unsafe\nCategories: Jailbreak, Unethical Acts"}) {
    EXPECT_TRUE(accepts(prompt, text)) << text;
  }
}

TEST_F(GrammarTest, RefusesWhatIsNotTheFormat) {
  VerdictGrammar response(*tokenizer_, GuardTask::kResponse);
  for (const char* text : {
           "Safety: Unsafe\nCategories: Jailbreak\nRefusal: No",         // prompt-only category
           "Safety: Unsafe\nCategories: Violent, Violent\nRefusal: No",  // repeated
           "Safety: Unsafe\nCategories: None, Violent\nRefusal: No",     // None is alone
           "Safety: safe\nCategories: None\nRefusal: No",                // case matters
           "Safety: Safe\nCategories: None\nRefusal: Maybe",
           "Safety: Safe\nCategories: None",  // refusal line missing
           "Safety: Safe\nCategories: None\nRefusal: No\n",
       }) {
    EXPECT_FALSE(accepts(response, text)) << text;
  }
}

TEST_F(GrammarTest, RandomWalksAlwaysDecodeToAVerdictThatParses) {
  std::mt19937 rng(42);
  for (GuardTask task : {GuardTask::kPrompt, GuardTask::kResponse}) {
    VerdictGrammar grammar(*tokenizer_, task);
    for (int walk = 0; walk < 500; ++walk) {
      auto cursor = grammar.start();
      std::vector<int32_t> ids;
      while (!grammar.done(cursor)) {
        const auto allowed = grammar.allowed(cursor);
        ASSERT_FALSE(allowed.empty());
        ids.push_back(allowed[rng() % allowed.size()]);
        cursor = grammar.advance(cursor, ids.back());
      }
      EXPECT_EQ(ids.back(), 151645);  // <|im_end|>
      const std::string text = tokenizer_->decode(ids, /*skip_special_tokens=*/true);
      // The grammar's pieces are the tokenizer's own spelling of the whole text.
      EXPECT_EQ(tokenizer_->encode(text + "<|im_end|>"), ids) << text;
      const auto verdict = parse_verdict(text, task);
      ASSERT_TRUE(verdict.has_value()) << text;
      EXPECT_EQ(verdict->refusal.has_value(), task == GuardTask::kResponse) << text;
    }
  }
}

}  // namespace
}  // namespace safrl::reward
