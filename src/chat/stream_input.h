// The token sequence Qwen3Guard-Stream reads, and where its query and response labels are.
//
// Exactly the procedure of the official evaluation code (QwenLM/Qwen3Guard eval/eval_stream.py;
// docs/stream-guard.md):
//   text = apply_chat_template(conversation, tokenize=False, add_generation_prompt=False,
//                              enable_thinking=False)      (chat::render(ChatFormat::kQwen3, ...))
//   ids  = tokenizer(text)                                 (Qwen adds no BOS: ids = encode(text))
//   query: the LAST "<|im_start|>" immediately followed by "user"; its content begins 3 tokens
//          later (after "<|im_start|>", "user", "\n"); the query verdict is read at the first
//          "<|im_end|>" at or after that position.
//   response: the labels start right after the FIRST "</think>" immediately followed by "\n\n"
//          and run to the end of ids (the final "<|im_end|>" and "\n" included).
// The official code compares decoded single tokens; here the ids of those five tokens are compared,
// which is the same thing once each is checked to be one token of the tokenizer.
//
// Which response the first "</think>" "\n\n" pair selects: Qwen3's template writes a think block
// only for assistant turns after the last user query, and always for the final message when it is
// an assistant turn ("<think>\n\n</think>\n\n" when it has no reasoning). So in a conversation
// whose assistant turns after the last user query carry no reasoning of their own, the pair is
// the final assistant message's and the labels cover exactly its answer. An assistant turn after
// the last user query that does carry reasoning (e.g. a tool-calling turn written with
// "<think>...</think>") gets its own think block, and the official rule then starts the labels at
// THAT turn's answer: the response span covers it, the tool results after it and the final
// answer, as eval_stream.py would (kept exact, not corrected). response_offsets are still the
// final message's: positions before its content get [0, 0].
//
// Pure function; thread-safe (the tokenizer is immutable).
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "chat/message.h"
#include "chat/render.h"

namespace safrl::tokenizer {
class Tokenizer;
}

namespace safrl::chat {

struct StreamInput {
  std::vector<int32_t> ids;     // the rendered conversation's tokens
  int64_t query_begin = -1;     // content_begin of the last user turn
  int64_t query_end = -1;       // its <|im_end|>: the query verdict is read here
  int64_t response_begin = -1;  // first response label position; -1 when the conversation
                                // does not end with an assistant turn (prompt only)
  // For each position in [response_begin, ids.size()): [begin, end) byte offsets of that
  // token's text inside the final assistant message's content (Message::content as given, think
  // block included when it is written inline). Tokens after the content (<|im_end|>, "\n", tool
  // calls) get [size, size]; tokens before it (only when an earlier turn's think block is
  // selected, see above) get [0, 0]. A multi-byte character split across tokens gives each token
  // the bytes it carries. The tokenizer reads NFC: where NFC changes the text ("e\u0301" -> "é"),
  // a token covering a changed run gets the run's original bytes (tokens splitting such a run
  // each get all of it).
  std::vector<std::pair<int64_t, int64_t>> response_offsets;
};

// The Stream guard's input for `conversation`, rendered with `tool_turns`. Throws
// util::InputError when render() refuses the conversation, when it is not valid UTF-8, has no
// user turn, or ends with an assistant turn and has no "</think>" "\n\n" pair; util::LoadError
// when one of "</think>", "\n\n", "<|im_start|>", "user", "<|im_end|>" is not a single token of
// `tokenizer`.
StreamInput stream_input(const tokenizer::Tokenizer& tokenizer,
                         const std::vector<Message>& conversation, ToolTurns tool_turns);

// Throws the util::LoadError stream_input() would throw for `tokenizer`, so a guard can refuse
// a wrong tokenizer when it loads rather than at its first request.
void check_stream_tokenizer(const tokenizer::Tokenizer& tokenizer);

}  // namespace safrl::chat
