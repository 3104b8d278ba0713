// The Qwen3Guard-Stream guard (Qwen3ForGuardModel): one prefill per conversation, no decoding.
// Each conversation is rendered and split as the official evaluation code does
// (chat/stream_input.h); every token gets the response head's risk label and category, and the
// user turn's <|im_end|> the query head's. The verdicts follow reward/stream_verdict.h:
//   a conversation ending with an assistant turn: response moderation, the debounced outcome of
//     the response positions' labels, with the per-position labels beside it (TokenSafety);
//   one ending with a user or tool turn: prompt moderation, the query head at the last user
//     turn's <|im_end|>.
// All conversations of a call are packed into forwards of at most max_batch_tokens tokens (a
// longer one gets a forward of its own); no KV cache is kept. Probabilities are the softmax of
// the float32 logits, computed in float64.
//
// Not thread-safe: one StreamGuard is driven by one thread (the engine thread).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "chat/message.h"
#include "chat/render.h"
#include "engine/engine.h"
#include "reward/guard.h"
#include "reward/stream_verdict.h"
#include "tokenizer/tokenizer.h"

namespace safrl::reward {

struct StreamGuardOptions {
  int64_t max_batch_tokens = 8192;  // tokens of one packed forward
  chat::ToolTurns tool_turns = chat::ToolTurns::kQwen3;
};

struct StreamJudgement {
  GuardTask task = GuardTask::kResponse;
  // Response task: refusal is nullopt (Stream has no refusal output).
  Verdict verdict;
  // Response task only: the labels of every response position.
  std::optional<TokenSafety> tokens;
  int64_t input_tokens = 0;  // tokens of the rendered conversation
};

class StreamGuard {
 public:
  // Loads a Qwen3ForGuardModel checkpoint and its tokenizer.json from `model_dir`; another
  // architecture throws util::LoadError before its weights are read.
  StreamGuard(const std::string& model_dir, const model::RunOptions& run,
              const StreamGuardOptions& options);

  const tokenizer::Tokenizer& tokenizer() const { return *tokenizer_; }
  engine::Engine& engine() { return engine_; }
  const engine::Engine& engine() const { return engine_; }
  // decode_* and prefix_tokens_saved stay 0: there is no decoding and nothing is shared.
  const GuardTiming& timing() const { return timing_; }

  // Judges each conversation; results in input order. An invalid conversation throws
  // util::InputError, one longer than the model's context util::TooLongError, each naming it as
  // names[i] when `names` is given ("conversation i" otherwise).
  std::vector<StreamJudgement> judge(const std::vector<std::vector<chat::Message>>& conversations,
                                     const std::vector<std::string>* names = nullptr);

 private:
  StreamGuardOptions options_;
  engine::Engine engine_;
  std::shared_ptr<const tokenizer::Tokenizer> tokenizer_;
  GuardTiming timing_;
};

}  // namespace safrl::reward
