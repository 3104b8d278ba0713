// The vLLM backend's requests and the reading of real vLLM 0.32.0 responses (captured in
// tests/data/vllm, README there), and what a response of another shape is told.
#include "reward/vllm_protocol.h"

#include <fstream>
#include <functional>
#include <iterator>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "util/error.h"

namespace safrl::reward {
namespace {

std::string captured(const std::string& name) {
  std::ifstream in(std::string(SAFRL_SOURCE_DIR) + "/tests/data/vllm/" + name);
  EXPECT_TRUE(in.good()) << name;
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string error_of(const std::function<void()>& call) {
  try {
    call();
  } catch (const util::Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(VllmProtocol, RequestsCarryTokenIdsAndAskForRawOutputs) {
  const std::vector<std::vector<int32_t>> ids = {{151644, 872}, {7}};
  EXPECT_EQ(nlohmann::json::parse(vllm_score_request(VllmTask::kClassify, "rm", ids)),
            nlohmann::json::parse(
                R"({"model": "rm", "input": [[151644, 872], [7]], "use_activation": false})"));
  EXPECT_EQ(nlohmann::json::parse(vllm_score_request(VllmTask::kTokenClassify, "rm", ids)),
            nlohmann::json::parse(R"({"model": "rm", "input": [[151644, 872], [7]],
                                      "task": "token_classify", "use_activation": false})"));
  EXPECT_EQ(vllm_endpoint(VllmTask::kClassify), "/classify");
  EXPECT_EQ(vllm_endpoint(VllmTask::kTokenClassify), "/pooling");
  EXPECT_EQ(nlohmann::json::parse(vllm_tokenize_request("rm", "a<|im_end|>")),
            nlohmann::json::parse(
                R"({"model": "rm", "prompt": "a<|im_end|>", "add_special_tokens": false})"));
}

TEST(VllmProtocol, ReadsRealResponses) {
  EXPECT_EQ(parse_vllm_scores(VllmTask::kClassify, captured("classify_response.json"), 2),
            (std::vector<double>{1.6139860153198242, 0.055830299854278564}));
  // The per-token rewards' last row: the score at the last token sent.
  EXPECT_EQ(parse_vllm_scores(VllmTask::kTokenClassify, captured("pooling_response.json"), 2),
            (std::vector<double>{2.1259429454803467, 2.798680067062378}));
  const std::vector<VllmServedModel> models = parse_vllm_models(captured("models_response.json"));
  ASSERT_EQ(models.size(), 1u);
  EXPECT_EQ(models[0].id, "skywork-tiny");
  EXPECT_EQ(models[0].max_model_len, 2048);
  EXPECT_EQ(parse_vllm_tokens(captured("tokenize_response.json")),
            (std::vector<int32_t>{151644, 872, 198, 6023, 151645}));
}

TEST(VllmProtocol, ErrorMessagesOfRealErrorResponses) {
  EXPECT_EQ(vllm_error_message(captured("error_wrong_task.json")),
            "Try switching the model's pooling_task via --pooler-config.task token_classify. "
            "(parameter=task)");
  EXPECT_EQ(vllm_error_message(captured("error_not_found.json")), "Not Found");
  EXPECT_EQ(vllm_error_message(captured("error_model.json")), "The model `nope` does not exist.");
  EXPECT_EQ(vllm_error_message("<html>bad gateway</html>"), "<html>bad gateway</html>");
  EXPECT_EQ(vllm_error_message(std::string(400, 'x')), std::string(300, 'x') + "...");
}

TEST(VllmProtocol, ResultsAreTakenByTheirIndex) {
  const std::string body =
      R"({"data": [{"index": 1, "probs": [0.5]}, {"index": 0, "probs": [-2]}]})";
  EXPECT_EQ(parse_vllm_scores(VllmTask::kClassify, body, 2), (std::vector<double>{-2, 0.5}));
}

TEST(VllmProtocol, ResponsesOfAnotherShapeSayWhatIsWrong) {
  auto classify = [](const std::string& body, size_t n) {
    return error_of([&] { parse_vllm_scores(VllmTask::kClassify, body, n); });
  };
  EXPECT_EQ(classify("not json", 1), "the /classify response is not JSON: not json");
  EXPECT_EQ(classify(R"({"object": "list"})", 1), "the response has no \"data\" field");
  EXPECT_EQ(classify(captured("classify_response.json"), 3),
            "the response's \"data\" holds 2 results for 3 sequences sent");
  EXPECT_EQ(classify(R"({"data": [{"index": 0, "probs": []}]})", 1),
            "data[0].probs is not a non-empty list of numbers: []");
  EXPECT_EQ(classify(R"({"data": [{"index": 0, "probs": ["x"]}]})", 1),
            "data[0].probs[0] is not a number: \"x\"");
  EXPECT_EQ(classify(R"({"data": [{"index": 0, "probs": [1]}, {"index": 0, "probs": [1]}]})", 2),
            "data[1].index is 0; expected each of 0..1 once");
  EXPECT_EQ(classify(R"({"data": [{"probs": [1]}]})", 1), "data[0] has no \"index\" field");
  EXPECT_EQ(error_of([] {
              parse_vllm_scores(VllmTask::kTokenClassify, R"({"data": [{"index": 0, "data": []}]})",
                                1);
            }),
            "data[0].data is not a list of per-token values");
  EXPECT_EQ(error_of([] { parse_vllm_models(R"({"data": [{"object": "model"}]})"); }),
            "/v1/models data[0] has no \"id\" field");
  EXPECT_EQ(error_of([] { parse_vllm_tokens(R"({"tokens": [1, "a"]})"); }),
            "the /tokenize response holds a non-id: \"a\"");
}

}  // namespace
}  // namespace safrl::reward
