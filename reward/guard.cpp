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
#include "reward/judged_turns.h"
#include "util/error.h"

namespace safrl::reward {

namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

// One conversation on its way through prefill and decode.
struct Guard::Item {
  size_t index = 0;
  std::vector<int32_t> ids;  // the whole rendered prompt
  size_t shared = 0;         // leading ids covered by the task's head cache
  std::string group_key;     // the conversation before its last message
  GuardSequence sequence;
  std::unique_ptr<model::KvCache> cache;
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
  // Generation stops at <|im_end|> (the chat turn's end) or <|endoftext|>, as the checkpoints'
  // generation_config says.
  std::vector<int32_t> stop_tokens;
  for (const char* stop : {"<|im_end|>", "<|endoftext|>"}) {
    if (auto id = tokenizer_->token_to_id(stop)) stop_tokens.push_back(*id);
  }
  if (engine_.config().eos_token_id) stop_tokens.push_back(*engine_.config().eos_token_id);
  for (GuardTask task : {GuardTask::kPrompt, GuardTask::kResponse}) {
    const VerdictGrammar& grammar =
        *grammars_.emplace(task, std::make_unique<VerdictGrammar>(*tokenizer_, task)).first->second;
    constrained_.emplace(task, ConstrainedDecoder(grammar, options_.max_new_tokens));
    free_.emplace(task, FreeDecoder(grammar, stop_tokens, options_.max_new_tokens));
    for (int32_t token : label_tokens(grammar)) {
      if (std::find(label_columns_.begin(), label_columns_.end(), token) == label_columns_.end()) {
        label_columns_.push_back(token);
      }
    }
  }
}

std::vector<int32_t> Guard::encode(const std::vector<chat::Message>& conversation) const {
  chat::RenderOptions render;
  render.tool_turns = options_.tool_turns;
  return tokenizer_->encode(chat::render(chat::ChatFormat::kGuard, conversation, render));
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

std::vector<GuardOutput> Guard::judge(const std::vector<std::vector<chat::Message>>& conversations,
                                      const std::vector<std::string>* names) {
  c10::InferenceMode inference;
  std::vector<Item> items(conversations.size());
  std::vector<int64_t> lengths;
  for (size_t i = 0; i < conversations.size(); ++i) {
    Item& item = items[i];
    item.index = i;
    try {
      item.sequence.task = chat::guard_task(conversations[i]);
      item.ids = encode(conversations[i]);
    } catch (const util::InputError& e) {
      // A request of many samples: say which one the message is about.
      if (names == nullptr) throw;
      throw util::InputError(util::cat((*names)[i], ": ", e.what()));
    }
    const int64_t context = engine_.config().max_position_embeddings;
    if (context > 0 && static_cast<int64_t>(item.ids.size()) + options_.max_new_tokens > context) {
      throw util::TooLongError(
          util::cat(names != nullptr ? (*names)[i] : util::cat("conversation ", i), " renders to ",
                    item.ids.size(), " guard tokens; with ", options_.max_new_tokens,
                    " new tokens that passes the guard's context of ", context));
    }
    item.group_key = context_key(conversations[i]);
    const auto& head = head_ids(item.sequence.task);
    if (item.ids.size() > head.size() && std::equal(head.begin(), head.end(), item.ids.begin())) {
      item.shared = head.size();
    }
    // The tokens the batch computes: without reuse the head is computed too.
    lengths.push_back(
        static_cast<int64_t>(item.ids.size() - (options_.share_prefixes ? item.shared : 0)));
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
    for (int32_t id : item.sequence.generated) {
      if (id < tokenizer_->vocab_size()) known.push_back(id);
    }
    out.text = tokenizer_->decode(known, /*skip_special_tokens=*/true);
    out.input_tokens = static_cast<int64_t>(item.ids.size());
    out.output_tokens = static_cast<int64_t>(item.sequence.generated.size());
    out.output_ids = std::move(item.sequence.generated);
    out.decoded_by = item.sequence.decoded_by;
    out.safety_mass = item.sequence.safety_mass;
    out.verdict = parse_verdict(out.text, item.sequence.task);
    if (out.verdict) {
      out.verdict->safety_probs = item.sequence.safety_probs;
      out.verdict->refusal_prob = item.sequence.refusal_prob;
    }
  }
  return outputs;
}

void Guard::prefill_caches(std::vector<Item*>& batch) {
  // Conversations that differ only in their last message (a GRPO group's responses) share
  // their common tokens; every sequence continues its task's head cache when its ids start with
  // the head. Without sharing, each sequence is its own group and the head is computed anew.
  std::vector<engine::SequenceToShare> to_share;
  for (Item* item : batch) {
    const bool from_head = item->shared > 0 && options_.share_prefixes;
    to_share.push_back(
        {&item->ids,
         options_.share_prefixes ? item->group_key : "\x01unshared " + std::to_string(item->index),
         from_head ? &head_cache(item->sequence.task) : nullptr});
    // The head's tokens this sequence does not compute.
    if (from_head) timing_.prefix_tokens_saved += static_cast<int64_t>(item->shared);
  }
  engine::SharingStats sharing;
  const auto start = Clock::now();
  auto starts = engine::start_shared(engine_, to_share, &sharing);
  timing_.prefill_seconds += std::chrono::duration<double>(Clock::now() - start).count();
  timing_.prefill_tokens += sharing.computed;
  timing_.prefix_tokens_saved += sharing.saved;
  // What the shared prefixes did not cover is fed by the first forward.
  for (size_t b = 0; b < batch.size(); ++b) {
    batch[b]->cache = std::move(starts[b].cache);
    batch[b]->sequence.feed.assign(
        batch[b]->ids.begin() + static_cast<std::ptrdiff_t>(starts[b].covered),
        batch[b]->ids.end());
  }
}

// What one forward of the decode loop asks for.
struct Guard::StepRequest {
  std::vector<engine::SequenceInput> inputs;
  std::vector<int64_t> counts;  // rows of logits each sequence needs
  int64_t fed = 0;              // tokens fed, all sequences together
  // The logit columns the decoders may read, and each token's place among them.
  std::vector<int64_t> columns;
  std::unordered_map<int32_t, int64_t> column_of;

  void want(int32_t token) {
    if (column_of.emplace(token, static_cast<int64_t>(columns.size())).second) {
      columns.push_back(token);
    }
  }
};

// What of a forward's logits comes back from the device: per row the greedy token, the log of
// the softmax's normaliser and the requested columns.
struct Guard::StepLogits {
  at::Tensor greedy, normaliser, picked;  // [rows] int64, [rows] double, [rows, columns] double

  // `count` rows from `first` on, as the decoders read them.
  std::vector<LogitRow> rows(int64_t first, int64_t count,
                             const std::unordered_map<int32_t, int64_t>& column_of) const {
    std::vector<LogitRow> out;
    for (int64_t r = first; r < first + count; ++r) {
      out.push_back({static_cast<int32_t>(greedy.data_ptr<int64_t>()[r]),
                     normaliser.data_ptr<double>()[r],
                     picked.data_ptr<double>() + r * picked.size(1), &column_of});
    }
    return out;
  }
};

void Guard::run_batch(std::vector<Item*>& batch) {
  prefill_caches(batch);
  if (options_.decoding == GuardDecoding::kConstrained) {
    for (Item* item : batch) constrained_.at(item->sequence.task).start(item->sequence);
  }
  // The first forward feeds what prefill_caches left (and constrained decoding's forced opening).
  for (bool first = true;; first = false) {
    std::vector<Item*> active;
    for (Item* item : batch) {
      if (!item->sequence.finished) active.push_back(item);
    }
    if (active.empty()) break;
    const StepRequest request = plan_step(active);
    const StepLogits logits = forward(request, first);
    int64_t next_row = 0;
    for (size_t i = 0; i < active.size(); ++i) {
      advance(*active[i], logits.rows(next_row, request.counts[i], request.column_of));
      next_row += request.counts[i];
    }
  }
  for (Item* item : batch) item->cache.reset();
}

Guard::StepRequest Guard::plan_step(const std::vector<Item*>& active) const {
  StepRequest request;
  // Every decoder may read the label tokens; a constrained sequence also its next choices.
  for (int32_t token : label_columns_) request.want(token);
  for (Item* item : active) {
    const GuardSequence& sequence = item->sequence;
    request.inputs.push_back({sequence.feed, item->cache.get()});
    request.counts.push_back(sequence.rows_needed());
    request.fed += static_cast<int64_t>(sequence.feed.size());
    if (sequence.decoded_by == DecodedBy::kConstrained) {
      for (int32_t token : constrained_.at(sequence.task).choices(sequence)) request.want(token);
    }
  }
  return request;
}

Guard::StepLogits Guard::forward(const StepRequest& request, bool first) {
  const auto start = Clock::now();
  // The rows stay on the device; only the greedy tokens, the normalisers and the few columns
  // asked for come back.
  const at::Tensor logits = engine_.last_logits(request.inputs, request.counts);
  StepLogits out;
  out.greedy = logits.argmax(1).to(at::kLong).cpu().contiguous();
  out.normaliser = at::logsumexp(logits, 1).to(at::kDouble).cpu().contiguous();
  out.picked = logits.index_select(1, at::tensor(request.columns, at::kLong).to(logits.device()))
                   .to(at::kDouble)
                   .cpu()
                   .contiguous();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (first) {
    timing_.prefill_seconds += seconds;
    timing_.prefill_tokens += request.fed;
  } else {
    timing_.decode_seconds += seconds;
    ++timing_.decode_steps;
  }
  return out;
}

void Guard::advance(Item& item, const std::vector<LogitRow>& rows) {
  GuardSequence& sequence = item.sequence;
  const FreeDecoder& free = free_.at(sequence.task);
  if (sequence.decoded_by != DecodedBy::kConstrained) {
    free.step(sequence, rows.back());
    return;
  }
  if (auto departure = constrained_.at(sequence.task).step(sequence, rows)) {
    // The model left the grammar: take back what it did not write, then decode freely.
    item.cache->truncate(item.cache->length() - static_cast<int64_t>(departure->cut));
    sequence.decoded_by = DecodedBy::kFallback;
    free.step(sequence, rows[departure->row]);
  }
}

}  // namespace safrl::reward
