#include "io/model_config.h"

#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/safetensors_writer.h"
#include "support/test_support.h"

namespace safrl::io {
namespace {

using nlohmann::json;
using testing::contains_all;
using testing::load_error;
using testing::TempDir;

// config.json of Qwen/Qwen3-0.6B as published.
constexpr const char* kQwen3_0_6B = R"({
  "architectures": ["Qwen3ForCausalLM"],
  "attention_bias": false,
  "attention_dropout": 0.0,
  "bos_token_id": 151643,
  "eos_token_id": 151645,
  "head_dim": 128,
  "hidden_act": "silu",
  "hidden_size": 1024,
  "initializer_range": 0.02,
  "intermediate_size": 3072,
  "max_position_embeddings": 40960,
  "max_window_layers": 28,
  "model_type": "qwen3",
  "num_attention_heads": 16,
  "num_hidden_layers": 28,
  "num_key_value_heads": 8,
  "rms_norm_eps": 1e-06,
  "rope_scaling": null,
  "rope_theta": 1000000,
  "sliding_window": null,
  "tie_word_embeddings": true,
  "torch_dtype": "bfloat16",
  "transformers_version": "4.51.0",
  "use_cache": true,
  "use_sliding_window": false,
  "vocab_size": 151936
})";

// config.json in the style of Qwen/Qwen2.5-7B-Instruct: a sliding_window size that is not used.
constexpr const char* kQwen2_5_7B = R"({
  "architectures": ["Qwen2ForCausalLM"],
  "attention_dropout": 0.0,
  "bos_token_id": 151643,
  "eos_token_id": 151645,
  "hidden_act": "silu",
  "hidden_size": 3584,
  "initializer_range": 0.02,
  "intermediate_size": 18944,
  "max_position_embeddings": 32768,
  "max_window_layers": 28,
  "model_type": "qwen2",
  "num_attention_heads": 28,
  "num_hidden_layers": 28,
  "num_key_value_heads": 4,
  "rms_norm_eps": 1e-06,
  "rope_theta": 1000000.0,
  "sliding_window": 131072,
  "tie_word_embeddings": false,
  "torch_dtype": "bfloat16",
  "transformers_version": "4.43.1",
  "use_cache": true,
  "use_sliding_window": false,
  "vocab_size": 152064
})";

constexpr const char* kSource = "cfg/config.json";

ModelConfig parse(const json& config) {
  return parse_model_config(config.dump(), kSource);
}

std::string refusal(const json& config) {
  return load_error([&] { parse(config); });
}

json qwen3() {
  return json::parse(kQwen3_0_6B);
}
json qwen2() {
  return json::parse(kQwen2_5_7B);
}

// Every field, so a test states the whole expected config.
void expect_config_eq(const ModelConfig& actual, const ModelConfig& expected) {
  EXPECT_EQ(actual.architecture, expected.architecture);
  EXPECT_EQ(actual.head, expected.head);
  EXPECT_EQ(actual.family, expected.family);
  EXPECT_EQ(actual.vocab_size, expected.vocab_size);
  EXPECT_EQ(actual.hidden_size, expected.hidden_size);
  EXPECT_EQ(actual.intermediate_size, expected.intermediate_size);
  EXPECT_EQ(actual.num_hidden_layers, expected.num_hidden_layers);
  EXPECT_EQ(actual.num_attention_heads, expected.num_attention_heads);
  EXPECT_EQ(actual.num_key_value_heads, expected.num_key_value_heads);
  EXPECT_EQ(actual.head_dim, expected.head_dim);
  EXPECT_EQ(actual.max_position_embeddings, expected.max_position_embeddings);
  EXPECT_EQ(actual.rope_theta, expected.rope_theta);
  EXPECT_EQ(actual.rms_norm_eps, expected.rms_norm_eps);
  EXPECT_EQ(actual.tie_word_embeddings, expected.tie_word_embeddings);
  EXPECT_EQ(actual.qkv_bias, expected.qkv_bias);
  EXPECT_EQ(actual.o_bias, expected.o_bias);
  EXPECT_EQ(actual.num_labels, expected.num_labels);
  EXPECT_EQ(actual.pad_token_id, expected.pad_token_id);
  EXPECT_EQ(actual.eos_token_id, expected.eos_token_id);
  EXPECT_EQ(actual.torch_dtype, expected.torch_dtype);
  EXPECT_EQ(actual.guard_inner_size, expected.guard_inner_size);
  EXPECT_EQ(actual.num_risk_level, expected.num_risk_level);
  EXPECT_EQ(actual.num_category, expected.num_category);
  EXPECT_EQ(actual.num_query_risk_level, expected.num_query_risk_level);
  EXPECT_EQ(actual.num_query_category, expected.num_query_category);
}

TEST(ModelConfig, Qwen3_0_6B) {
  expect_config_eq(parse_model_config(kQwen3_0_6B, kSource),
                   ModelConfig{Architecture::kQwen3ForCausalLM,
                               HeadKind::kCausalLM,
                               Family::kQwen3,
                               /*vocab_size=*/151936,
                               /*hidden_size=*/1024,
                               /*intermediate_size=*/3072,
                               /*num_hidden_layers=*/28,
                               /*num_attention_heads=*/16,
                               /*num_key_value_heads=*/8,
                               /*head_dim=*/128,  // not hidden / heads = 64
                               /*max_position_embeddings=*/40960,
                               /*rope_theta=*/1e6,
                               /*rms_norm_eps=*/1e-6,
                               /*tie_word_embeddings=*/true,
                               /*qkv_bias=*/false,
                               /*o_bias=*/false,
                               /*num_labels=*/2,
                               /*pad_token_id=*/std::nullopt,
                               /*eos_token_id=*/151645,
                               /*torch_dtype=*/"bfloat16"});
}

TEST(ModelConfig, Qwen3LargerShapes) {
  struct Shape {
    int64_t hidden, layers, heads, inter;
    bool tie;
  };
  for (const Shape& s : {Shape{2560, 36, 32, 9728, true}, Shape{4096, 36, 32, 12288, false}}) {
    json config = qwen3();
    config["hidden_size"] = s.hidden;
    config["num_hidden_layers"] = s.layers;
    config["num_attention_heads"] = s.heads;
    config["intermediate_size"] = s.inter;
    config["tie_word_embeddings"] = s.tie;
    const ModelConfig c = parse(config);
    EXPECT_EQ(c.hidden_size, s.hidden);
    EXPECT_EQ(c.num_hidden_layers, s.layers);
    EXPECT_EQ(c.num_attention_heads, s.heads);
    EXPECT_EQ(c.num_key_value_heads, 8);
    EXPECT_EQ(c.intermediate_size, s.inter);
    EXPECT_EQ(c.head_dim, 128);
    EXPECT_EQ(c.tie_word_embeddings, s.tie);
  }
}

TEST(ModelConfig, Qwen2_5) {
  expect_config_eq(parse_model_config(kQwen2_5_7B, kSource),
                   ModelConfig{Architecture::kQwen2ForCausalLM,
                               HeadKind::kCausalLM,
                               Family::kQwen2,
                               /*vocab_size=*/152064,
                               /*hidden_size=*/3584,
                               /*intermediate_size=*/18944,
                               /*num_hidden_layers=*/28,
                               /*num_attention_heads=*/28,
                               /*num_key_value_heads=*/4,
                               /*head_dim=*/128,  // hidden / heads
                               /*max_position_embeddings=*/32768,
                               /*rope_theta=*/1e6,
                               /*rms_norm_eps=*/1e-6,
                               /*tie_word_embeddings=*/false,
                               /*qkv_bias=*/true,
                               /*o_bias=*/false,
                               /*num_labels=*/2,
                               /*pad_token_id=*/std::nullopt,
                               /*eos_token_id=*/151645,
                               /*torch_dtype=*/"bfloat16"});
}

TEST(ModelConfig, HeadDimDefaults) {
  json q3 = qwen3();
  q3.erase("head_dim");
  EXPECT_EQ(parse(q3).head_dim, 128);  // transformers' Qwen3Config default, not 1024 / 16
  json q2 = qwen2();
  q2["head_dim"] = 64;
  EXPECT_EQ(parse(q2).head_dim, 64);
  q2.erase("head_dim");
  q2["hidden_size"] = 3585;
  EXPECT_EQ(refusal(q2), std::string(kSource) +
                             ": has no \"head_dim\" and hidden_size (3585) is not a multiple of "
                             "num_attention_heads (28)");
}

TEST(ModelConfig, Qwen3AttentionBias) {
  json config = qwen3();
  config["attention_bias"] = true;
  const ModelConfig c = parse(config);
  EXPECT_TRUE(c.qkv_bias);
  EXPECT_TRUE(c.o_bias);
  config.erase("attention_bias");
  EXPECT_FALSE(parse(config).qkv_bias);
}

TEST(ModelConfig, SequenceClassificationLabels) {
  json config = qwen3();
  config["architectures"] = {"Qwen3ForSequenceClassification"};
  config["id2label"] = {{"0", "LABEL_0"}};
  config["label2id"] = {{"LABEL_0", 0}};
  config["pad_token_id"] = 151643;
  ModelConfig c = parse(config);
  EXPECT_EQ(c.architecture, Architecture::kQwen3ForSequenceClassification);
  EXPECT_EQ(c.head, HeadKind::kSequenceClassification);
  EXPECT_EQ(c.num_labels, 1);
  EXPECT_EQ(c.pad_token_id, 151643);

  config["num_labels"] = 1;
  EXPECT_EQ(parse(config).num_labels, 1);
  config["num_labels"] = 3;
  EXPECT_EQ(refusal(config), std::string(kSource) +
                                 ": \"num_labels\" is 3 but \"id2label\" has 1 entries; they must "
                                 "agree");
  config.erase("id2label");
  EXPECT_EQ(parse(config).num_labels, 3);
  config.erase("num_labels");
  EXPECT_EQ(parse(config).num_labels, 2);  // transformers' default
}

TEST(ModelConfig, Qwen2Heads) {
  json config = qwen2();
  config["architectures"] = {"Qwen2ForSequenceClassification"};
  config["num_labels"] = 4;
  ModelConfig c = parse(config);
  EXPECT_EQ(c.architecture, Architecture::kQwen2ForSequenceClassification);
  EXPECT_EQ(c.head, HeadKind::kSequenceClassification);
  EXPECT_EQ(c.num_labels, 4);
  EXPECT_TRUE(c.qkv_bias);

  config["architectures"] = {"Qwen2ForRewardModel"};
  c = parse(config);
  EXPECT_EQ(c.architecture, Architecture::kQwen2ForRewardModel);
  EXPECT_EQ(c.head, HeadKind::kRewardModel);
  EXPECT_EQ(c.num_labels, 1);  // the reward head always has one output
  EXPECT_EQ(c.family, Family::kQwen2);
}

TEST(ModelConfig, ArchitectureNames) {
  EXPECT_EQ(architecture_name(Architecture::kQwen3ForCausalLM), "Qwen3ForCausalLM");
  EXPECT_EQ(architecture_name(Architecture::kQwen3ForSequenceClassification),
            "Qwen3ForSequenceClassification");
  EXPECT_EQ(architecture_name(Architecture::kQwen2ForCausalLM), "Qwen2ForCausalLM");
  EXPECT_EQ(architecture_name(Architecture::kQwen2ForSequenceClassification),
            "Qwen2ForSequenceClassification");
  EXPECT_EQ(architecture_name(Architecture::kQwen2ForRewardModel), "Qwen2ForRewardModel");
  EXPECT_EQ(architecture_name(Architecture::kQwen3ForGuardModel), "Qwen3ForGuardModel");
}

TEST(ModelConfig, EosTokenList) {
  json config = qwen3();
  config["eos_token_id"] = {151645, 151643};
  EXPECT_EQ(parse(config).eos_token_id, 151645);
  config["eos_token_id"] = json::array();
  EXPECT_EQ(parse(config).eos_token_id, std::nullopt);
  config["eos_token_id"] = nullptr;
  EXPECT_EQ(parse(config).eos_token_id, std::nullopt);
  config["eos_token_id"] = {151645, "x"};
  EXPECT_EQ(refusal(config), std::string(kSource) +
                                 ": eos_token_id[1]: must be an integer >= 0, got a string "
                                 "(\"x\")");
}

TEST(ModelConfig, RopeParametersOfNewerTransformers) {
  json config = qwen3();
  config.erase("rope_theta");
  config.erase("rope_scaling");
  config["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", 5e5}};
  EXPECT_EQ(parse(config).rope_theta, 5e5);
  config["rope_theta"] = 5e5;
  EXPECT_EQ(parse(config).rope_theta, 5e5);
  config["rope_theta"] = 1e6;
  EXPECT_EQ(refusal(config), std::string(kSource) +
                                 ": \"rope_theta\" is 1e+06 but \"rope_parameters.rope_theta\" is "
                                 "500000; they must agree");
  config.erase("rope_theta");
  config.erase("rope_parameters");
  EXPECT_EQ(parse(config).rope_theta, 10000.0);  // transformers' default
}

TEST(ModelConfig, DefaultRopeScalingAccepted) {
  json config = qwen3();
  config["rope_scaling"] = {{"type", "default"}};
  EXPECT_EQ(parse(config).rope_theta, 1e6);
  config["rope_scaling"] = {{"rope_type", "default"}};
  EXPECT_EQ(parse(config).rope_theta, 1e6);
}

TEST(ModelConfig, DtypeKeyOfNewerTransformers) {
  json config = qwen3();
  config.erase("torch_dtype");
  config["dtype"] = "float32";
  EXPECT_EQ(parse(config).torch_dtype, "float32");
  config.erase("dtype");
  EXPECT_EQ(parse(config).torch_dtype, "");
}

TEST(ModelConfig, LoadsFromDirectory) {
  TempDir dir;
  testing::write_file(dir.file("config.json"), kQwen3_0_6B);
  EXPECT_EQ(load_model_config(dir.path()).hidden_size, 1024);
  TempDir empty;
  EXPECT_TRUE(contains_all(load_error([&] { load_model_config(empty.path()); }),
                           {"cannot open ", empty.file("config.json")}));
  testing::write_file(dir.file("config.json"), R"({"architectures": ["Qwen3ForCausalLM"]})");
  EXPECT_EQ(load_error([&] { load_model_config(dir.path()); }),
            dir.file("config.json") +
                ": missing \"model_type\"; expected \"qwen3\" for "
                "Qwen3ForCausalLM");
}

// Each refusal: the config change and the exact message after "cfg/config.json: ".
struct Refusal {
  const char* name;
  void (*edit)(json&);
  const char* message;
};

class ModelConfigRefusal : public ::testing::TestWithParam<Refusal> {};

TEST_P(ModelConfigRefusal, NamesKeyAndSupportedValues) {
  json config = qwen3();
  GetParam().edit(config);
  EXPECT_EQ(refusal(config), std::string(kSource) + ": " + GetParam().message);
}

const Refusal kRefusals[] = {
    {"UnknownArchitecture", [](json& c) { c["architectures"] = {"LlamaForCausalLM"}; },
     "architecture \"LlamaForCausalLM\" is not supported (supported: Qwen3ForCausalLM, "
     "Qwen3ForSequenceClassification, Qwen2ForCausalLM, Qwen2ForSequenceClassification, "
     "Qwen2ForRewardModel, Qwen3ForGuardModel)"},
    {"TwoArchitectures",
     [](json& c) {
       c["architectures"] = {"Qwen3ForCausalLM", "Qwen3ForSequenceClassification"};
     },
     "architectures: must be a list of exactly one name, one of: Qwen3ForCausalLM, "
     "Qwen3ForSequenceClassification, Qwen2ForCausalLM, Qwen2ForSequenceClassification, "
     "Qwen2ForRewardModel, Qwen3ForGuardModel; got an array"},
    {"MissingArchitectures", [](json& c) { c.erase("architectures"); },
     "architectures: must be a list of exactly one name, one of: Qwen3ForCausalLM, "
     "Qwen3ForSequenceClassification, Qwen2ForCausalLM, Qwen2ForSequenceClassification, "
     "Qwen2ForRewardModel, Qwen3ForGuardModel; got nothing"},
    {"ArchitecturesString", [](json& c) { c["architectures"] = "Qwen3ForCausalLM"; },
     "architectures: must be a list of exactly one name, one of: Qwen3ForCausalLM, "
     "Qwen3ForSequenceClassification, Qwen2ForCausalLM, Qwen2ForSequenceClassification, "
     "Qwen2ForRewardModel, Qwen3ForGuardModel; got a string (\"Qwen3ForCausalLM\")"},
    {"ModelTypeMismatch", [](json& c) { c["model_type"] = "qwen2"; },
     "\"model_type\" is \"qwen2\" but architecture Qwen3ForCausalLM needs \"qwen3\" (supported "
     "model types: qwen3, qwen2)"},
    {"ModelTypeOther", [](json& c) { c["model_type"] = "llama"; },
     "\"model_type\" is \"llama\" but architecture Qwen3ForCausalLM needs \"qwen3\" (supported "
     "model types: qwen3, qwen2)"},
    {"RopeYarn",
     [](json& c) {
       c["rope_scaling"] = {
           {"rope_type", "yarn"}, {"factor", 4.0}, {"original_max_position_embeddings", 32768}};
     },
     "\"rope_scaling\" has rope_type \"yarn\", which is not supported (supported: \"default\", or "
     "rope_scaling null/absent)"},
    {"RopeLinearOldSpelling",
     [](json& c) {
       c["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}};
     },
     "\"rope_scaling\" has type \"linear\", which is not supported (supported: \"default\", or "
     "rope_scaling null/absent)"},
    {"RopeDynamic",
     [](json& c) {
       c["rope_scaling"] = {{"type", "dynamic"}, {"factor", 2.0}};
     },
     "\"rope_scaling\" has type \"dynamic\", which is not supported (supported: \"default\", or "
     "rope_scaling null/absent)"},
    {"RopeScalingWithoutType",
     [](json& c) {
       c["rope_scaling"] = {{"factor", 2.0}};
     },
     "\"rope_scaling\" has no \"rope_type\"; supported: \"default\", or rope_scaling absent"},
    {"RopeScalingNotObject", [](json& c) { c["rope_scaling"] = "yarn"; },
     "rope_scaling: must be an object or null, got a string (\"yarn\")"},
    {"RopeParametersYarn",
     [](json& c) {
       c["rope_parameters"] = {{"rope_type", "yarn"}, {"rope_theta", 1e6}};
     },
     "\"rope_parameters\" has rope_type \"yarn\", which is not supported (supported: "
     "\"default\", or rope_parameters null/absent)"},
    {"SlidingWindow", [](json& c) { c["use_sliding_window"] = true; },
     "\"use_sliding_window\" is true; sliding-window attention is not supported (supported: full "
     "attention on every layer, use_sliding_window false or absent)"},
    {"LayerTypesSliding",
     [](json& c) {
       c["layer_types"] = json::array();
       for (int i = 0; i < 28; ++i) {
         c["layer_types"].push_back(i == 5 ? "sliding_attention" : "full_attention");
       }
     },
     "layer_types[5]: a string (\"sliding_attention\") is not supported (supported: "
     "\"full_attention\")"},
    {"LayerTypesWrongLength", [](json& c) { c["layer_types"] = {"full_attention"}; },
     "\"layer_types\" has 1 entries but num_hidden_layers is 28"},
    {"Quantized",
     [](json& c) {
       c["quantization_config"] = {{"quant_method", "fp8"}};
     },
     "has a \"quantization_config\"; quantized checkpoints are not supported (use the bfloat16, "
     "float16 or float32 weights)"},
    {"Activation", [](json& c) { c["hidden_act"] = "gelu"; },
     "\"hidden_act\" is \"gelu\", which is not supported (supported: \"silu\")"},
    {"HeadsNotMultipleOfKvHeads", [](json& c) { c["num_key_value_heads"] = 6; },
     "num_attention_heads (16) is not a multiple of num_key_value_heads (6)"},
    {"MissingHiddenSize", [](json& c) { c.erase("hidden_size"); },
     "hidden_size: missing; give a positive integer"},
    {"NullVocabSize", [](json& c) { c["vocab_size"] = nullptr; },
     "vocab_size: missing; give a positive integer"},
    {"ZeroLayers", [](json& c) { c["num_hidden_layers"] = 0; },
     "num_hidden_layers: must be an integer from 1 to 16777216, got a number (0)"},
    {"NegativeIntermediate", [](json& c) { c["intermediate_size"] = -3072; },
     "intermediate_size: must be an integer from 1 to 16777216, got a number (-3072)"},
    {"HiddenSizeString", [](json& c) { c["hidden_size"] = "1024"; },
     "hidden_size: must be an integer from 1 to 16777216, got a string (\"1024\")"},
    {"HiddenSizeFloat", [](json& c) { c["hidden_size"] = 1024.0; },
     "hidden_size: must be an integer from 1 to 16777216, got a number (1024.0)"},
    {"HeadDimZero", [](json& c) { c["head_dim"] = 0; },
     "head_dim: must be an integer from 1 to 16777216, got a number (0)"},
    {"TieNotBool", [](json& c) { c["tie_word_embeddings"] = "true"; },
     "tie_word_embeddings: must be true or false, got a string (\"true\")"},
    {"AttentionBiasNotBool", [](json& c) { c["attention_bias"] = 1; },
     "attention_bias: must be true or false, got a number (1)"},
    {"RopeThetaString", [](json& c) { c["rope_theta"] = "1e6"; },
     "rope_theta: must be a number, got a string (\"1e6\")"},
    {"RopeThetaZero", [](json& c) { c["rope_theta"] = 0; },
     "rope_theta: must be a positive number, got a number (0)"},
    {"EpsNegative", [](json& c) { c["rms_norm_eps"] = -1e-6; },
     "rms_norm_eps: must be a positive number, got a number (-1e-06)"},
    {"PadNegative", [](json& c) { c["pad_token_id"] = -1; },
     "pad_token_id: must be an integer >= 0, got a number (-1)"},
    {"TorchDtypeNotString", [](json& c) { c["torch_dtype"] = 16; },
     "torch_dtype: must be a string, got a number (16)"},
    {"ModelTypeNotString", [](json& c) { c["model_type"] = 3; },
     "model_type: must be a string, got a number (3)"},
    {"Id2LabelEmpty", [](json& c) { c["id2label"] = json::object(); },
     "id2label: must be a non-empty object mapping label indices to names, got an empty one"},
    {"RopeParametersThetaString",
     [](json& c) {
       c["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", "5e5"}};
     },
     "rope_parameters.rope_theta: must be a number, got a string (\"5e5\")"},
};

INSTANTIATE_TEST_SUITE_P(All, ModelConfigRefusal, ::testing::ValuesIn(kRefusals),
                         [](const ::testing::TestParamInfo<Refusal>& info) {
                           return std::string(info.param.name);
                         });

TEST(ModelConfig, NotJsonOrNotObject) {
  EXPECT_TRUE(contains_all(load_error([] { parse_model_config("{\"a\": ", kSource); }),
                           {kSource, ": not valid JSON ("}));
  EXPECT_EQ(load_error([] { parse_model_config("[1]", kSource); }),
            std::string(kSource) + ": is a JSON array, expected an object");
}

TEST(ModelConfig, UnknownExtraKeysAreFine) {
  json config = qwen3();
  config["some_future_field"] = {{"nested", true}};
  config["sliding_window"] = 4096;  // ignored while use_sliding_window is false
  EXPECT_EQ(parse(config).hidden_size, 1024);
}

// Qwen3Guard-Stream-0.6B's shape: the Qwen3-0.6B backbone plus the five guard keys as vLLM's
// port reads them (guard_inner_size 512 at 0.6B).
json stream_guard() {
  json config = qwen3();
  config["architectures"] = {"Qwen3ForGuardModel"};
  config["guard_inner_size"] = 512;
  config["num_risk_level"] = 3;
  config["num_category"] = 8;
  config["num_query_risk_level"] = 3;
  config["num_query_category"] = 9;
  return config;
}

TEST(StreamGuardConfig, ReadsTheFiveGuardKeys) {
  ModelConfig expected = parse(qwen3());
  expected.architecture = Architecture::kQwen3ForGuardModel;
  expected.head = HeadKind::kStreamGuard;
  expected.num_labels = 1;  // not read: the guard keys size its heads
  expected.guard_inner_size = 512;
  expected.num_risk_level = 3;
  expected.num_category = 8;
  expected.num_query_risk_level = 3;
  expected.num_query_category = 9;
  expect_config_eq(parse(stream_guard()), expected);
}

TEST(StreamGuardConfig, GuardKeysAreIgnoredByOtherArchitectures) {
  json config = stream_guard();
  config["architectures"] = {"Qwen3ForCausalLM"};
  config["num_category"] = 7;  // would be refused for the guard
  const ModelConfig c = parse(config);
  EXPECT_EQ(c.guard_inner_size, 0);
  EXPECT_EQ(c.num_category, 0);
}

TEST(StreamGuardConfig, EveryGuardKeyIsRequired) {
  for (const char* key : {"guard_inner_size", "num_risk_level", "num_category",
                          "num_query_risk_level", "num_query_category"}) {
    json config = stream_guard();
    config.erase(key);
    EXPECT_EQ(refusal(config),
              std::string(kSource) + ": " + key + ": missing; give a positive integer");
    config[key] = nullptr;  // Hugging Face's null for unset counts as missing
    EXPECT_EQ(refusal(config),
              std::string(kSource) + ": " + key + ": missing; give a positive integer");
    config[key] = "3";
    EXPECT_EQ(refusal(config), std::string(kSource) + ": " + key +
                                   ": must be an integer from 1 to 16777216, got a string (\"3\")");
  }
  json config = stream_guard();
  config["guard_inner_size"] = 0;
  EXPECT_EQ(refusal(config), std::string(kSource) +
                                 ": guard_inner_size: must be an integer from 1 to 16777216, got "
                                 "a number (0)");
}

TEST(StreamGuardConfig, LabelCountsOtherThanTheOfficialOnesAreRefused) {
  const std::string risk = "(0 Safe, 1 Unsafe, 2 Controversial)";
  const std::string categories =
      "0 Violent, 1 Sexual Content or Sexual Acts, 2 Suicide & Self-Harm, 3 Politically Sensitive "
      "Topics, 4 PII, 5 Copyright Violation, 6 Non-violent Illegal Acts, 7 Unethical Acts";
  const std::string tail =
      "; a checkpoint with other labels is not Qwen3Guard-Stream and is not supported";
  struct Case {
    const char* key;
    int value;
    std::string message;
  };
  for (const Case& c : {
           Case{"num_risk_level", 2,
                "is 2, but the Stream guard's response risk-level head has exactly 3 labels in "
                "the official order " +
                    risk + tail},
           Case{"num_category", 9,
                "is 9, but the Stream guard's response category head has exactly 8 labels in the "
                "official order (" +
                    categories + ")" + tail},
           Case{"num_query_risk_level", 4,
                "is 4, but the Stream guard's query risk-level head has exactly 3 labels in the "
                "official order " +
                    risk + tail},
           Case{"num_query_category", 8,
                "is 8, but the Stream guard's query category head has exactly 9 labels in the "
                "official order (" +
                    categories + ", 8 Jailbreak)" + tail},
       }) {
    json config = stream_guard();
    config[c.key] = c.value;
    EXPECT_EQ(refusal(config), std::string(kSource) + ": " + c.key + ": " + c.message);
  }
}

// Written out, not taken from the header: the test states the official order itself.
json official_response_categories() {
  return {"Violent",
          "Sexual Content or Sexual Acts",
          "Suicide & Self-Harm",
          "Politically Sensitive Topics",
          "PII",
          "Copyright Violation",
          "Non-violent Illegal Acts",
          "Unethical Acts"};
}

TEST(StreamGuardConfig, LabelMapsInTheOfficialOrderAreAccepted) {
  json config = stream_guard();
  // Every spelling of a map: index -> name, name -> index, a list.
  config["risk_level_map"] = {{"0", "Safe"}, {"1", "Unsafe"}, {"2", "Controversial"}};
  config["query_risk_level_map"] = {{"Safe", 0}, {"Unsafe", 1}, {"Controversial", 2}};
  config["category_map"] = official_response_categories();
  json query = official_response_categories();
  query.push_back("Jailbreak");
  config["query_category_map"] = query;
  config["id2label"] = {{"0", "Safe"}, {"1", "Unsafe"}, {"2", "Controversial"}};
  EXPECT_EQ(parse(config).num_query_category, 9);
  // transformers' placeholder names name nothing.
  config["id2label"] = {{"0", "LABEL_0"}, {"1", "LABEL_1"}};
  EXPECT_EQ(parse(config).num_risk_level, 3);
}

TEST(StreamGuardConfig, ALabelMapInAnotherOrderIsRefusedNamingKeyAndIndex) {
  const std::string risk = "(risk level: 0 Safe, 1 Unsafe, 2 Controversial)";
  json config = stream_guard();
  config["risk_level_map"] = {{"0", "Safe"}, {"1", "Controversial"}, {"2", "Unsafe"}};
  EXPECT_EQ(refusal(config), std::string(kSource) +
                                 ": risk_level_map: index 1 is \"Controversial\", but the "
                                 "official order has \"Unsafe\" there " +
                                 risk);
  config = stream_guard();
  config["query_risk_level_map"] = {{"Unsafe", 0}, {"Safe", 1}, {"Controversial", 2}};
  EXPECT_EQ(refusal(config), std::string(kSource) +
                                 ": query_risk_level_map: index 0 is \"Unsafe\", but the "
                                 "official order has \"Safe\" there " +
                                 risk);
  config = stream_guard();
  json swapped = official_response_categories();
  swapped.insert(swapped.begin() + 7, "Jailbreak");  // before "Unethical Acts"
  config["query_category_map"] = swapped;
  EXPECT_TRUE(contains_all(refusal(config),
                           {": query_category_map: index 7 is \"Jailbreak\", but the official "
                            "order has \"Unethical Acts\" there (query category: 0 Violent"}));
  config = stream_guard();
  config["id2label"] = {{"0", "Safe"}, {"1", "Controversial"}, {"2", "Unsafe"}};
  EXPECT_TRUE(contains_all(refusal(config), {": id2label: index 1 is \"Controversial\""}));
}

TEST(StreamGuardConfig, MalformedLabelMapsAreRefused) {
  json config = stream_guard();
  config["category_map"] = {{"0", "Violent"}};
  EXPECT_TRUE(contains_all(refusal(config),
                           {": category_map: has 1 labels, but the Stream guard's response "
                            "category has 8 (0 Violent, "}));
  config = stream_guard();
  config["risk_level_map"] = {{"0", "Safe"}, {"one", "Unsafe"}, {"2", "Controversial"}};
  EXPECT_EQ(refusal(config),
            std::string(kSource) +
                ": risk_level_map.one: is a label name keyed by \"one\", which is not an index "
                "in 0..2");
  config = stream_guard();
  config["risk_level_map"] = {{"Safe", 0}, {"Unsafe", 0}, {"Controversial", 2}};
  EXPECT_EQ(refusal(config),
            std::string(kSource) + ": risk_level_map.Unsafe: index 0 appears twice");
  config = stream_guard();
  config["risk_level_map"] = {{"Safe", 0}, {"Unsafe", 1}, {"Controversial", 3}};
  EXPECT_EQ(refusal(config), std::string(kSource) +
                                 ": risk_level_map.Controversial: must be an integer from 0 to "
                                 "2, got a number (3)");
  config = stream_guard();
  config["risk_level_map"] = "Safe";
  EXPECT_EQ(refusal(config), std::string(kSource) +
                                 ": risk_level_map: must be a non-empty object or list of label "
                                 "names, got a string (\"Safe\")");
  config = stream_guard();
  config["id2label"] = {{"0", "a"}, {"1", "b"}, {"2", "c"}, {"3", "d"}, {"4", "e"}};
  EXPECT_EQ(refusal(config), std::string(kSource) +
                                 ": id2label: has 5 labels; a Qwen3ForGuardModel label map has 3 "
                                 "risk levels, 8 response categories or 9 query categories");
}

TEST(ModelConfig, KvHeadsDefaultToHeads) {
  json config = qwen3();
  config.erase("num_key_value_heads");
  EXPECT_EQ(parse(config).num_key_value_heads, 16);
}

}  // namespace
}  // namespace safrl::io
