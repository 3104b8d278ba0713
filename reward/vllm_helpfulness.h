// The helpfulness model served by a vLLM server (helpfulness.vllm in the config): for a model
// too large for safrl's device, such as WorldPM-72B-HelpSteer2 under tensor parallelism, while
// the guard stays in safrl. safrl renders and tokenizes each conversation exactly as the
// local path does (reward/helpfulness_model.h) and sends the token ids, so the server computes
// the same tokens and its score is read at the same position (reward/vllm_protocol.h has the
// requests).
//
// Construction waits for the server (up to startup_timeout_s), checks that it serves the
// configured model, reads its max_model_len, compares its tokenizer with the local one on a
// probe text (a mismatch would score other tokens than the ones meant), and scores one probe
// sequence (a task the model does not compute is refused there); each throws util::LoadError
// saying what to fix. The tokenizer check is skipped, and `info` says why, when the server
// refuses /tokenize (one started without a tokenizer).
//
// Scoring sends max_batch_sequences sequences per request; a request that gets no answer, a 5xx
// or a 429 is retried (1, 2, 4 ... 16 s apart) up to `retries` times, then
// util::UnavailableError is thrown (util::Error when the last answer was a 500: the server stayed
// up and failed on this input); any other answer that is not a score response throws
// util::Error with vLLM's message. With api_key_env, every request carries
// "Authorization: Bearer $<api_key_env>".
//
// Not thread-safe: one thread drives an instance at a time.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "io/http_client.h"
#include "reward/helpfulness_model.h"

namespace safrl::reward {

class VllmHelpfulness : public HelpfulnessModel {
 public:
  VllmHelpfulness(const HelpfulnessConfig& config);

  std::vector<double> score(const std::vector<std::vector<chat::Message>>& conversations,
                            std::vector<int64_t>* lengths = nullptr) override;
  bool remote() const override { return true; }
  int64_t tokens() const override { return tokens_; }
  int64_t tokens_saved() const override { return 0; }
  double seconds() const override { return seconds_; }
  engine::Work work() const override { return {}; }
  // {"backend": "vllm", "url", "model", "task", "tokenizer", "max_model_len",
  //  "tokenizer_check": "ok" | "skipped: <why>"}.
  nlohmann::json describe() const override;
  // The server's max_model_len (0 when it did not say).
  int64_t max_model_len() const { return max_model_len_; }

 private:
  // POSTs `body` to `path`, retrying as the header says; the response of the first attempt
  // answered 2xx.
  io::HttpResponse post(const std::string& path, const std::string& body);
  void wait_for_server(double timeout_s);
  void check_tokenizer();
  void check_task();

  HelpfulnessConfig config_;
  const VllmConfig& vllm_;  // *config_.vllm
  std::shared_ptr<const tokenizer::Tokenizer> tokenizer_;
  io::HttpClient http_;
  int64_t max_model_len_ = 0;
  std::string tokenizer_check_;  // "ok", or why the tokenizers were not compared
  int64_t tokens_ = 0;
  double seconds_ = 0;
};

}  // namespace safrl::reward
