// The helpfulness reward model computed here: renders a conversation in the model's chat format
// (reward/helpfulness_model.h), tokenizes it, and reads the score head in packed batches under a
// token budget.
//
// Supported models: Qwen3ForSequenceClassification (Skywork-Reward-V2-Qwen3, chat format qwen3)
// and Qwen2ForRewardModel (WorldPM, chat format chatml), or any Qwen2/Qwen3 classification
// checkpoint; the score is the head's first output, raw float32, never normalised. The thinking
// trace is never shown to it (the paper scores WorldPM(x, y) only).
//
// Not thread-safe: one instance is driven by one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "chat/render.h"
#include "engine/engine.h"
#include "reward/config.h"
#include "reward/helpfulness_model.h"
#include "tokenizer/tokenizer.h"

namespace safrl::reward {

// score_token (reward/config.h): kLast reads the last token of the rendering as the chat
// template ends it ("<|im_end|>\n"), transformers' pooling; kImEnd cuts the rendering after the
// final <|im_end|> so the score is read there. Which one WorldPM was trained with is UNCONFIRMED.
struct HelpfulnessOptions {
  chat::ChatFormat chat_format = chat::ChatFormat::kQwen3;
  ScoreToken score_token = ScoreToken::kLast;
  int64_t max_batch_tokens = 8192;
  bool share_prefixes = true;  // compute the rendered context of answers to one context once
};

class Helpfulness : public HelpfulnessModel {
 public:
  Helpfulness(const std::string& model_dir, const model::RunOptions& run,
              const HelpfulnessOptions& options);

  // Token ids the model scores for `conversation` (ending in the assistant turn scored).
  std::vector<int32_t> encode(const std::vector<chat::Message>& conversation) const;
  const io::ModelConfig& config() const { return engine_.config(); }
  std::vector<double> score(const std::vector<std::vector<chat::Message>>& conversations,
                            std::vector<int64_t>* lengths = nullptr) override;
  bool remote() const override { return false; }
  int64_t tokens() const override { return tokens_; }
  int64_t tokens_saved() const override { return tokens_saved_; }
  double seconds() const override { return seconds_; }
  engine::Work work() const override { return engine_.work(); }
  nlohmann::json describe() const override;

 private:
  std::string model_dir_;
  HelpfulnessOptions options_;
  engine::Engine engine_;
  std::shared_ptr<const tokenizer::Tokenizer> tokenizer_;
  int64_t tokens_ = 0;
  int64_t tokens_saved_ = 0;
  double seconds_ = 0;
};

}  // namespace safrl::reward
