#include "reward/helpfulness.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <chrono>

#include "engine/batch_plan.h"
#include "engine/prefix_sharing.h"
#include "reward/judged_turns.h"
#include "util/error.h"

namespace safrl::reward {

Helpfulness::Helpfulness(const std::string& model_dir, const model::RunOptions& run,
                         const HelpfulnessOptions& options)
    : model_dir_(model_dir),
      options_(options),
      engine_(model_dir, run),
      tokenizer_(tokenizer::Tokenizer::load(model_dir)) {
  if (engine_.config().head == io::HeadKind::kCausalLM) {
    throw util::LoadError(
        util::cat(model_dir, " is a ", io::architecture_name(engine_.config().architecture),
                  "; the helpfulness model needs a score head (Qwen3ForSequenceClassification or "
                  "Qwen2ForRewardModel)"));
  }
  if (options_.chat_format == chat::ChatFormat::kGuard) {
    throw util::LoadError("the helpfulness model's chat format must be qwen3 or chatml, not guard");
  }
}

std::vector<int32_t> Helpfulness::encode(const std::vector<chat::Message>& conversation) const {
  return helpfulness_input(*tokenizer_, options_.chat_format, options_.score_token, conversation);
}

nlohmann::json Helpfulness::describe() const {
  return describe_checkpoint(engine_.config(), model_dir_);
}

std::vector<double> Helpfulness::score(const std::vector<std::vector<chat::Message>>& conversations,
                                       std::vector<int64_t>* lengths_out) {
  c10::InferenceMode inference;
  std::vector<int64_t> lengths;
  const std::vector<std::vector<int32_t>> ids =
      helpfulness_inputs(*tokenizer_, options_.chat_format, options_.score_token, conversations,
                         engine_.config().max_position_embeddings, "the model's context", lengths);
  std::vector<double> scores(conversations.size());
  const auto start = std::chrono::steady_clock::now();
  for (const auto& batch : engine::plan_batches(lengths, options_.max_batch_tokens)) {
    // Answers to the same context share their rendered prefix; it is computed once.
    std::vector<engine::SequenceToShare> to_share;
    for (size_t i : batch) {
      to_share.push_back({&ids[i],
                          options_.share_prefixes ? context_key(conversations[i])
                                                  : "\x01unshared " + std::to_string(i),
                          nullptr});
    }
    engine::SharingStats sharing;
    auto starts = engine::start_shared(engine_, to_share, &sharing);
    tokens_ += sharing.computed;
    tokens_saved_ += sharing.saved;
    std::vector<engine::SequenceInput> inputs;
    for (size_t b = 0; b < batch.size(); ++b) {
      const auto& sequence = ids[batch[b]];
      inputs.push_back(
          {c10::ArrayRef<int32_t>(sequence).slice(starts[b].covered), starts[b].cache.get()});
      tokens_ += lengths[batch[b]] - static_cast<int64_t>(starts[b].covered);
    }
    at::Tensor out = engine_.scores(inputs).select(1, 0).to(at::kDouble).cpu().contiguous();
    for (size_t row = 0; row < batch.size(); ++row)
      scores[batch[row]] = out.data_ptr<double>()[row];
  }
  if (lengths_out != nullptr) *lengths_out = lengths;
  seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return scores;
}

}  // namespace safrl::reward
