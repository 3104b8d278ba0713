// The Qwen3Guard-Gen guard: renders each conversation with the guard template, tokenizes it,
// prefills all of a batch packed, then decodes them together with their KV caches, greedy, and
// parses the verdicts.
//
// Decoding modes:
//   constrained  every step may only continue the verdict grammar (verdict_grammar.h), so every
//                verdict parses; steps with a single allowed token are fed without a forward of
//                their own, and the LM head is computed only for the allowed tokens. The class
//                probabilities are the softmax over the three verdict tokens' logits at the
//                verdict position, and P(Yes) the softmax over {Yes, No} at the refusal position.
//   free         plain greedy decoding over the whole vocabulary, up to max_new_tokens or an end
//                token, parsed with the official regexes; output that does not parse has no
//                verdict (never Safe). Probabilities are read where the output has them.
// The guard template's head is the same for every conversation of a task: its KV cache is
// computed once and every sequence continues a fork of it (exactly the same numbers, as the
// token ids are checked to start with the head's ids).
//
// Not thread-safe: one Guard is driven by one thread (the engine thread).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "chat/message.h"
#include "engine/engine.h"
#include "reward/config.h"
#include "reward/guard_decoders.h"
#include "reward/verdict.h"
#include "reward/verdict_grammar.h"
#include "tokenizer/tokenizer.h"

namespace safrl::reward {

struct GuardOptions {
  GuardDecoding decoding = GuardDecoding::kConstrained;
  int max_new_tokens = 128;         // official decoding: 128
  int64_t max_batch_tokens = 8192;  // prefill budget of one packed batch
  bool share_prefixes = true;       // compute a group's common prompt tokens once
};

struct GuardOutput {
  std::optional<Verdict> verdict;   // nullopt: free-mode output that does not parse
  std::string text;                 // generated text, special tokens skipped
  int64_t input_tokens = 0;         // tokens of the rendered prompt
  int64_t output_tokens = 0;        // tokens generated (the end token included)
  std::vector<int32_t> output_ids;  // those tokens' ids, in order
};

struct GuardTiming {
  double prefill_seconds = 0;
  double decode_seconds = 0;
  int64_t prefill_tokens = 0;       // tokens actually computed (shared heads not counted)
  int64_t decode_steps = 0;         // forwards after the prefill
  int64_t prefix_tokens_saved = 0;  // tokens not computed thanks to shared group prefixes

  // What was spent between two readings.
  friend GuardTiming operator-(GuardTiming a, const GuardTiming& b) {
    a.prefill_seconds -= b.prefill_seconds;
    a.decode_seconds -= b.decode_seconds;
    a.prefill_tokens -= b.prefill_tokens;
    a.decode_steps -= b.decode_steps;
    a.prefix_tokens_saved -= b.prefix_tokens_saved;
    return a;
  }
};

class Guard {
 public:
  // Loads the model and its tokenizer (tokenizer.json in the same directory).
  Guard(const std::string& model_dir, const model::RunOptions& run, const GuardOptions& options);

  const tokenizer::Tokenizer& tokenizer() const { return *tokenizer_; }
  engine::Engine& engine() { return engine_; }
  const engine::Engine& engine() const { return engine_; }
  const GuardTiming& timing() const { return timing_; }

  // Token ids of the guard prompt for `conversation` (last role user: prompt moderation;
  // assistant: response moderation). Throws util::InputError for an invalid conversation.
  std::vector<int32_t> encode(const std::vector<chat::Message>& conversation) const;

  // Judges each conversation; results in input order.
  std::vector<GuardOutput> judge(const std::vector<std::vector<chat::Message>>& conversations);

 private:
  struct Item;
  // Prefix sharing and head caches: each item's cache, and its feed set to what they left.
  void prefill_caches(std::vector<Item*>& batch);
  // Prefill, then forwards until every item's decoder has finished.
  void run_batch(std::vector<Item*>& batch);
  model::KvCache& head_cache(GuardTask task);
  const std::vector<int32_t>& head_ids(GuardTask task);

  GuardOptions options_;
  engine::Engine engine_;
  std::shared_ptr<const tokenizer::Tokenizer> tokenizer_;
  // The grammars live on the heap: the decoders keep references to them.
  std::map<GuardTask, std::unique_ptr<VerdictGrammar>> grammars_;
  std::map<GuardTask, ConstrainedDecoder> constrained_;
  std::map<GuardTask, FreeDecoder> free_;
  std::map<GuardTask, std::vector<int32_t>> head_ids_;
  std::map<GuardTask, std::unique_ptr<model::KvCache>> head_caches_;
  GuardTiming timing_;
};

}  // namespace safrl::reward
