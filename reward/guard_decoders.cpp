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
                        bool refusal_here, const LogitOf& logit_of) {
  if (safety_here) {
    const auto& t = grammar.safety_tokens();
    sequence.safety_probs = softmax<3>({logit_of(t[0]), logit_of(t[1]), logit_of(t[2])});
  }
  if (refusal_here && sequence.task == GuardTask::kResponse) {
    const auto& t = grammar.refusal_tokens();
    sequence.refusal_prob = softmax<2>({logit_of(t[0]), logit_of(t[1])})[0];
  }
}

}  // namespace

GuardSequence::GuardSequence() {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  safety_probs = {nan, nan, nan};
}

void ConstrainedDecoder::start(GuardSequence& sequence) const {
  sequence.cursor = grammar_.start();
  for (auto allowed = grammar_.allowed(sequence.cursor); allowed.size() == 1;
       allowed = grammar_.allowed(sequence.cursor)) {
    sequence.cursor = grammar_.advance(sequence.cursor, allowed[0]);
    sequence.generated.push_back(allowed[0]);
    sequence.feed.push_back(allowed[0]);
  }
}

std::vector<int32_t> ConstrainedDecoder::allowed(const GuardSequence& sequence) const {
  return grammar_.allowed(sequence.cursor);
}

void ConstrainedDecoder::step(GuardSequence& sequence, const LogitOf& logit_of) const {
  read_probabilities(sequence, grammar_, grammar_.at_safety_choice(sequence.cursor),
                     grammar_.at_refusal_choice(sequence.cursor), logit_of);
  sequence.feed.clear();
  int32_t best = -1;
  for (int32_t token : grammar_.allowed(sequence.cursor)) {
    if (best < 0 || logit_of(token) > logit_of(best)) best = token;
  }
  for (std::vector<int32_t> next{best}; next.size() == 1 && !grammar_.done(sequence.cursor);
       next = grammar_.allowed(sequence.cursor)) {
    sequence.cursor = grammar_.advance(sequence.cursor, next[0]);
    sequence.generated.push_back(next[0]);
    sequence.feed.push_back(next[0]);
  }
  sequence.finished = grammar_.done(sequence.cursor);
}

void FreeDecoder::step(GuardSequence& sequence, const double* logits, int64_t vocab) const {
  read_probabilities(sequence, grammar_, sequence.generated == grammar_.safety_prefix(),
                     ends_with(sequence.generated, grammar_.refusal_prefix()),
                     [&](int32_t token) { return logits[token]; });
  const int32_t best = static_cast<int32_t>(std::max_element(logits, logits + vocab) - logits);
  sequence.feed.assign(1, best);
  sequence.generated.push_back(best);
  sequence.finished =
      std::find(stop_tokens_.begin(), stop_tokens_.end(), best) != stop_tokens_.end() ||
      static_cast<int>(sequence.generated.size()) >= max_new_tokens_;
}

}  // namespace safrl::reward
