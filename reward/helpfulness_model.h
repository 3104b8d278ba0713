// What the scorer needs of a helpfulness model, whether it computes here (reward/helpfulness.h)
// or on a vLLM server (reward/vllm_helpfulness.h), and the token ids both score: the same
// rendering and score token either way, so a model gives the same scores wherever it runs.
//
// Implementations are not thread-safe: one instance is driven by one thread at a time.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "chat/render.h"
#include "engine/work.h"
#include "io/model_config.h"
#include "reward/config.h"
#include "tokenizer/tokenizer.h"

namespace safrl::reward {

class HelpfulnessModel {
 public:
  virtual ~HelpfulnessModel() = default;

  // One score per conversation (each ending in the assistant turn scored), in input order;
  // `lengths`, when given, receives each input's token count. Throws util::TooLongError for an
  // input over the model's context, util::InputError for a conversation the format refuses.
  virtual std::vector<double> score(const std::vector<std::vector<chat::Message>>& conversations,
                                    std::vector<int64_t>* lengths = nullptr) = 0;
  // Whether the model computes on another machine, so a call can overlap the guard's work.
  virtual bool remote() const = 0;
  // Tokens scored so far, tokens saved by shared prompt prefixes, and seconds spent.
  virtual int64_t tokens() const = 0;
  virtual int64_t tokens_saved() const = 0;
  virtual double seconds() const = 0;
  // The model FLOPs computed here (none for a remote model).
  virtual engine::Work work() const = 0;
  // What `info` reports of the model.
  virtual nlohmann::json describe() const = 0;
};

// The token ids a helpfulness model scores for `conversation` (ending in the assistant turn
// scored; one-turn: [{user, prompt}, {assistant, answer}]): rendered in `format` with tool turns
// as Qwen3's template writes them, cut after the final <|im_end|> when `score_token` is kImEnd
// (reward/config.h).
std::vector<int32_t> helpfulness_input(const tokenizer::Tokenizer& tokenizer,
                                       chat::ChatFormat format, ScoreToken score_token,
                                       const std::vector<chat::Message>& conversation);

// helpfulness_input of every conversation, with each one's token count in `lengths`. Throws
// util::TooLongError for the first input over `context` tokens (0: no limit), naming the limit
// as `context_name` ("the model's context", "the vLLM server's max_model_len").
std::vector<std::vector<int32_t>> helpfulness_inputs(
    const tokenizer::Tokenizer& tokenizer, chat::ChatFormat format, ScoreToken score_token,
    const std::vector<std::vector<chat::Message>>& conversations, int64_t context,
    std::string_view context_name, std::vector<int64_t>& lengths);

// What `info` reports of a checkpoint computed here: {"path", "architecture", "layers",
// "hidden_size", "vocab_size", "max_position_embeddings"}.
nlohmann::json describe_checkpoint(const io::ModelConfig& config, const std::string& dir);

}  // namespace safrl::reward
