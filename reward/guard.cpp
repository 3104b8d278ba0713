#include "reward/guard.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <unordered_map>

#include "chat/render.h"
#include "engine/batch_plan.h"
#include "engine/prefix_sharing.h"
#include "util/error.h"

namespace safrl::reward {

namespace {

using Clock = std::chrono::steady_clock;

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

}  // namespace

// One conversation on its way through prefill and decode.
struct Guard::Item {
  size_t index = 0;
  GuardTask task = GuardTask::kPrompt;
  std::vector<int32_t> ids;        // the whole rendered prompt
  size_t shared = 0;               // leading ids covered by the task's head cache
  std::string group_key;           // the conversation before its last message
  std::vector<int32_t> generated;  // output so far (forced tokens included)
  std::vector<int32_t> feed;       // tokens the next forward appends
  VerdictGrammar::Cursor cursor;   // constrained mode
  std::unique_ptr<model::KvCache> cache;
  std::array<double, 3> safety_probs{};
  std::optional<double> refusal_prob;
  bool finished = false;
};

Guard::Guard(const std::string& model_dir, const model::RunOptions& run,
             const GuardOptions& options)
    : options_(options),
      engine_(model_dir, run),
      tokenizer_(tokenizer::Tokenizer::load(model_dir)) {
  if (engine_.config().head != io::HeadKind::kCausalLM) {
    throw util::LoadError(util::cat(model_dir, " is a ",
                                    io::architecture_name(engine_.config().architecture),
                                    "; the guard must be a causal LM (Qwen3Guard-Gen is "
                                    "Qwen3ForCausalLM)"));
  }
  if (tokenizer_->vocab_size() > engine_.config().vocab_size) {
    throw util::LoadError(util::cat(model_dir, ": the tokenizer has ", tokenizer_->vocab_size(),
                                    " tokens but the model's vocabulary only ",
                                    engine_.config().vocab_size));
  }
  if (options_.max_new_tokens < 1) throw util::LoadError("guard max_new_tokens must be >= 1");
  for (GuardTask task : {GuardTask::kPrompt, GuardTask::kResponse}) {
    grammars_.emplace(task, VerdictGrammar(*tokenizer_, task));
  }
  // Generation stops at <|im_end|> (the chat turn's end) or <|endoftext|>, as the checkpoints'
  // generation_config says.
  for (const char* stop : {"<|im_end|>", "<|endoftext|>"}) {
    if (auto id = tokenizer_->token_to_id(stop)) stop_tokens_.push_back(*id);
  }
  if (engine_.config().eos_token_id) stop_tokens_.push_back(*engine_.config().eos_token_id);
}

std::vector<int32_t> Guard::encode(const std::vector<chat::Message>& conversation) const {
  return tokenizer_->encode(chat::render(chat::ChatFormat::kGuard, conversation));
}

const std::vector<int32_t>& Guard::head_ids(GuardTask task) {
  auto it = head_ids_.find(task);
  if (it == head_ids_.end()) {
    it = head_ids_.emplace(task, tokenizer_->encode(std::string(chat::guard_head(task)))).first;
  }
  return it->second;
}

model::KvCache& Guard::head_cache(GuardTask task) {
  auto& slot = head_caches_[task];
  if (!slot) {
    slot = std::make_unique<model::KvCache>(engine_.new_cache());
    const auto& ids = head_ids(task);
    engine_.hidden_states({{ids, slot.get()}});
    timing_.prefill_tokens += static_cast<int64_t>(ids.size());
  }
  return *slot;
}

std::vector<GuardOutput> Guard::judge(
    const std::vector<std::vector<chat::Message>>& conversations) {
  c10::InferenceMode inference;
  std::vector<Item> items(conversations.size());
  std::vector<int64_t> lengths;
  for (size_t i = 0; i < conversations.size(); ++i) {
    Item& item = items[i];
    item.index = i;
    item.task = chat::guard_mode(conversations[i]);
    item.ids = encode(conversations[i]);
    const int64_t context = engine_.config().max_position_embeddings;
    if (context > 0 && static_cast<int64_t>(item.ids.size()) + options_.max_new_tokens > context) {
      throw util::TooLongError(util::cat(
          "conversation ", i, " renders to ", item.ids.size(), " guard tokens; with ",
          options_.max_new_tokens, " new tokens that passes the guard's context of ", context));
    }
    for (size_t m = 0; m + 1 < conversations[i].size(); ++m) {
      item.group_key += conversations[i][m].role + '\0' + conversations[i][m].content + '\0';
    }
    const auto& head = head_ids(item.task);
    if (item.ids.size() > head.size() && std::equal(head.begin(), head.end(), item.ids.begin())) {
      item.shared = head.size();
    }
    lengths.push_back(static_cast<int64_t>(item.ids.size() - item.shared));
  }
  for (const auto& indices : engine::plan_batches(lengths, options_.max_batch_tokens)) {
    std::vector<Item*> batch;
    for (size_t i : indices) batch.push_back(&items[i]);
    run_batch(batch);
  }
  std::vector<GuardOutput> outputs(items.size());
  for (Item& item : items) {
    GuardOutput& out = outputs[item.index];
    // Ids past the tokenizer's vocabulary (unused embedding rows) decode to nothing, as in
    // Hugging Face's decode.
    std::vector<int32_t> known;
    for (int32_t id : item.generated) {
      if (id < tokenizer_->vocab_size()) known.push_back(id);
    }
    out.text = tokenizer_->decode(known, /*skip_special_tokens=*/true);
    out.input_tokens = static_cast<int64_t>(item.ids.size());
    out.output_tokens = static_cast<int64_t>(item.generated.size());
    out.output_ids = std::move(item.generated);
    out.verdict = parse_verdict(out.text, item.task);
    if (out.verdict) {
      out.verdict->safety_probs = item.safety_probs;
      out.verdict->refusal_prob = item.refusal_prob;
    }
  }
  return outputs;
}

void Guard::run_batch(std::vector<Item*>& batch) {
  const bool constrained = options_.decoding == GuardDecoding::kConstrained;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  // Conversations that differ only in their last message (a GRPO group's responses) share
  // their common tokens; every sequence continues its task's head cache when its ids start with
  // the head.
  std::vector<engine::SequenceToShare> to_share;
  for (Item* item : batch) {
    // Without sharing, each sequence is its own group (the head cache is still used).
    to_share.push_back(
        {&item->ids,
         options_.share_prefixes ? item->group_key : "\x01unshared " + std::to_string(item->index),
         item->shared > 0 ? &head_cache(item->task) : nullptr});
  }
  engine::SharingStats sharing;
  const auto sharing_start = Clock::now();
  auto starts = engine::start_shared(engine_, to_share, &sharing);
  timing_.prefill_seconds += std::chrono::duration<double>(Clock::now() - sharing_start).count();
  timing_.prefill_tokens += sharing.computed;
  timing_.prefix_tokens_saved += sharing.saved;
  for (size_t b = 0; b < batch.size(); ++b) {
    Item* item = batch[b];
    item->cache = std::move(starts[b].cache);
    item->feed.assign(item->ids.begin() + static_cast<std::ptrdiff_t>(starts[b].covered),
                      item->ids.end());
    item->safety_probs = {nan, nan, nan};
    if (constrained) {
      // The grammar's forced opening ("Safety:") joins the prefill.
      const VerdictGrammar& grammar = grammars_.at(item->task);
      item->cursor = grammar.start();
      for (auto allowed = grammar.allowed(item->cursor); allowed.size() == 1;
           allowed = grammar.allowed(item->cursor)) {
        item->cursor = grammar.advance(item->cursor, allowed[0]);
        item->generated.push_back(allowed[0]);
        item->feed.push_back(allowed[0]);
      }
    }
  }

  bool first = true;
  while (true) {
    std::vector<Item*> active;
    for (Item* item : batch) {
      if (!item->finished) active.push_back(item);
    }
    if (active.empty()) break;
    std::vector<engine::SequenceInput> inputs;
    int64_t fed = 0;
    for (Item* item : active) {
      inputs.push_back({item->feed, item->cache.get()});
      fed += static_cast<int64_t>(item->feed.size());
    }
    // Constrained: the LM head only over the union of the tokens any sequence may take next.
    std::optional<std::vector<int64_t>> columns;
    std::unordered_map<int32_t, int64_t> column_of;
    if (constrained) {
      columns.emplace();
      for (Item* item : active) {
        for (int32_t token : grammars_.at(item->task).allowed(item->cursor)) {
          if (column_of.emplace(token, static_cast<int64_t>(columns->size())).second) {
            columns->push_back(token);
          }
        }
      }
    }
    const auto start = Clock::now();
    at::Tensor logits = engine_.last_logits(inputs, columns).to(at::kDouble).cpu().contiguous();
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (first) {
      timing_.prefill_seconds += seconds;
      timing_.prefill_tokens += fed;
    } else {
      timing_.decode_seconds += seconds;
      ++timing_.decode_steps;
    }
    first = false;

    const auto vocab_columns = logits.size(1);
    for (size_t row = 0; row < active.size(); ++row) {
      Item& item = *active[row];
      const double* scores = logits.data_ptr<double>() + row * vocab_columns;
      auto logit_of = [&](int32_t token) {
        return scores[constrained ? column_of.at(token) : token];
      };
      const VerdictGrammar& grammar = grammars_.at(item.task);
      const bool safety_here = constrained ? grammar.at_safety_choice(item.cursor)
                                           : item.generated == grammar.safety_prefix();
      const bool refusal_here = constrained ? grammar.at_refusal_choice(item.cursor)
                                            : ends_with(item.generated, grammar.refusal_prefix());
      if (safety_here) {
        const auto& t = grammar.safety_tokens();
        item.safety_probs = softmax<3>({logit_of(t[0]), logit_of(t[1]), logit_of(t[2])});
      }
      if (refusal_here && item.task == GuardTask::kResponse) {
        const auto& t = grammar.refusal_tokens();
        item.refusal_prob = softmax<2>({logit_of(t[0]), logit_of(t[1])})[0];
      }
      item.feed.clear();
      if (constrained) {
        // Greedy among the allowed tokens, then every forced token after it.
        int32_t best = -1;
        for (int32_t token : grammar.allowed(item.cursor)) {
          if (best < 0 || logit_of(token) > logit_of(best)) best = token;
        }
        for (std::vector<int32_t> allowed{best}; allowed.size() == 1 && !grammar.done(item.cursor);
             allowed = grammar.allowed(item.cursor)) {
          item.cursor = grammar.advance(item.cursor, allowed[0]);
          item.generated.push_back(allowed[0]);
          item.feed.push_back(allowed[0]);
        }
        item.finished = grammar.done(item.cursor);
      } else {
        const int32_t best =
            static_cast<int32_t>(std::max_element(scores, scores + vocab_columns) - scores);
        item.generated.push_back(best);
        item.feed.push_back(best);
        item.finished =
            std::find(stop_tokens_.begin(), stop_tokens_.end(), best) != stop_tokens_.end() ||
            static_cast<int>(item.generated.size()) >= options_.max_new_tokens;
      }
    }
  }
  for (Item* item : batch) item->cache.reset();
}

}  // namespace safrl::reward
