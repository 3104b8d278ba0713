#include "reward/helpfulness_model.h"

namespace safrl::reward {

std::vector<int32_t> helpfulness_input(const tokenizer::Tokenizer& tokenizer,
                                       chat::ChatFormat format, ScoreToken score_token,
                                       const std::string& prompt, const std::string& answer) {
  std::string text = chat::render(format, {{"user", prompt}, {"assistant", answer}});
  if (score_token == ScoreToken::kImEnd) {
    const std::string end = "<|im_end|>";
    text.resize(text.rfind(end) + end.size());
  }
  return tokenizer.encode(text);
}

nlohmann::json describe_checkpoint(const io::ModelConfig& c, const std::string& dir) {
  return {{"path", dir},
          {"architecture", io::architecture_name(c.architecture)},
          {"layers", c.num_hidden_layers},
          {"hidden_size", c.hidden_size},
          {"vocab_size", c.vocab_size},
          {"max_position_embeddings", c.max_position_embeddings}};
}

}  // namespace safrl::reward
