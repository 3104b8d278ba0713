#include "reward/stream_guard.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <chrono>

#include "chat/stream_input.h"
#include "engine/batch_plan.h"
#include "io/model_config.h"
#include "util/error.h"

namespace safrl::reward {
namespace {

using Clock = std::chrono::steady_clock;

// `model_dir`, once its config.json says it is a Stream checkpoint: the check runs before the
// engine reads gigabytes of weights.
const std::string& stream_checkpoint(const std::string& model_dir) {
  const io::ModelConfig config = io::load_model_config(model_dir);
  if (config.architecture != io::Architecture::kQwen3ForGuardModel) {
    throw util::LoadError(
        util::cat("guard.kind stream needs a Qwen3Guard-Stream checkpoint (Qwen3ForGuardModel); ",
                  model_dir, " holds ", io::architecture_name(config.architecture),
                  config.architecture == io::Architecture::kQwen3ForCausalLM
                      ? " (a Qwen3Guard-Gen checkpoint: set guard.kind: gen)"
                      : ""));
  }
  return model_dir;
}

// Row `row` of a [N, 3] float64 tensor.
std::array<double, 3> row3(const at::Tensor& probs, int64_t row) {
  const double* p = probs.data_ptr<double>() + row * 3;
  return {p[0], p[1], p[2]};
}

// One conversation of a call.
struct Item {
  chat::StreamInput input;
  GuardTask task = GuardTask::kResponse;
};

}  // namespace

StreamGuard::StreamGuard(const std::string& model_dir, const model::RunOptions& run,
                         const StreamGuardOptions& options)
    : options_(options),
      engine_(stream_checkpoint(model_dir), run),
      tokenizer_(tokenizer::Tokenizer::load(model_dir)) {
  if (tokenizer_->vocab_size() > engine_.config().vocab_size) {
    throw util::LoadError(util::cat(model_dir, ": the tokenizer has ", tokenizer_->vocab_size(),
                                    " tokens but the model's vocabulary only ",
                                    engine_.config().vocab_size));
  }
  // A tokenizer that splits one of the span markers is refused now, not at every request.
  chat::check_stream_tokenizer(*tokenizer_);
}

std::vector<StreamJudgement> StreamGuard::judge(
    const std::vector<std::vector<chat::Message>>& conversations,
    const std::vector<std::string>* names) {
  c10::InferenceMode inference;
  auto name = [&](size_t i) {
    return names != nullptr ? (*names)[i] : util::cat("conversation ", i);
  };
  std::vector<Item> items(conversations.size());
  std::vector<int64_t> lengths;
  const int64_t context = engine_.config().max_position_embeddings;
  for (size_t i = 0; i < conversations.size(); ++i) {
    try {
      items[i].task = chat::guard_task(conversations[i]);
      items[i].input = chat::stream_input(*tokenizer_, conversations[i], options_.tool_turns);
    } catch (const util::InputError& e) {
      if (names == nullptr) throw;
      throw util::InputError(util::cat(name(i), ": ", e.what()));
    }
    const auto length = static_cast<int64_t>(items[i].input.ids.size());
    if (context > 0 && length > context) {
      throw util::TooLongError(util::cat(name(i), " renders to ", length,
                                         " guard tokens, past the guard's context of ", context));
    }
    lengths.push_back(length);
  }

  std::vector<StreamJudgement> out(items.size());
  for (const auto& batch : engine::plan_batches(lengths, options_.max_batch_tokens)) {
    std::vector<engine::SequenceInput> inputs;
    int64_t fed = 0;
    for (size_t i : batch) {
      inputs.push_back({items[i].input.ids, nullptr});
      fed += lengths[i];
    }
    const auto start = Clock::now();
    const model::StreamLogits logits = engine_.stream_logits(inputs);
    // Everything the verdicts read comes back at once: the labels' probabilities in float64 and
    // the categories' argmax.
    const at::Tensor risk = logits.risk.to(at::kDouble).softmax(1).cpu().contiguous();
    const at::Tensor query_risk = logits.query_risk.to(at::kDouble).softmax(1).cpu().contiguous();
    const at::Tensor category = logits.category.argmax(1).to(at::kLong).cpu().contiguous();
    const at::Tensor query_category =
        logits.query_category.argmax(1).to(at::kLong).cpu().contiguous();
    timing_.prefill_seconds += std::chrono::duration<double>(Clock::now() - start).count();
    timing_.prefill_tokens += fed;

    int64_t first_row = 0;
    for (size_t i : batch) {
      const chat::StreamInput& input = items[i].input;
      StreamJudgement& judgement = out[i];
      judgement.task = items[i].task;
      judgement.input_tokens = lengths[i];
      if (judgement.task == GuardTask::kPrompt) {
        const int64_t row = first_row + input.query_end;
        judgement.verdict = stream_query_verdict(row3(query_risk, row),
                                                 kStreamQueryCategories.at(static_cast<size_t>(
                                                     query_category.data_ptr<int64_t>()[row])));
      } else {
        TokenSafety tokens;
        for (int64_t p = input.response_begin; p < lengths[i]; ++p) {
          const int64_t row = first_row + p;
          tokens.probs.push_back(row3(risk, row));
          tokens.labels.push_back(most_likely(tokens.probs.back()));
          tokens.categories.push_back(
              kStreamResponseCategories.at(static_cast<size_t>(category.data_ptr<int64_t>()[row])));
        }
        tokens.offsets = input.response_offsets;
        tokens.debounced = debounce(tokens.labels);
        judgement.verdict = stream_response_verdict(tokens);
        judgement.tokens = std::move(tokens);
      }
      first_row += lengths[i];
    }
  }
  return out;
}

}  // namespace safrl::reward
