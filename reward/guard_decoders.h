// The guard's two decoders (docs/reward.md): how one conversation's next tokens are chosen from
// the logits of a forward. Guard::run_batch prefills a batch, then runs forwards and hands each
// sequence's rows to the decoder of its mode. Internal to the reward layer.
//
//   FreeDecoder         greedy over the whole vocabulary until an end token or max_new_tokens,
//                       as the official code.
//   ConstrainedDecoder  the same greedy tokens while they follow the verdict grammar, computed
//                       with fewer forwards: tokens the grammar forces are fed without a forward of
//                       their own, and checked at the next forward against the model's greedy
//                       choice there (one row of logits each). Where the model's greedy token is
//                       not what the grammar allows (a forced token, or none of a choice's
//                       tokens), the sequence leaves the grammar: it is cut back to that position
//                       and continues by free decoding. So a constrained verdict is always the one
//                       free decoding gives, and output the model writes outside the format is
//                       parsed with the official regexes like any free output (unparseable is
//                       never Safe).
// Both read the class probabilities where the output picks the safety class and the refusal
// answer. The decoders are stateless: the state is in the GuardSequence.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

#include "reward/decoded_by.h"
#include "reward/verdict_grammar.h"

namespace safrl::reward {

// One conversation's decoding state.
struct GuardSequence {
  GuardTask task = GuardTask::kPrompt;
  DecodedBy decoded_by = DecodedBy::kFree;
  std::vector<int32_t> generated;  // output so far
  std::vector<int32_t> feed;       // tokens the next forward appends
  // Constrained: its place in the grammar, and how many tokens at the end of `generated` the
  // grammar forced that the model has not yet been checked on.
  VerdictGrammar::Cursor cursor;
  size_t unchecked = 0;
  std::array<double, 3> safety_probs;  // renormalised over the three labels; NaN: not reached
  std::optional<double> safety_mass;   // the three labels' probability over the whole vocabulary
  std::optional<double> refusal_prob;
  bool finished = false;

  GuardSequence();
  // Rows of logits the next forward must give: one per unchecked token, and the next choice.
  int64_t rows_needed() const;
};

// One row of logits as the decoders read it: the whole-vocabulary greedy token, the log of the
// softmax's normaliser, and the logits of the few tokens a decoder may ask for.
struct LogitRow {
  int32_t greedy = 0;
  double log_normaliser = 0;
  const double* columns = nullptr;
  const std::unordered_map<int32_t, int64_t>* column_of = nullptr;

  double logit(int32_t token) const { return columns[column_of->at(token)]; }
};

class FreeDecoder {
 public:
  FreeDecoder(const VerdictGrammar& grammar, std::vector<int32_t> stop_tokens, int max_new_tokens)
      : grammar_(grammar), stop_tokens_(std::move(stop_tokens)), max_new_tokens_(max_new_tokens) {}
  // Appends the greedy token of `row`, the row after the last generated token.
  void step(GuardSequence& sequence, const LogitRow& row) const;

 private:
  const VerdictGrammar& grammar_;
  std::vector<int32_t> stop_tokens_;
  int max_new_tokens_;
};

class ConstrainedDecoder {
 public:
  ConstrainedDecoder(const VerdictGrammar& grammar, int max_new_tokens)
      : grammar_(grammar), max_new_tokens_(max_new_tokens) {}
  // Appends the grammar's forced opening ("Safety:") to the feed, so it joins the prefill.
  void start(GuardSequence& sequence) const;
  // The tokens of the grammar's next choice (empty once done), whose logits step() reads.
  std::vector<int32_t> choices(const GuardSequence& sequence) const;

  // Where the model left the grammar: the row of `rows` whose greedy token it did not allow,
  // and how many generated tokens after that row were cut (the caller drops them from the
  // cache too, then lets the free decoder continue from that row).
  struct Departure {
    size_t row;
    size_t cut;
  };
  // Checks the unchecked tokens against `rows` (rows_needed() of them, in position order), then
  // chooses at the last row. Returns the departure when the model left the grammar.
  std::optional<Departure> step(GuardSequence& sequence, const std::vector<LogitRow>& rows) const;

 private:
  // Appends `token` to the output and the next feed, advancing the grammar.
  void append(GuardSequence& sequence, int32_t token) const;
  // Appends every token the grammar forces from here; each is unchecked until the next forward.
  void append_forced(GuardSequence& sequence) const;

  const VerdictGrammar& grammar_;
  int max_new_tokens_;
};

// The token ids whose logits the decoders read besides a constrained sequence's choices: the
// safety and refusal label tokens.
std::vector<int32_t> label_tokens(const VerdictGrammar& grammar);

}  // namespace safrl::reward
