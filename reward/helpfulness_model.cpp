#include "reward/helpfulness_model.h"

#include "util/error.h"

namespace safrl::reward {

std::vector<int32_t> helpfulness_input(const tokenizer::Tokenizer& tokenizer,
                                       chat::ChatFormat format, ScoreToken score_token,
                                       const std::vector<chat::Message>& conversation) {
  chat::RenderOptions options;
  options.tool_turns = chat::ToolTurns::kQwen3;
  std::string text = chat::render(format, conversation, options);
  if (score_token == ScoreToken::kImEnd) {
    const std::string end = "<|im_end|>";
    text.resize(text.rfind(end) + end.size());
  }
  return tokenizer.encode(text);
}

std::vector<std::vector<int32_t>> helpfulness_inputs(
    const tokenizer::Tokenizer& tokenizer, chat::ChatFormat format, ScoreToken score_token,
    const std::vector<std::vector<chat::Message>>& conversations, int64_t context,
    std::string_view context_name, std::vector<int64_t>& lengths) {
  std::vector<std::vector<int32_t>> ids;
  lengths.clear();
  for (size_t i = 0; i < conversations.size(); ++i) {
    ids.push_back(helpfulness_input(tokenizer, format, score_token, conversations[i]));
    lengths.push_back(static_cast<int64_t>(ids.back().size()));
    if (context > 0 && lengths.back() > context) {
      throw util::TooLongError(util::cat("answer ", i, " renders to ", lengths.back(),
                                         " reward-model tokens, over ", context_name, " of ",
                                         context));
    }
  }
  return ids;
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
