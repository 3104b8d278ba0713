// reward::VllmHelpfulness's own decisions, against a loopback server scripted with vLLM-shaped
// answers (tests/vllm runs it against a real vLLM server; failures a real server cannot be made
// to produce on demand are scripted here): what it retries and for how long, what ends as
// `unavailable` and what as an error, the API key on every request, inputs over the server's
// context refused before anything is sent.
#include "reward/vllm_helpfulness.h"

#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/qwen3_tokenizer.h"
#include "support/scripted_http_server.h"
#include "util/error.h"

namespace safrl::reward {
namespace {

using safrl::testing::answer;
using safrl::testing::ScriptedServer;

const std::string kModels =
    R"({"object": "list", "data": [{"id": "m", "object": "model", "max_model_len": 64}]})";
const std::string kNoTokenizer = R"({"detail": "Not Found"})";
const std::string kOneScore = R"({"data": [{"index": 0, "probs": [0.5], "num_classes": 1}]})";

// The answers a start takes: the models, no /tokenize, the probe scored.
std::vector<std::string> start_then(std::vector<std::string> more) {
  std::vector<std::string> script = {answer(200, kModels), answer(404, kNoTokenizer),
                                     answer(200, kOneScore)};
  script.insert(script.end(), more.begin(), more.end());
  return script;
}

HelpfulnessConfig config_for(const ScriptedServer& server, int64_t retries,
                             const std::string& key_env = "") {
  HelpfulnessConfig config;
  config.tokenizer = safrl::testing::kQwen3TokenizerDir;
  config.chat_format = chat::ChatFormat::kQwen3;
  VllmConfig vllm;
  vllm.url = server.url("");
  vllm.model = "m";
  vllm.task = VllmTask::kClassify;
  vllm.api_key_env = key_env;
  vllm.timeout_s = 5;
  vllm.retries = retries;
  vllm.startup_timeout_s = 5;
  config.vllm = vllm;
  return config;
}

const std::vector<std::vector<chat::Message>> kPairs = {{{"user", "hi"}, {"assistant", "hello"}},
                                                        {{"user", "hi"}, {"assistant", "no"}}};
const std::string kTwoScores =
    R"({"data": [{"index": 0, "probs": [1.25]}, {"index": 1, "probs": [-3.5]}]})";

TEST(VllmHelpfulness, StartsWithoutATokenizerCheckWhenTheServerHasNoTokenizer) {
  ScriptedServer server(start_then({}));
  VllmHelpfulness model(config_for(server, 0));
  EXPECT_EQ(model.max_model_len(), 64);
  EXPECT_EQ(model.describe()["tokenizer_check"],
            "skipped: the vLLM server at " + server.url("") +
                " refused POST /tokenize: HTTP 404: Not Found");
  ASSERT_EQ(server.requests().size(), 3u);
  EXPECT_EQ(server.requests()[0].rfind("GET /v1/models ", 0), 0u);
  EXPECT_EQ(server.requests()[2].rfind("POST /classify ", 0), 0u);
}

TEST(VllmHelpfulness, A503IsRetriedAndEveryRequestCarriesTheKey) {
  setenv("SAFRL_VLLM_TEST_KEY", "k-42", 1);
  ScriptedServer server(start_then({answer(503, "{}"), answer(200, kTwoScores)}));
  VllmHelpfulness model(config_for(server, 1, "SAFRL_VLLM_TEST_KEY"));
  std::vector<int64_t> lengths;
  EXPECT_EQ(model.score(kPairs, &lengths), (std::vector<double>{1.25, -3.5}));
  ASSERT_EQ(server.requests().size(), 5u);
  EXPECT_EQ(server.requests()[3], server.requests()[4]);  // the same request again
  for (const std::string& request : server.requests()) {
    EXPECT_NE(request.find("\r\nAuthorization: Bearer k-42\r\n"), std::string::npos) << request;
  }
  EXPECT_EQ(model.tokens(), lengths[0] + lengths[1]);
}

TEST(VllmHelpfulness, NoAnswerAfterTheRetriesIsUnavailable) {
  ScriptedServer server(start_then({answer(503, "{}"), answer(502, "bad gateway")}));
  VllmHelpfulness model(config_for(server, 1));
  try {
    model.score(kPairs);
    FAIL() << "expected UnavailableError";
  } catch (const util::UnavailableError& e) {
    // The seconds are measured (one retry after a 1 s pause, so 1 on an idle machine, more on a
    // loaded one): the test checks the words around them, and that they are a whole number >= 1.
    const std::string message = e.what();
    const std::string head = "the vLLM helpfulness server at " + server.url("") +
                             " did not answer POST /classify after 2 attempts in ";
    const std::string tail = " s: HTTP 502: bad gateway";
    ASSERT_EQ(message.rfind(head, 0), 0u) << message;
    ASSERT_GT(message.size(), head.size() + tail.size()) << message;
    ASSERT_EQ(message.compare(message.size() - tail.size(), tail.size(), tail), 0) << message;
    const std::string seconds =
        message.substr(head.size(), message.size() - head.size() - tail.size());
    ASSERT_FALSE(seconds.empty());
    EXPECT_EQ(seconds.find_first_not_of("0123456789"), std::string::npos) << message;
    EXPECT_GE(std::stoi(seconds), 1) << message;
  }
}

TEST(VllmHelpfulness, A500ThatPersistsIsAnErrorNotUnavailable) {
  ScriptedServer server(start_then({answer(500, R"({"error": {"message": "boom"}})"),
                                    answer(500, R"({"error": {"message": "boom"}})")}));
  VllmHelpfulness model(config_for(server, 1));
  try {
    model.score(kPairs);
    FAIL() << "expected util::Error";
  } catch (const util::UnavailableError&) {
    FAIL() << "a 500 every time is the server failing on the input, not being away";
  } catch (const util::Error& e) {
    EXPECT_EQ(std::string(e.what()), "the vLLM server at " + server.url("") +
                                         " failed on POST /classify in all 2 attempts: HTTP "
                                         "500: boom");
  }
}

TEST(VllmHelpfulness, AnOtherRefusalIsNotRetried) {
  ScriptedServer server(start_then({answer(400, R"({"error": {"message": "bad input"}})")}));
  VllmHelpfulness model(config_for(server, 3));
  try {
    model.score(kPairs);
    FAIL() << "expected util::Error";
  } catch (const util::Error& e) {
    EXPECT_NE(std::string(e.what()).find("refused POST /classify: HTTP 400: bad input (is "
                                         "helpfulness.vllm.task, classify, what the served model "
                                         "computes?"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(server.requests().size(), 4u);
}

TEST(VllmHelpfulness, InputsOverTheServersContextAreRefusedBeforeSending) {
  ScriptedServer server(start_then({}));
  VllmHelpfulness model(config_for(server, 0));
  try {
    model.score({{{"user", "hi"}, {"assistant", std::string(400, 'x')}}});
    FAIL() << "expected TooLongError";
  } catch (const util::TooLongError& e) {
    EXPECT_NE(std::string(e.what()).find("over the vLLM server's max_model_len of 64"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(server.requests().size(), 3u);
}

TEST(VllmHelpfulness, AKeyVariableThatIsNotSetIsALoadError) {
  unsetenv("SAFRL_VLLM_UNSET_KEY");
  ScriptedServer server({});
  try {
    VllmHelpfulness model(config_for(server, 0, "SAFRL_VLLM_UNSET_KEY"));
    FAIL() << "expected LoadError";
  } catch (const util::LoadError& e) {
    EXPECT_EQ(std::string(e.what()),
              "helpfulness.vllm.api_key_env names SAFRL_VLLM_UNSET_KEY, which is not set (or "
              "empty) in safrl's environment");
  }
}

}  // namespace
}  // namespace safrl::reward
