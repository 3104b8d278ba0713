// The Qwen3Guard-Gen guard: renders each conversation with the guard template, tokenizes it,
// prefills all of a batch packed, then decodes them together with their KV caches, greedy, and
// parses the verdicts.
//
// Decoding modes (guard_decoders.h):
//   free         plain greedy decoding over the whole vocabulary, up to max_new_tokens or an end
//                token, parsed with the official regexes; output that does not parse has no
//                verdict (never Safe).
//   constrained  the same tokens as free decoding, with fewer forwards: tokens the verdict
//                grammar forces are fed without a forward of their own and checked at the next
//                one. Where the model's greedy token leaves the grammar, the sequence falls back
//                to free decoding from that position (GuardOutput::decoded_by says so), so the
//                grammar never puts a verdict in the model's mouth.
// In both, the class probabilities are the softmax over the three label tokens' logits where
// the output picks its label (with the three labels' mass over the whole vocabulary beside
// them), and P(Yes) the softmax over {Yes, No} where it answers the refusal question.
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
#include <tuple>
#include <vector>

#include "chat/message.h"
#include "chat/render.h"
#include "engine/engine.h"
#include "reward/config.h"
#include "reward/guard_decoders.h"
#include "reward/stream_verdict.h"
#include "reward/verdict.h"
#include "reward/verdict_grammar.h"
#include "tokenizer/tokenizer.h"
#include "util/counter_fields.h"

namespace safrl::reward {

struct GuardOptions {
  GuardDecoding decoding = GuardDecoding::kConstrained;
  int max_new_tokens = 128;         // official decoding: 128
  int64_t max_batch_tokens = 8192;  // prefill budget of one packed batch
  // Compute the template's head once per task and a group's common prompt tokens once; off, every
  // sequence computes all of its tokens (to measure what reuse saves).
  bool share_prefixes = true;
  // Tool calls and tool results: rendered as Qwen3's chat template writes them, or refused
  // (config guard.tool_turns).
  chat::ToolTurns tool_turns = chat::ToolTurns::kQwen3;
};

struct GuardOutput {
  std::optional<Verdict> verdict;   // nullopt: output that does not parse (never Safe)
  std::string text;                 // generated text, special tokens skipped
  int64_t input_tokens = 0;         // tokens of the rendered prompt
  int64_t output_tokens = 0;        // tokens generated (the end token included)
  std::vector<int32_t> output_ids;  // those tokens' ids, in order
  DecodedBy decoded_by = DecodedBy::kFree;
  // The probability the three safety labels hold together over the whole vocabulary where the
  // output picks its label (verdict->safety_probs are renormalised over the three); nullopt when
  // the output never reached that point.
  std::optional<double> safety_mass;
  // A Stream guard's response judgement: the labels of every response position (offsets in bytes
  // of the judged answer, chat::StreamInput). Kept here so that a cached judgement carries them.
  std::optional<TokenSafety> token_safety;
};

struct GuardTiming {
  double prefill_seconds = 0;
  double decode_seconds = 0;
  int64_t prefill_tokens = 0;       // tokens actually computed (shared heads not counted)
  int64_t decode_steps = 0;         // forwards after the prefill
  int64_t prefix_tokens_saved = 0;  // tokens not computed thanks to the template head's cache
                                    // and shared group prefixes

  // Every member, once, for util/counter_fields.h (one not listed fails the build).
  static constexpr auto fields() {
    return std::make_tuple(&GuardTiming::prefill_seconds, &GuardTiming::decode_seconds,
                           &GuardTiming::prefill_tokens, &GuardTiming::decode_steps,
                           &GuardTiming::prefix_tokens_saved);
  }
  // What was spent between two readings.
  friend GuardTiming operator-(const GuardTiming& a, const GuardTiming& b) {
    return util::subtract_fields(a, b);
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

  // Token ids of the guard prompt for `conversation` (last role user or tool: prompt moderation;
  // assistant: response moderation), rendered with options.tool_turns. Throws util::InputError
  // for an invalid conversation.
  std::vector<int32_t> encode(const std::vector<chat::Message>& conversation) const;

  // Judges each conversation; results in input order. A conversation too long for the context
  // throws util::TooLongError naming it as names[i] when `names` is given ("conversation i"
  // otherwise).
  std::vector<GuardOutput> judge(const std::vector<std::vector<chat::Message>>& conversations,
                                 const std::vector<std::string>* names = nullptr);

 private:
  struct Item;
  // Prefix sharing and head caches: each item's cache, and its feed set to what they left.
  void prefill_caches(std::vector<Item*>& batch);
  // Prefill, then forwards until every item's decoder has finished.
  void run_batch(std::vector<Item*>& batch);
  // One forward of that loop: what it feeds and which logits it asks for, the forward itself
  // (timed as prefill when `first`, else as a decode step), and each item's decoder on its rows.
  struct StepRequest;
  struct StepLogits;
  StepRequest plan_step(const std::vector<Item*>& active) const;
  StepLogits forward(const StepRequest& request, bool first);
  void advance(Item& item, const std::vector<LogitRow>& rows);
  model::KvCache& head_cache(GuardTask task);
  const std::vector<int32_t>& head_ids(GuardTask task);

  GuardOptions options_;
  engine::Engine engine_;
  std::shared_ptr<const tokenizer::Tokenizer> tokenizer_;
  // The grammars live on the heap: the decoders keep references to them.
  std::map<GuardTask, std::unique_ptr<VerdictGrammar>> grammars_;
  std::map<GuardTask, ConstrainedDecoder> constrained_;
  std::map<GuardTask, FreeDecoder> free_;
  // The safety and refusal label tokens of both tasks: every forward returns their logits.
  std::vector<int32_t> label_columns_;
  std::map<GuardTask, std::vector<int32_t>> head_ids_;
  std::map<GuardTask, std::unique_ptr<model::KvCache>> head_caches_;
  GuardTiming timing_;
};

}  // namespace safrl::reward
