// Qwen3ForGuardModel (Qwen3Guard-Stream) in the engine against the reference of the same
// architecture in safrl/testing/stream_guard_model.py: its four logits at every position of the
// tiny checkpoints that save_pretrained wrote (safrl/testing/checkpoints.py), each input alone,
// in one packed batch and continued from a KV cache; the loader's strictness on its head
// tensors; and the FLOPs of its two branches.
#include <gtest/gtest.h>

#include <ATen/Functions.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/engine.h"
#include "engine/reference_support.h"
#include "util/error.h"

namespace safrl {
namespace {

using testing::cpu_options;
using testing::engine_load_error;
using testing::kCheckpoints;
using testing::relative_difference;

// The four outputs in StreamLogits order, as reference.json names them (the official names).
constexpr std::array<const char*, 4> kLogitNames = {
    "risk_level_logits", "category_logits", "query_risk_level_logits", "query_category_logits"};
constexpr std::array<int64_t, 4> kLabels = {3, 8, 3, 9};

std::array<at::Tensor, 4> as_array(const model::StreamLogits& logits) {
  return {logits.risk, logits.category, logits.query_risk, logits.query_category};
}

// One input's four logit tensors, [length, labels] each.
using Rows = std::array<at::Tensor, 4>;

// reference.json of a Qwen3ForGuardModel checkpoint (checkpoints.py's docstring).
struct StreamReference {
  std::vector<std::vector<int32_t>> inputs;
  std::vector<Rows> alone, padded, bf16;
  // Per output, its largest |fp32 value| over all inputs: differences are relative to it.
  std::array<double, 4> scale{};
};

std::vector<Rows> read_rows(const nlohmann::json& list) {
  std::vector<Rows> out;
  for (const nlohmann::json& input : list) {
    Rows rows;
    for (size_t k = 0; k < kLogitNames.size(); ++k) {
      const auto values = input.at(kLogitNames[k]).get<std::vector<std::vector<float>>>();
      std::vector<float> flat;
      for (const auto& row : values) flat.insert(flat.end(), row.begin(), row.end());
      rows[k] = at::tensor(flat).view({static_cast<int64_t>(values.size()), kLabels[k]});
    }
    out.push_back(rows);
  }
  return out;
}

StreamReference read_stream_reference(const std::string& dir) {
  std::ifstream in(dir + "/reference.json");
  EXPECT_TRUE(in) << "missing " << dir << "/reference.json (run the generate_checkpoints test)";
  const nlohmann::json j = nlohmann::json::parse(in);
  StreamReference ref{j.at("inputs").get<std::vector<std::vector<int32_t>>>(),
                      read_rows(j.at("stream_outputs")), read_rows(j.at("padded_stream_outputs")),
                      read_rows(j.at("bf16_stream_outputs"))};
  for (size_t k = 0; k < kLogitNames.size(); ++k) {
    ref.scale[k] = 1e-12;
    for (const Rows& rows : ref.alone) {
      ref.scale[k] = std::max(ref.scale[k], rows[k].abs().max().item<double>());
    }
  }
  return ref;
}

// The engine's rows of each input in a packed result, [length, labels] per output.
std::vector<Rows> split(const model::StreamLogits& packed,
                        const std::vector<std::vector<int32_t>>& inputs) {
  std::vector<Rows> out;
  int64_t offset = 0;
  for (const auto& ids : inputs) {
    const auto length = static_cast<int64_t>(ids.size());
    Rows rows;
    const std::array<at::Tensor, 4> all = as_array(packed);
    for (size_t k = 0; k < all.size(); ++k) rows[k] = all[k].narrow(0, offset, length);
    out.push_back(rows);
    offset += length;
  }
  return out;
}

// The largest of the four outputs' relative differences.
double worst_difference(const Rows& actual, const Rows& expected, const std::string& what,
                        const std::array<double, 4>& scale) {
  double worst = 0;
  for (size_t k = 0; k < kLogitNames.size(); ++k) {
    EXPECT_EQ(actual[k].sizes(), expected[k].sizes()) << what << " " << kLogitNames[k];
    if (actual[k].sizes() != expected[k].sizes()) return INFINITY;
    worst = std::max(worst, relative_difference(actual[k].to(at::kFloat), expected[k],
                                                what + " " + kLogitNames[k], scale[k]));
  }
  return worst;
}

Rows alone(engine::Engine& e, const std::vector<int32_t>& ids) {
  return as_array(e.stream_logits({{ids}}));
}

class StreamReferenceTest : public ::testing::TestWithParam<std::string> {
 protected:
  std::string dir() const { return kCheckpoints + "/" + GetParam(); }
};

TEST_P(StreamReferenceTest, EachInputAloneMatchesTheReferenceAtEveryPosition) {
  engine::Engine e(dir(), cpu_options());
  const StreamReference ref = read_stream_reference(dir());
  ASSERT_EQ(ref.inputs.size(), 6u);  // 1, 2, 7, 19, 33 and 13 tokens
  for (size_t i = 0; i < ref.inputs.size(); ++i) {
    EXPECT_LT(worst_difference(alone(e, ref.inputs[i]), ref.alone[i],
                               GetParam() + " input " + std::to_string(i), ref.scale),
              1e-4);
  }
}

// safrl packs the six inputs with no padding; the reference ran them as one right-padded batch.
// Every row of every input must agree with it, and (more tightly: the same arithmetic) with the
// input run alone.
TEST_P(StreamReferenceTest, PackedBatchMatchesThePaddedReferenceAndEachInputAlone) {
  engine::Engine e(dir(), cpu_options());
  const StreamReference ref = read_stream_reference(dir());
  std::vector<engine::SequenceInput> all;
  for (const auto& ids : ref.inputs) all.push_back({ids});
  const model::StreamLogits packed = e.stream_logits(all);
  ASSERT_EQ(packed.risk.size(0), 1 + 2 + 7 + 19 + 33 + 13);
  const std::vector<Rows> rows = split(packed, ref.inputs);
  for (size_t i = 0; i < ref.inputs.size(); ++i) {
    const std::string input = " input " + std::to_string(i);
    EXPECT_LT(worst_difference(rows[i], ref.padded[i], "packed vs padded" + input, ref.scale),
              1e-4);
    EXPECT_LT(
        worst_difference(rows[i], alone(e, ref.inputs[i]), "packed vs alone" + input, ref.scale),
        1e-5);
  }
}

// The official evaluation feeds a conversation token by token with a cache; safrl may feed a
// prefix and then the rest. Either way each row is the same as in one forward of the whole.
TEST_P(StreamReferenceTest, PrefixInACacheThenTheRestGivesTheSameRows) {
  engine::Engine e(dir(), cpu_options());
  const StreamReference ref = read_stream_reference(dir());
  const std::vector<int32_t>& ids = ref.inputs[4];  // 33 tokens
  const std::vector<int32_t> prefix(ids.begin(), ids.begin() + 12),
      rest(ids.begin() + 12, ids.end());
  model::KvCache cache = e.new_cache();
  const Rows first = as_array(e.stream_logits({{prefix, &cache}}));
  const Rows second = as_array(e.stream_logits({{rest, &cache}}));
  ASSERT_EQ(cache.length(), 33);
  Rows joined;
  for (size_t k = 0; k < joined.size(); ++k) joined[k] = at::cat({first[k], second[k]}, 0);
  EXPECT_LT(worst_difference(joined, alone(e, ids), "prefix + rest vs whole", ref.scale), 1e-5);
  EXPECT_LT(worst_difference(joined, ref.alone[4], "prefix + rest vs reference", ref.scale), 1e-4);

  // One token at a time after the prefix, as a streaming caller would.
  model::KvCache stepwise = e.new_cache();
  e.stream_logits({{prefix, &stepwise}});
  for (size_t t = 12; t < ids.size(); ++t) {
    const Rows step = as_array(e.stream_logits({{std::vector<int32_t>{ids[t]}, &stepwise}}));
    Rows expected;
    for (size_t k = 0; k < expected.size(); ++k) {
      expected[k] = ref.alone[4][k].narrow(0, static_cast<int64_t>(t), 1);
    }
    ASSERT_LT(worst_difference(step, expected, "token " + std::to_string(t), ref.scale), 1e-4);
  }
}

// The tolerances of the other heads' bf16 test (engine_test.cpp): computing in bf16, safrl and
// the reference round differently, so they agree only to bf16's precision.
constexpr double kBf16Agreement = 0.08;
constexpr double kBf16MaxError = 0.06;

TEST_P(StreamReferenceTest, Bf16ComputeIsWithinBf16PrecisionOfTheReferenceAndFp32) {
  engine::Engine e(dir(), cpu_options(c10::kBFloat16, c10::kBFloat16));
  const StreamReference ref = read_stream_reference(dir());
  double safrl_error = 0, reference_error = 0;
  for (size_t i = 0; i < ref.inputs.size(); ++i) {
    const std::string input = GetParam() + " bf16 input " + std::to_string(i);
    const Rows actual = alone(e, ref.inputs[i]);
    EXPECT_LT(worst_difference(actual, ref.bf16[i], input + " vs reference bf16", ref.scale),
              kBf16Agreement);
    safrl_error = std::max(safrl_error,
                           worst_difference(actual, ref.alone[i], input + " vs fp32", ref.scale));
    reference_error = std::max(reference_error, worst_difference(ref.bf16[i], ref.alone[i],
                                                                 "  reference bf16", ref.scale));
  }
  std::printf("%s: largest error against fp32, safrl bf16 %.3g, reference bf16 %.3g\n",
              GetParam().c_str(), safrl_error, reference_error);
  EXPECT_LT(safrl_error, kBf16MaxError);
}

TEST_P(StreamReferenceTest, Bf16StorageMatchesFloat32Storage) {
  engine::Engine e32(dir(), cpu_options(c10::kFloat));
  engine::Engine e16(dir(), cpu_options(c10::kBFloat16));
  const StreamReference ref = read_stream_reference(dir());
  const Rows a = alone(e32, ref.inputs[4]);
  const Rows b = alone(e16, ref.inputs[4]);
  for (size_t k = 0; k < a.size(); ++k) {
    if (e32.config().torch_dtype == "bfloat16") {
      EXPECT_TRUE(at::equal(a[k], b[k])) << kLogitNames[k];  // bf16 -> fp32 is exact
    } else {
      EXPECT_LT(relative_difference(b[k], a[k], std::string("bf16 storage ") + kLogitNames[k]),
                5e-2);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(StreamCheckpoints, StreamReferenceTest,
                         ::testing::Values("qwen3_stream_guard",
                                           "qwen3_stream_guard_bf16_sharded"));

TEST(StreamGuardModel, HasTheEightHeadTensorsAndNoLmHead) {
  engine::Engine e(kCheckpoints + "/broken/stream_with_lm_head", cpu_options());
  std::vector<std::string> heads;
  for (const auto& item : e.model()->named_parameters(/*recurse=*/true)) {
    if (item.key().rfind("model.", 0) != 0) heads.push_back(item.key());
  }
  std::sort(heads.begin(), heads.end());
  EXPECT_EQ(heads, (std::vector<std::string>{
                       "category_head.weight", "query_category_head.weight",
                       "query_risk_level_category_layernorm.weight",
                       "query_risk_level_category_pre.weight", "query_risk_level_head.weight",
                       "risk_level_category_layernorm.weight", "risk_level_category_pre.weight",
                       "risk_level_head.weight"}));
  // Shapes from the checkpoint's config: hidden 48, guard_inner_size 24, labels 3, 8, 3, 9.
  EXPECT_EQ(e.model()->query_category_head->weight.sizes(), (c10::IntArrayRef{9, 24}));
  EXPECT_EQ(e.model()->risk_level_category_pre->weight.sizes(), (c10::IntArrayRef{24, 48}));
  const model::StreamLogits out = e.stream_logits({{std::vector<int32_t>{1, 2, 3}}});
  EXPECT_EQ(out.category.sizes(), (c10::IntArrayRef{3, 8}));
  EXPECT_EQ(out.query_risk.scalar_type(), at::kFloat);
}

TEST(StreamGuardLoading, AMissingHeadAnUnknownTensorAndAWrongLmHeadAreRefused) {
  const std::string broken = kCheckpoints + "/broken/";
  EXPECT_NE(
      engine_load_error(broken + "stream_missing_head")
          .find("lacks 1 tensor(s) that Qwen3ForGuardModel needs: query_category_head.weight"),
      std::string::npos)
      << engine_load_error(broken + "stream_missing_head");
  EXPECT_NE(engine_load_error(broken + "stream_extra_tensor")
                .find("holds 1 tensor(s) that Qwen3ForGuardModel does not use (wrong architecture "
                      "in config.json?): query_category_head.bias"),
            std::string::npos)
      << engine_load_error(broken + "stream_extra_tensor");
  EXPECT_NE(engine_load_error(broken + "stream_wrong_lm_head")
                .find("tensor lm_head.weight in " + broken +
                      "stream_wrong_lm_head/model.safetensors has shape [101, 24] but "
                      "Qwen3ForGuardModel with this config.json expects [101, 48] (it is skipped, "
                      "not used, but must match)"),
            std::string::npos)
      << engine_load_error(broken + "stream_wrong_lm_head");
  EXPECT_EQ(engine_load_error(broken + "stream_with_lm_head"), "no error");
}

TEST(StreamGuardModel, OtherHeadsAreNotStreamHeadsAndBack) {
  engine::Engine causal(kCheckpoints + "/qwen3_causal_tied_f32", cpu_options());
  try {
    causal.stream_logits({{std::vector<int32_t>{1}}});
    FAIL() << "no error for stream_logits on a causal LM";
  } catch (const util::Error& error) {
    EXPECT_STREQ(error.what(),
                 "stream_logits needs a Qwen3ForGuardModel; this model is "
                 "Qwen3ForCausalLM");
  }
  engine::Engine stream(kCheckpoints + "/qwen3_stream_guard", cpu_options());
  EXPECT_THROW(stream.scores({{std::vector<int32_t>{1}}}), util::Error);
  EXPECT_THROW(stream.last_logits({{std::vector<int32_t>{1}}}), util::Error);
}

// FLOPs by hand. qwen3_stream_guard's backbone is qwen3_causal_tied_f32's (engine_test.cpp):
// 41472 per token and layer, 4 x 64 per attended key. Its heads on one row: per branch
// 2 x (48 x 24 pre-projection + 24 x (3 + 8)) = 2832 and 2 x (48 x 24 + 24 x (3 + 9)) = 2880,
// 5712 in all.
TEST(StreamGuardWorkCount, BothBranchesAreCountedOnEveryNewToken) {
  engine::Engine e(kCheckpoints + "/qwen3_stream_guard", cpu_options());
  model::KvCache cache = e.new_cache();
  e.stream_logits({{std::vector<int32_t>{1, 2, 3, 4, 5}, &cache}});
  // 5 tokens see 1 + ... + 5 = 15 keys in each of the 2 layers.
  EXPECT_EQ(e.work().layer_flops, 2.0 * (41472 * 5 + 4 * 64 * 15));
  EXPECT_EQ(e.work().head_flops, 5 * 5712.0);
  EXPECT_EQ(e.work().full_head_flops, 5 * 5712.0);
  // Two more after the 5 cached: keys 6 + 7 = 13; the heads on the 2 new rows only.
  e.stream_logits({{std::vector<int32_t>{6, 7}, &cache}});
  EXPECT_EQ(e.work().layer_flops,
            2.0 * (41472 * 5 + 4 * 64 * 15) + 2.0 * (41472 * 2 + 4 * 64 * 13));
  EXPECT_EQ(e.work().head_flops, 7 * 5712.0);
  EXPECT_EQ(e.work().tokens, 7);
  EXPECT_EQ(e.work().forwards, 2);
}

}  // namespace
}  // namespace safrl
