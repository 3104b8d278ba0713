// The guard's two decoders (docs/reward.md): how one conversation's next tokens are chosen from
// the logits of its last position. Guard::run_batch prefills a batch, then runs forwards and
// hands each sequence's row to the decoder of the configured mode. Internal to the reward layer.
//
//   ConstrainedDecoder  every step may only continue the verdict grammar; tokens the grammar
//                       forces are appended without a forward of their own, and the LM head is
//                       needed only for the tokens the grammar allows next.
//   FreeDecoder         greedy over the whole vocabulary until an end token or max_new_tokens,
//                       as the official code.
// Both read the class probabilities where the output picks the safety class and the refusal
// answer. Stateless: all state is in the GuardSequence they are given.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "reward/verdict_grammar.h"

namespace safrl::reward {

// One conversation's decoding state.
struct GuardSequence {
  GuardTask task = GuardTask::kPrompt;
  std::vector<int32_t> generated;  // output so far (forced tokens included)
  std::vector<int32_t> feed;       // tokens the next forward appends
  VerdictGrammar::Cursor cursor;   // constrained decoding's place in the grammar
  std::array<double, 3> safety_probs;
  std::optional<double> refusal_prob;
  bool finished = false;

  GuardSequence();
};

// The logit of a token in a sequence's row of the last forward.
using LogitOf = std::function<double(int32_t token)>;

class ConstrainedDecoder {
 public:
  explicit ConstrainedDecoder(const VerdictGrammar& grammar) : grammar_(grammar) {}
  // Appends the grammar's forced opening ("Safety:") to the feed, so it joins the prefill.
  void start(GuardSequence& sequence) const;
  // The tokens whose logits the next step reads.
  std::vector<int32_t> allowed(const GuardSequence& sequence) const;
  // Greedy among the allowed tokens, then every token the grammar forces after it.
  void step(GuardSequence& sequence, const LogitOf& logit_of) const;

 private:
  const VerdictGrammar& grammar_;
};

class FreeDecoder {
 public:
  FreeDecoder(const VerdictGrammar& grammar, std::vector<int32_t> stop_tokens, int max_new_tokens)
      : grammar_(grammar), stop_tokens_(std::move(stop_tokens)), max_new_tokens_(max_new_tokens) {}
  // Greedy over the row `logits` of `vocab` columns.
  void step(GuardSequence& sequence, const double* logits, int64_t vocab) const;

 private:
  const VerdictGrammar& grammar_;
  std::vector<int32_t> stop_tokens_;
  int max_new_tokens_;
};

}  // namespace safrl::reward
