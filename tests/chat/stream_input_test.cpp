// stream_input() on the real Qwen3 tokenizer: ids, spans and response byte offsets worked out by
// hand from Hugging Face tokenizers' output (quoted in each test), the multi-turn and tool-calling
// rules of docs/stream-guard.md, and the refusals. tests/oracle/test_stream_input_oracle.py
// compares many more conversations with the Python reference of eval_stream.py.
#include "chat/stream_input.h"

#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/qwen3_tokenizer.h"
#include "support/test_support.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

namespace safrl::chat {
namespace {

using Offsets = std::vector<std::pair<int64_t, int64_t>>;
using testing::contains_all;
using testing::qwen3;

// Qwen3 token ids (tokenizer.json).
constexpr int32_t kImStart = 151644, kImEnd = 151645, kThinkOpen = 151667, kThinkClose = 151668;
constexpr int32_t kUser = 872, kAssistant = 77091, kNewline = 198, kBlankLine = 271;

StreamInput of(const std::vector<Message>& conversation) {
  return stream_input(qwen3(), conversation, ToolTurns::kQwen3);
}

std::string decoded(const StreamInput& input, int64_t begin, int64_t end) {
  return qwen3().decode(std::vector<int32_t>(input.ids.begin() + begin, input.ids.begin() + end),
                        false);
}

std::string input_error(const std::vector<Message>& conversation) {
  try {
    of(conversation);
  } catch (const util::InputError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an InputError";
  return "";
}

TEST(StreamInput, OneTurnSpansAndOffsetsAreTheOfficialOnes) {
  // "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nHello<|im_end|>\n"
  const StreamInput input = of({{"user", "Hi"}, {"assistant", "Hello"}});
  const std::vector<int32_t> expected = {
      kImStart,   kUser,    kNewline,   13048 /* Hi */, kImEnd,      kNewline,   kImStart,
      kAssistant, kNewline, kThinkOpen, kBlankLine,     kThinkClose, kBlankLine, 9707 /* Hello */,
      kImEnd,     kNewline};
  EXPECT_EQ(input.ids, expected);
  // Query: "<|im_start|>" "user" at 0, 1 -> content from 0 + 3 = 3 ("Hi"), "<|im_end|>" at 4.
  EXPECT_EQ(input.query_begin, 3);
  EXPECT_EQ(input.query_end, 4);
  // "</think>" "\n\n" at 11, 12 -> labels from 12 + 1 = 13: "Hello", "<|im_end|>", "\n".
  EXPECT_EQ(input.response_begin, 13);
  EXPECT_EQ(input.response_offsets, (Offsets{{0, 5}, {5, 5}, {5, 5}}));
}

TEST(StreamInput, MultiByteCharactersSplitAcrossTokensGiveEachTokenItsBytes) {
  // "你好🧑\u200d💻": tokens 你好 (6 bytes), 🧑 (4), then the ZWJ E2 80 8D split as
  // "âĢ" (E2 80) and "į" (8D), then 💻 (4): [0,6) [6,10) [10,12) [12,13) [13,17); 17 bytes.
  const std::string answer = "\u4f60\u597d\U0001F9D1\u200D\U0001F4BB";
  ASSERT_EQ(answer.size(), 17u);
  const StreamInput input = of({{"user", "Hi"}, {"assistant", answer}});
  ASSERT_EQ(input.response_begin, 13);
  const std::vector<int32_t> response(input.ids.begin() + 13, input.ids.end());
  EXPECT_EQ(response, (std::vector<int32_t>{108386, 148738, 378, 235, 145851, kImEnd, kNewline}));
  EXPECT_EQ(input.response_offsets,
            (Offsets{{0, 6}, {6, 10}, {10, 12}, {12, 13}, {13, 17}, {17, 17}, {17, 17}}));
}

TEST(StreamInput, InlineThinkingIsSkippedAndOffsetsPointIntoTheWholeContent) {
  // "<think>"7 + "\n"1 + "plan"4 + "\n"1 + "</think>"8 + "\n\n"2 = 23: "Answer" is [23, 29).
  const std::string content = "<think>\nplan\n</think>\n\nAnswer";
  const StreamInput input = of({{"user", "Hi"}, {"assistant", content}});
  // The template re-renders the trace: "<think>\nplan\n</think>\n\nAnswer<|im_end|>\n".
  EXPECT_EQ(decoded(input, input.response_begin - 4, input.response_begin), "plan\n</think>\n\n");
  EXPECT_EQ(decoded(input, input.response_begin, static_cast<int64_t>(input.ids.size())),
            "Answer<|im_end|>\n");
  EXPECT_EQ(input.response_offsets, (Offsets{{23, 29}, {29, 29}, {29, 29}}));
}

TEST(StreamInput, LeadingNewlinesOfTheAnswerAreNotResponseTokens) {
  // The template writes content.lstrip('\n'): "\n\nOk" renders as "...</think>\n\nOk"; "Ok"
  // is content bytes [2, 4).
  const StreamInput input = of({{"user", "Hi"}, {"assistant", "\n\nOk"}});
  EXPECT_EQ(decoded(input, input.response_begin, static_cast<int64_t>(input.ids.size())),
            "Ok<|im_end|>\n");
  EXPECT_EQ(input.response_offsets, (Offsets{{2, 4}, {4, 4}, {4, 4}}));
}

TEST(StreamInput, AnEmptyAnswerLabelsOnlyTheClosingTokens) {
  const StreamInput input = of({{"user", "Hi"}, {"assistant", ""}});
  EXPECT_EQ(input.response_begin, 13);  // as in the one-turn case, with no answer token
  EXPECT_EQ(input.ids.size(), 15u);     // ... "</think>" "\n\n" "<|im_end|>" "\n"
  EXPECT_EQ(input.response_offsets, (Offsets{{0, 0}, {0, 0}}));
}

TEST(StreamInput, TextThatNfcChangesMapsBackToTheOriginalBytes) {
  // "Cafe\u0301!" is 7 bytes; the tokenizer reads its NFC "Caf\u00e9!" as C|af|\u00e9|!. "e\u0301"
  // (bytes [3, 6)) composes into the 2-byte \u00e9, the token "\u00e9" maps back to all of it.
  const StreamInput input = of({{"user", "Hi"}, {"assistant", "Cafe\u0301!"}});
  EXPECT_EQ(input.response_offsets, (Offsets{{0, 1}, {1, 3}, {3, 6}, {6, 7}, {7, 7}, {7, 7}}));
}

TEST(StreamInput, TokensSplittingARunNfcChangedShareIt) {
  // "a\u0308\u0301!" (a, diaeresis, acute: 1 + 2 + 2 bytes, then "!") reads as NFC
  // "\u00e4\u0301!", tokens \u00e4 | \u0301 | !. Both of the first two come from the changed
  // run [0, 5), which has no byte boundary they could be told apart by: each gets all of it.
  const StreamInput input = of({{"user", "Hi"}, {"assistant", "a\u0308\u0301!"}});
  EXPECT_EQ(input.response_offsets, (Offsets{{0, 5}, {0, 5}, {5, 6}, {6, 6}, {6, 6}}));
}

TEST(StreamInput, MultiTurnSelectsTheFinalAnswerAndTheLastQuery) {
  // Earlier assistant turns (before the last user query) get no think block, so the first
  // "</think>" "\n\n" pair is the final turn's.
  const StreamInput input = of({{"system", "Be brief."},
                                {"user", "Is 91 prime?"},
                                {"assistant", "<think>\n7 * 13\n</think>\n\nNo."},
                                {"user", "And 97?"},
                                {"assistant", "Yes."}});
  EXPECT_EQ(decoded(input, input.query_begin, input.query_end), "And 97?");
  EXPECT_EQ(input.ids[static_cast<size_t>(input.query_end)], kImEnd);
  EXPECT_EQ(decoded(input, input.response_begin, static_cast<int64_t>(input.ids.size())),
            "Yes.<|im_end|>\n");
  EXPECT_EQ(input.response_offsets, (Offsets{{0, 3}, {3, 4}, {4, 4}, {4, 4}}));  // Yes | .
}

const std::vector<ToolCall> kWeatherCall = {{"get_weather", R"({"city": "Paris"})"}};

TEST(StreamInput, ToolConversationJudgesTheFinalAnswerAndReadsTheQueryAtTheToolResult) {
  // user, assistant (tool call, no reasoning), tool result, final answer. The tool-call turn has
  // no think block (not last, no reasoning), so the response is the final answer. The tool result
  // renders as a user turn, so the LAST "<|im_start|>" "user" is the tool result's, as in
  // eval_stream.py.
  const StreamInput input = of({{"user", "Weather in Paris?"},
                                {"assistant", "", kWeatherCall},
                                {"tool", "18C"},
                                {"assistant", "It is 18C."}});
  EXPECT_EQ(decoded(input, input.query_begin, input.query_end),
            "<tool_response>\n18C\n</tool_response>");
  EXPECT_EQ(decoded(input, input.response_begin, static_cast<int64_t>(input.ids.size())),
            "It is 18C.<|im_end|>\n");
  // It | Ġis | Ġ | 1 | 8 | C | . : [0,2) [2,5) [5,6) [6,7) [7,8) [8,9) [9,10), then the closers.
  EXPECT_EQ(input.response_offsets,
            (Offsets{{0, 2}, {2, 5}, {5, 6}, {6, 7}, {7, 8}, {8, 9}, {9, 10}, {10, 10}, {10, 10}}));
}

TEST(StreamInput, ReasoningOnAToolCallTurnMovesTheResponseStartThere) {
  // The tool-call turn after the last query carries reasoning, so the template writes its think
  // block and the official first-pair rule starts the labels at ITS answer: the response covers
  // the tool call, the tool result and the final answer. Tokens before the final content get
  // [0, 0].
  const StreamInput input = of({{"user", "Weather in Paris?"},
                                {"assistant", "<think>\nlook it up\n</think>\n\n", kWeatherCall},
                                {"tool", "18C"},
                                {"assistant", "It is 18C."}});
  const std::string response =
      decoded(input, input.response_begin, static_cast<int64_t>(input.ids.size()));
  EXPECT_EQ(response.rfind("<tool_call>\n{\"name\": \"get_weather\"", 0), 0u) << response;
  EXPECT_TRUE(contains_all(
      response, {"<tool_response>\n18C\n</tool_response>", "</think>\n\nIt is 18C.<|im_end|>\n"}));
  ASSERT_EQ(input.response_offsets.size(), input.ids.size() - input.response_begin);
  EXPECT_EQ(input.response_offsets.front(), (std::pair<int64_t, int64_t>{0, 0}));
  // The last 9 are the final answer's, as in the test above.
  const Offsets tail(input.response_offsets.end() - 9, input.response_offsets.end());
  EXPECT_EQ(tail.front(), (std::pair<int64_t, int64_t>{0, 2}));
  EXPECT_EQ(tail.back(), (std::pair<int64_t, int64_t>{10, 10}));
}

TEST(StreamInput, FinalToolCallsAreAfterTheContent) {
  // "Checking." then "\n<tool_call>...</tool_call>": 9 content bytes; every later token is [9, 9].
  const StreamInput input =
      of({{"user", "Weather in Paris?"}, {"assistant", "Checking.", kWeatherCall}});
  EXPECT_EQ(input.response_offsets[0], (std::pair<int64_t, int64_t>{0, 8}));  // "Checking"
  EXPECT_EQ(input.response_offsets[1], (std::pair<int64_t, int64_t>{8, 9}));  // "."
  for (size_t i = 2; i < input.response_offsets.size(); ++i) {
    EXPECT_EQ(input.response_offsets[i], (std::pair<int64_t, int64_t>{9, 9})) << i;
  }
}

TEST(StreamInput, PromptOnlyConversationHasNoResponse) {
  const StreamInput input = of({{"user", "Hi"}, {"assistant", "Hello"}, {"user", "Bye"}});
  EXPECT_EQ(decoded(input, input.query_begin, input.query_end), "Bye");
  EXPECT_EQ(input.query_end + 2, static_cast<int64_t>(input.ids.size()));  // "<|im_end|>" "\n"
  EXPECT_EQ(input.response_begin, -1);
  EXPECT_TRUE(input.response_offsets.empty());
}

TEST(StreamInput, ConversationWithoutAUserTurnIsRefused) {
  EXPECT_TRUE(contains_all(input_error({{"system", "Be brief."}, {"assistant", "Hello"}}),
                           {"no user turn", "<|im_end|>"}));
}

TEST(StreamInput, FinalAnswerWithoutAThinkBlockIsRefused) {
  // A user message wrapped in <tool_response> tags is no query for the template, so the final
  // assistant turn is not "after the last query" and gets no think block: no pair to start at.
  EXPECT_TRUE(contains_all(
      input_error({{"user", "<tool_response>x</tool_response>"}, {"assistant", "Hello"}}),
      {"\"</think>\"", "eval_stream.py"}));
}

TEST(StreamInput, InvalidUtf8IsRefused) {
  EXPECT_TRUE(contains_all(input_error({{"user", "Hi"}, {"assistant", "bad \xff byte"}}),
                           {"not valid UTF-8"}));
}

TEST(StreamInput, ToolTurnsRefuseIsPassedToRender) {
  EXPECT_THROW(stream_input(qwen3(),
                            {{"user", "Weather?"},
                             {"assistant", "", kWeatherCall},
                             {"tool", "18C"},
                             {"assistant", "Warm."}},
                            ToolTurns::kRefuse),
               util::InputError);
}

// A byte-level tokenizer with no merges: "\n\n" and "user" are two and four tokens.
nlohmann::json bytes_only_tokenizer_json() {
  nlohmann::json spec = nlohmann::json::parse(R"({
    "version": "1.0", "normalizer": {"type": "NFC"},
    "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
      {"type": "Split", "pattern": {"Regex": ""}, "behavior": "Isolated", "invert": false},
      {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false}]},
    "decoder": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false,
                "use_regex": false},
    "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": "",
              "end_of_word_suffix": "", "fuse_unk": false, "byte_fallback": false,
              "ignore_merges": false, "vocab": {}, "merges": []}})");
  spec["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = tokenizer::kQwen2Pattern;
  spec["post_processor"] = spec["decoder"];
  for (int b = 0; b < 256; ++b) {
    spec["model"]["vocab"][tokenizer::byte_level::token_of_byte(static_cast<uint8_t>(b))] = b;
  }
  int32_t id = 256;
  for (const char* content : {"<|im_start|>", "<|im_end|>", "<think>", "</think>"}) {
    spec["added_tokens"].push_back({{"id", id++},
                                    {"content", content},
                                    {"single_word", false},
                                    {"lstrip", false},
                                    {"rstrip", false},
                                    {"normalized", false},
                                    {"special", true}});
  }
  return spec;
}

TEST(StreamInput, TokenizerWithoutSingleMarkerTokensIsRefused) {
  testing::TempDir dir;
  std::ofstream(dir.file("tokenizer.json")) << bytes_only_tokenizer_json().dump();
  const auto bytes_only = tokenizer::Tokenizer::load(dir.path());
  // "</think>" is an added token, so the first marker that fails is "\n\n" (2 byte tokens).
  EXPECT_TRUE(contains_all(
      testing::load_error([&] {
        stream_input(*bytes_only, {{"user", "Hi"}, {"assistant", "Hello"}}, ToolTurns::kQwen3);
      }),
      {"\"\\n\\n\"", "2 tokens"}));
  EXPECT_TRUE(contains_all(testing::load_error([&] { check_stream_tokenizer(*bytes_only); }),
                           {"\"\\n\\n\"", "2 tokens"}));
  EXPECT_NO_THROW(check_stream_tokenizer(qwen3()));
}

}  // namespace
}  // namespace safrl::chat
