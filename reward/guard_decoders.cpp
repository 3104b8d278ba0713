#include "reward/guard_decoders.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace safrl::reward {
namespace {

// Softmax over a few logits, in double.
template <size_t N>
std::array<double, N> softmax(const std::array<double, N>& logits) {
  const double top = *std::max_element(logits.begin(), logits.end());
  std::array<double, N> out{};
  double sum = 0;
  for (size_t i = 0; i < N; ++i) sum += out[i] = std::exp(logits[i] - top);
  for (double& p : out) p /= sum;
  return out;
}

bool ends_with(const std::vector<int32_t>& ids, const std::vector<int32_t>& tail) {
  return ids.size() >= tail.size() && std::equal(tail.rbegin(), tail.rend(), ids.rbegin());
}

// The class probabilities where the output picks the safety class or the refusal answer.
void read_probabilities(GuardSequence& sequence, const VerdictGrammar& grammar, bool safety_here,
                        bool refusal_here, const LogitRow& row) {
  if (safety_here) {
    const auto& t = grammar.safety_tokens();
    const std::array<double, 3> logits = {row.logit(t[0]), row.logit(t[1]), row.logit(t[2])};
    sequence.safety_probs = softmax<3>(logits);
    double mass = 0;
    for (double logit : logits) mass += std::exp(logit - row.log_normaliser);
    sequence.safety_mass = mass;
  }
  if (refusal_here && sequence.task == GuardTask::kResponse) {
    const auto& t = grammar.refusal_tokens();
    sequence.refusal_prob = softmax<2>({row.logit(t[0]), row.logit(t[1])})[0];
  }
}

}  // namespace

GuardSequence::GuardSequence() {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  safety_probs = {nan, nan, nan};
}

int64_t GuardSequence::rows_needed() const {
  return static_cast<int64_t>(unchecked) + 1;
}

std::vector<int32_t> label_tokens(const VerdictGrammar& grammar) {
  std::vector<int32_t> tokens(grammar.safety_tokens().begin(), grammar.safety_tokens().end());
  tokens.insert(tokens.end(), grammar.refusal_tokens().begin(), grammar.refusal_tokens().end());
  return tokens;
}

void FreeDecoder::step(GuardSequence& sequence, const LogitRow& row) const {
  read_probabilities(sequence, grammar_, sequence.generated == grammar_.safety_prefix(),
                     ends_with(sequence.generated, grammar_.refusal_prefix()), row);
  sequence.feed.assign(1, row.greedy);
  sequence.generated.push_back(row.greedy);
  sequence.finished =
      std::find(stop_tokens_.begin(), stop_tokens_.end(), row.greedy) != stop_tokens_.end() ||
      static_cast<int>(sequence.generated.size()) >= max_new_tokens_;
}

void ConstrainedDecoder::append(GuardSequence& sequence, int32_t token) const {
  sequence.cursor = grammar_.advance(sequence.cursor, token);
  sequence.generated.push_back(token);
  sequence.feed.push_back(token);
}

void ConstrainedDecoder::append_forced(GuardSequence& sequence) const {
  for (auto next = grammar_.allowed(sequence.cursor); next.size() == 1;
       next = grammar_.allowed(sequence.cursor)) {
    append(sequence, next[0]);
    ++sequence.unchecked;
  }
}

void ConstrainedDecoder::start(GuardSequence& sequence) const {
  sequence.decoded_by = DecodedBy::kConstrained;
  sequence.cursor = grammar_.start();
  append_forced(sequence);
}

std::vector<int32_t> ConstrainedDecoder::choices(const GuardSequence& sequence) const {
  return grammar_.allowed(sequence.cursor);
}

std::optional<ConstrainedDecoder::Departure> ConstrainedDecoder::step(
    GuardSequence& sequence, const std::vector<LogitRow>& rows) const {
  const size_t max_new = static_cast<size_t>(max_new_tokens_);
  const size_t generated = sequence.generated.size();
  const size_t first = generated - sequence.unchecked;  // position of the first unchecked token
  // Row j is the model's choice for position first + j.
  for (size_t j = 0; j < sequence.unchecked; ++j) {
    if (first + j >= max_new) break;  // past the budget: never generated
    if (rows[j].greedy != sequence.generated[first + j]) {
      sequence.generated.resize(first + j);
      sequence.unchecked = 0;
      return Departure{j, generated - (first + j)};
    }
  }
  sequence.unchecked = 0;
  sequence.feed.clear();
  if (generated >= max_new || grammar_.done(sequence.cursor)) {
    // Free decoding writes no more than max_new_tokens either.
    if (generated > max_new) sequence.generated.resize(max_new);
    sequence.finished = true;
    return std::nullopt;
  }
  const LogitRow& row = rows.back();
  read_probabilities(sequence, grammar_, grammar_.at_safety_choice(sequence.cursor),
                     grammar_.at_refusal_choice(sequence.cursor), row);
  const std::vector<int32_t> allowed = grammar_.allowed(sequence.cursor);
  if (!std::binary_search(allowed.begin(), allowed.end(), row.greedy)) {
    return Departure{rows.size() - 1, 0};
  }
  // The model's choice, then every token the grammar forces after it (checked next forward).
  append(sequence, row.greedy);
  append_forced(sequence);
  sequence.finished = grammar_.done(sequence.cursor) && sequence.unchecked == 0;
  return std::nullopt;
}

}  // namespace safrl::reward
