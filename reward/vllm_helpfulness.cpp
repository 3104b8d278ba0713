#include "reward/vllm_helpfulness.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "reward/vllm_protocol.h"
#include "util/error.h"

namespace safrl::reward {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Worth another attempt: no answer, a server error, or "too many requests".
bool retryable(const io::HttpResponse& response) {
  return !response.answered() || response.status >= 500 || response.status == 429;
}

// "Authorization: Bearer <key>" when the config names a variable holding the key.
std::vector<std::string> auth_headers(const VllmConfig& vllm) {
  if (vllm.api_key_env.empty()) return {};
  const char* key = std::getenv(vllm.api_key_env.c_str());
  if (key == nullptr || *key == '\0') {
    throw util::LoadError(util::cat("helpfulness.vllm.api_key_env names ", vllm.api_key_env,
                                    ", which is not set (or empty) in safrl's environment"));
  }
  return {util::cat("Authorization: Bearer ", key)};
}

std::string describe_failure(const io::HttpResponse& response) {
  if (!response.answered()) return response.error;
  return util::cat("HTTP ", response.status, ": ", vllm_error_message(response.body));
}

// A probe for the tokenizer check: words, digits, CJK, an emoji and the chat special tokens, the
// places where two tokenizers of one family differ first.
constexpr const char* kTokenizerProbe =
    "<|im_start|>user\nHow do I bake 2 loaves of bread? 面包怎么烤？🍞<|im_end|>\n"
    "<|im_start|>assistant\n  Mix 500 g flour,\twater & yeast...\n\nBake at 230°C.<|im_end|>\n";

}  // namespace

VllmHelpfulness::VllmHelpfulness(const HelpfulnessConfig& config)
    : config_(config),
      vllm_(*config_.vllm),
      tokenizer_(tokenizer::Tokenizer::load(config.tokenizer)),
      http_(auth_headers(vllm_)) {
  if (config_.chat_format == chat::ChatFormat::kGuard) {
    throw util::LoadError("the helpfulness model's chat format must be qwen3 or chatml, not guard");
  }
  wait_for_server(vllm_.startup_timeout_s);
  check_tokenizer();
  check_task();
}

void VllmHelpfulness::check_task() {
  // One short sequence through the scoring request: a task the served model does not compute
  // is refused here, at start, rather than on every request of a training run.
  const std::vector<std::vector<int32_t>> probe = {tokenizer_->encode("<|im_end|>")};
  io::HttpResponse response;
  try {
    response = post(vllm_endpoint(vllm_.task), vllm_score_request(vllm_.task, vllm_.model, probe));
  } catch (const util::Error& e) {
    throw util::LoadError(e.what());
  }
  try {
    parse_vllm_scores(vllm_.task, response.body, probe.size());
  } catch (const util::Error& e) {
    throw util::LoadError(util::cat("the vLLM server at ", vllm_.url, " answered POST ",
                                    vllm_endpoint(vllm_.task),
                                    " with an unreadable result: ", e.what()));
  }
}

void VllmHelpfulness::wait_for_server(double timeout_s) {
  const auto start = Clock::now();
  const std::string url = vllm_.url + "/v1/models";
  io::HttpResponse response;
  while (true) {
    response = http_.get(url, std::min(vllm_.timeout_s, 10.0));
    if (response.ok()) break;
    if (response.status == 401 || response.status == 403) {
      throw util::LoadError(util::cat(
          "the vLLM server at ", vllm_.url, " refused GET /v1/models with ",
          describe_failure(response),
          vllm_.api_key_env.empty()
              ? std::string("; it was started with --api-key: set helpfulness.vllm.api_key_env "
                            "to the name of an environment variable holding the key")
              : util::cat("; the key in $", vllm_.api_key_env, " is not one it accepts")));
    }
    if (response.answered() && !retryable(response)) {
      throw util::LoadError(util::cat("the vLLM server at ", vllm_.url,
                                      " answered GET /v1/models with ", describe_failure(response),
                                      "; is helpfulness.vllm.url the server's base URL?"));
    }
    if (seconds_since(start) + 2 > timeout_s) {
      throw util::LoadError(util::cat(
          "no vLLM server answered at ", vllm_.url, " within helpfulness.vllm.startup_timeout_s (",
          timeout_s, " s): ", describe_failure(response),
          ". Start it first (docs/scaling.md shows the command) or raise the timeout"));
    }
    std::this_thread::sleep_for(std::chrono::seconds(2));
  }
  std::vector<VllmServedModel> models;
  try {
    models = parse_vllm_models(response.body);
  } catch (const util::Error& e) {
    throw util::LoadError(util::cat("the server at ", vllm_.url,
                                    " is not a vLLM server this "
                                    "version speaks to: ",
                                    e.what()));
  }
  std::string served;
  for (const VllmServedModel& model : models) {
    if (model.id == vllm_.model) {
      max_model_len_ = model.max_model_len;
      return;
    }
    served += util::cat(served.empty() ? "" : ", ", "\"", model.id, "\"");
  }
  throw util::LoadError(util::cat("the vLLM server at ", vllm_.url, " does not serve \"",
                                  vllm_.model, "\" (helpfulness.vllm.model); it serves ",
                                  served.empty() ? "nothing" : served));
}

void VllmHelpfulness::check_tokenizer() {
  io::HttpResponse response;
  try {
    response = post("/tokenize", vllm_tokenize_request(vllm_.model, kTokenizerProbe));
  } catch (const util::UnavailableError& e) {
    throw util::LoadError(e.what());
  } catch (const util::Error& e) {
    // A server without a tokenizer (--skip-tokenizer-init) cannot compare; `info` says why.
    tokenizer_check_ = util::cat("skipped: ", e.what());
    return;
  }
  std::vector<int32_t> remote;
  try {
    remote = parse_vllm_tokens(response.body);
  } catch (const util::Error& e) {
    tokenizer_check_ = util::cat("skipped: ", e.what());
    return;
  }
  const std::vector<int32_t> local = tokenizer_->encode(kTokenizerProbe);
  if (remote != local) {
    size_t at = 0;
    while (at < local.size() && at < remote.size() && local[at] == remote[at]) ++at;
    throw util::LoadError(util::cat(
        "the tokenizer in ", config_.tokenizer, " (helpfulness.tokenizer) and the model \"",
        vllm_.model, "\" served at ", vllm_.url, " tokenize a probe text differently (",
        local.size(), " vs ", remote.size(), " tokens, first difference at token ", at,
        "); give the served model's own tokenizer files"));
  }
  tokenizer_check_ = "ok";
}

io::HttpResponse VllmHelpfulness::post(const std::string& path, const std::string& body) {
  const auto start = Clock::now();
  io::HttpResponse response;
  for (int64_t attempt = 0;; ++attempt) {
    response = http_.post_json(vllm_.url + path, body, vllm_.timeout_s);
    if (response.ok()) return response;
    if (!retryable(response)) {
      std::string hint;
      if ((response.status == 404 || response.status == 400) && path == vllm_endpoint(vllm_.task)) {
        hint = util::cat(" (is helpfulness.vllm.task, ", vllm_task_name(vllm_.task),
                         ", what the served model computes? A sequence classifier is classify, a "
                         "per-token reward model such as WorldPM token_classify)");
      }
      throw util::Error(util::cat("the vLLM server at ", vllm_.url, " refused POST ", path, ": ",
                                  describe_failure(response), hint));
    }
    if (attempt >= vllm_.retries) break;
    std::this_thread::sleep_for(std::chrono::seconds(int64_t{1} << std::min<int64_t>(attempt, 4)));
  }
  if (response.status == 500) {
    // The server stayed up and failed on this request every time: its fault with this input,
    // which waiting would not cure.
    throw util::Error(util::cat("the vLLM server at ", vllm_.url, " failed on POST ", path,
                                " in all ", vllm_.retries + 1,
                                " attempts: ", describe_failure(response)));
  }
  throw util::UnavailableError(
      util::cat("the vLLM helpfulness server at ", vllm_.url, " did not answer POST ", path,
                " after ", vllm_.retries + 1, " attempts in ",
                static_cast<int>(seconds_since(start)), " s: ", describe_failure(response)));
}

std::vector<double> VllmHelpfulness::score(
    const std::vector<std::vector<chat::Message>>& conversations,
    std::vector<int64_t>* lengths_out) {
  std::vector<int64_t> lengths;
  const std::vector<std::vector<int32_t>> ids =
      helpfulness_inputs(*tokenizer_, config_.chat_format, config_.score_token, conversations,
                         max_model_len_, "the vLLM server's max_model_len", lengths);
  const auto start = Clock::now();
  std::vector<double> scores;
  const size_t per_request = static_cast<size_t>(vllm_.max_batch_sequences);
  for (size_t begin = 0; begin < ids.size(); begin += per_request) {
    const size_t end = std::min(ids.size(), begin + per_request);
    const std::vector<std::vector<int32_t>> batch(ids.begin() + begin, ids.begin() + end);
    const io::HttpResponse response =
        post(vllm_endpoint(vllm_.task), vllm_score_request(vllm_.task, vllm_.model, batch));
    std::vector<double> part;
    try {
      part = parse_vllm_scores(vllm_.task, response.body, batch.size());
    } catch (const util::Error& e) {
      throw util::Error(util::cat("the vLLM server at ", vllm_.url, " answered POST ",
                                  vllm_endpoint(vllm_.task),
                                  " with an unreadable result: ", e.what()));
    }
    scores.insert(scores.end(), part.begin(), part.end());
  }
  for (int64_t n : lengths) tokens_ += n;
  seconds_ += seconds_since(start);
  if (lengths_out != nullptr) *lengths_out = lengths;
  return scores;
}

nlohmann::json VllmHelpfulness::describe() const {
  return {{"backend", "vllm"},
          {"url", vllm_.url},
          {"model", vllm_.model},
          {"task", vllm_task_name(vllm_.task)},
          {"tokenizer", config_.tokenizer},
          {"max_model_len", max_model_len_},
          {"tokenizer_check", tokenizer_check_}};
}

}  // namespace safrl::reward
