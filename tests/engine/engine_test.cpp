// The engine against transformers on the tiny checkpoints that transformers itself writes
// (safrl/testing/checkpoints.py: save_pretrained, then the outputs of from_pretrained), plus
// the equivalences the engine promises: packed == alone, prefix + continuation == whole,
// incremental == full.
#include <gtest/gtest.h>

#include <ATen/Functions.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/engine.h"
#include "engine/matmul_rate.h"
#include "engine/reference_support.h"
#include "model/scalar_type.h"
#include "util/device_names.h"
#include "util/error.h"
#include "util/process_memory.h"

namespace safrl {
namespace {

using testing::cpu_options;
using testing::kCheckpoints;
using testing::relative_difference;

// reference.json: the inputs and transformers' outputs at each input's scored position.
struct Reference {
  std::vector<std::vector<int32_t>> inputs;
  std::vector<std::vector<float>> outputs;         // fp32, each input alone
  std::vector<std::vector<float>> padded_outputs;  // fp32, one right-padded batch with a mask
  std::vector<std::vector<float>> bf16_outputs;    // the model computing in bf16, each alone
};

Reference read_reference(const std::string& dir) {
  std::ifstream in(dir + "/reference.json");
  EXPECT_TRUE(in) << "missing " << dir << "/reference.json (run the generate_checkpoints test)";
  nlohmann::json j = nlohmann::json::parse(in);
  using Rows = std::vector<std::vector<float>>;
  return {j["inputs"].get<std::vector<std::vector<int32_t>>>(), j["outputs"].get<Rows>(),
          j["padded_outputs"].get<Rows>(), j["bf16_outputs"].get<Rows>()};
}

// The size of a checkpoint's outputs: the largest |fp32 output| over all its inputs. Differences
// against transformers are relative to it, not to each input's own largest value, which for a
// one-label score is that single number and can be near zero.
double output_scale(const Reference& ref) {
  double scale = 1e-12;
  for (const auto& row : ref.outputs) {
    for (float v : row) scale = std::max(scale, static_cast<double>(std::abs(v)));
  }
  return scale;
}

bool is_causal(const engine::Engine& e) {
  return e.config().head == io::HeadKind::kCausalLM;
}

at::Tensor outputs_of(engine::Engine& e, const std::vector<engine::SequenceInput>& inputs) {
  return is_causal(e) ? e.last_logits(inputs) : e.scores(inputs);
}

class ReferenceTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ReferenceTest, EachInputAloneMatchesTransformers) {
  const std::string dir = kCheckpoints + "/" + GetParam();
  engine::Engine e(dir, cpu_options());
  const Reference ref = read_reference(dir);
  ASSERT_EQ(ref.inputs.size(), 6u);
  for (size_t i = 0; i < ref.inputs.size(); ++i) {
    at::Tensor actual = outputs_of(e, {{ref.inputs[i]}}).squeeze(0);
    at::Tensor expected = at::tensor(ref.outputs[i]);
    ASSERT_EQ(actual.sizes(), expected.sizes());
    EXPECT_LT(relative_difference(actual, expected, GetParam() + " input " + std::to_string(i),
                                  output_scale(ref)),
              1e-4);
  }
}

// Computing in bf16, safrl and transformers round differently (operation order, fused kernels),
// so they agree only to bf16's precision. Measured on these checkpoints, relative to each
// checkpoint's output scale: safrl is at most 0.045 from transformers' bf16, and 0.011-0.041 from
// the fp32 outputs where transformers' own bf16 is 0.005-0.030 from them (a one-label score's six
// values make the per-checkpoint maximum noisy, so the two are compared as ranges, not per
// checkpoint). A bf16 path that lost more than bf16 loses would break kBf16MaxError.
constexpr double kBf16Agreement = 0.08;
constexpr double kBf16MaxError = 0.06;

TEST_P(ReferenceTest, Bf16ComputeIsWithinBf16PrecisionOfTransformersAndFp32) {
  const std::string dir = kCheckpoints + "/" + GetParam();
  engine::Engine e(dir, cpu_options(c10::kBFloat16, c10::kBFloat16));
  const Reference ref = read_reference(dir);
  double safrl_error = 0, transformers_error = 0;
  for (size_t i = 0; i < ref.inputs.size(); ++i) {
    const std::string input = GetParam() + " bf16 input " + std::to_string(i);
    at::Tensor actual = outputs_of(e, {{ref.inputs[i]}}).squeeze(0).to(at::kFloat);
    at::Tensor transformers_bf16 = at::tensor(ref.bf16_outputs[i]);
    at::Tensor fp32 = at::tensor(ref.outputs[i]);
    const double scale = output_scale(ref);
    EXPECT_LT(
        relative_difference(actual, transformers_bf16, input + " vs transformers bf16", scale),
        kBf16Agreement);
    safrl_error =
        std::max(safrl_error, relative_difference(actual, fp32, input + " vs fp32", scale));
    transformers_error =
        std::max(transformers_error,
                 relative_difference(transformers_bf16, fp32, "  transformers bf16", scale));
  }
  std::printf("%s: largest error against fp32, safrl bf16 %.3g, transformers bf16 %.3g\n",
              GetParam().c_str(), safrl_error, transformers_error);
  EXPECT_LT(safrl_error, kBf16MaxError);
}

// transformers pads a batch and masks the padding; safrl packs it with no padding at all. The
// packed outputs at each sequence's scored position must agree with transformers' padded batch,
// and (more tightly: the same arithmetic) with each sequence run alone.
TEST_P(ReferenceTest, PackedBatchMatchesTransformersPaddedBatchAndEachSequenceAlone) {
  const std::string dir = kCheckpoints + "/" + GetParam();
  engine::Engine e(dir, cpu_options());
  const Reference ref = read_reference(dir);
  std::vector<engine::SequenceInput> all;
  for (const auto& ids : ref.inputs) all.push_back({ids});
  at::Tensor packed = outputs_of(e, all);
  ASSERT_EQ(packed.size(0), static_cast<int64_t>(ref.padded_outputs.size()));
  for (size_t i = 0; i < ref.inputs.size(); ++i) {
    const std::string input = std::to_string(i);
    EXPECT_LT(relative_difference(packed[i], at::tensor(ref.padded_outputs[i]),
                                  "packed vs transformers padded " + input, output_scale(ref)),
              1e-4);
    at::Tensor alone = outputs_of(e, {{ref.inputs[i]}}).squeeze(0);
    EXPECT_LT(relative_difference(packed[i], alone, "packed vs alone " + input, output_scale(ref)),
              1e-5);
  }
}

// Over 1024 rows the CPU MLP runs in slices of rows (model/qwen.cpp); the result must not change.
TEST_P(ReferenceTest, ABatchLargerThanOneMlpSliceEqualsEachSequenceAlone) {
  engine::Engine e(kCheckpoints + "/" + GetParam(), cpu_options());
  std::vector<std::vector<int32_t>> sequences;
  for (int length : {450, 400, 300}) {
    std::vector<int32_t> ids(length);
    for (int t = 0; t < length; ++t) ids[t] = (t * 37 + length * 11) % 97;
    sequences.push_back(ids);
  }
  std::vector<engine::SequenceInput> all;
  for (const auto& ids : sequences) all.push_back({ids});
  at::Tensor packed = outputs_of(e, all);  // 1150 rows: two slices
  for (size_t i = 0; i < sequences.size(); ++i) {
    at::Tensor alone = outputs_of(e, {{sequences[i]}}).squeeze(0);
    EXPECT_LT(relative_difference(packed[i], alone, "sliced vs alone " + std::to_string(i)), 1e-5);
  }
}

TEST_P(ReferenceTest, Bf16StorageMatchesFloat32StorageOfABf16Checkpoint) {
  const std::string dir = kCheckpoints + "/" + GetParam();
  engine::Engine e32(dir, cpu_options(c10::kFloat));
  engine::Engine e16(dir, cpu_options(c10::kBFloat16));
  const Reference ref = read_reference(dir);
  at::Tensor a = outputs_of(e32, {{ref.inputs[4]}});
  at::Tensor b = outputs_of(e16, {{ref.inputs[4]}});
  if (e32.config().torch_dtype == "bfloat16") {
    // bf16 -> fp32 is exact, so the two computations are the same.
    EXPECT_TRUE(at::equal(a, b));
  } else {
    // Rounding the weights to bf16 moves the outputs, but only a little.
    EXPECT_LT(relative_difference(b, a, "bf16 storage of an fp32 checkpoint"), 5e-2);
  }
}

INSTANTIATE_TEST_SUITE_P(Checkpoints, ReferenceTest,
                         ::testing::Values("qwen3_causal_tied_f32",
                                           "qwen3_causal_untied_bf16_sharded", "qwen3_seqcls_f32",
                                           "qwen3_seqcls3_bf16", "qwen2_causal_f32",
                                           "qwen2_seqcls_f32", "qwen2_causal_tied_bf16_sharded",
                                           "qwen2_reward_bf16", "qwen2_seqcls_bf16_sharded"));

class CacheTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    dir_ = kCheckpoints + "/" + GetParam();
    engine_ = std::make_unique<engine::Engine>(dir_, cpu_options());
    ids_ = read_reference(dir_).inputs[4];  // 33 tokens
  }
  at::Tensor whole(size_t length) {
    std::vector<int32_t> prefix(ids_.begin(), ids_.begin() + length);
    return engine_->last_logits({{prefix}}).squeeze(0);
  }
  std::string dir_;
  std::unique_ptr<engine::Engine> engine_;
  std::vector<int32_t> ids_;
};

TEST_P(CacheTest, PrefixThenContinuationEqualsTheWholeSequence) {
  model::KvCache cache = engine_->new_cache();
  std::vector<int32_t> head(ids_.begin(), ids_.begin() + 20), tail(ids_.begin() + 20, ids_.end());
  engine_->hidden_states({{head, &cache}});
  EXPECT_EQ(cache.length(), 20);
  at::Tensor continued = engine_->last_logits({{tail, &cache}}).squeeze(0);
  EXPECT_EQ(cache.length(), 33);
  EXPECT_LT(relative_difference(continued, whole(33), "prefix + continuation"), 1e-5);
}

TEST_P(CacheTest, IncrementalDecodingEqualsFullForwards) {
  model::KvCache cache = engine_->new_cache();
  std::vector<int32_t> first(ids_.begin(), ids_.begin() + 5);
  engine_->hidden_states({{first, &cache}});
  for (size_t t = 5; t < ids_.size(); ++t) {
    std::vector<int32_t> one{ids_[t]};
    at::Tensor step = engine_->last_logits({{one, &cache}}).squeeze(0);
    ASSERT_LT(relative_difference(step, whole(t + 1), "decode step " + std::to_string(t)), 1e-5);
  }
}

TEST_P(CacheTest, ForkedPrefixContinuedBySeveralSequencesInOneBatch) {
  model::KvCache prefix = engine_->new_cache();
  std::vector<int32_t> head(ids_.begin(), ids_.begin() + 12);
  engine_->hidden_states({{head, &prefix}});
  std::vector<model::KvCache> forks;
  for (int i = 0; i < 3; ++i) forks.push_back(prefix.fork());
  const std::vector<std::vector<int32_t>> tails = {
      {ids_.begin() + 12, ids_.end()}, {ids_.begin() + 12, ids_.begin() + 14}, {7}};
  std::vector<engine::SequenceInput> inputs;
  for (int i = 0; i < 3; ++i) inputs.push_back({tails[i], &forks[i]});
  at::Tensor packed = engine_->last_logits(inputs);
  for (int i = 0; i < 3; ++i) {
    std::vector<int32_t> full = head;
    full.insert(full.end(), tails[i].begin(), tails[i].end());
    at::Tensor expected = engine_->last_logits({{full}}).squeeze(0);
    EXPECT_LT(relative_difference(packed[i], expected, "fork " + std::to_string(i)), 1e-5);
    EXPECT_EQ(forks[i].length(), static_cast<int64_t>(full.size()));
  }
  // The prefix itself can go on after its forks did, unaffected by them.
  std::vector<int32_t> more{ids_[12], ids_[13]};
  at::Tensor resumed = engine_->last_logits({{more, &prefix}}).squeeze(0);
  EXPECT_LT(relative_difference(resumed, whole(14), "prefix resumed after forks"), 1e-5);
}

TEST_P(CacheTest, LogitsAtTheLastTokensEqualThoseOfEachPrefix) {
  std::vector<int32_t> ids(ids_.begin(), ids_.begin() + 9);
  std::vector<int32_t> other(ids_.begin() + 2, ids_.begin() + 6);
  // The last 3 positions of the first sequence, the last 1 of the second.
  at::Tensor rows = engine_->last_logits({{ids}, {other}}, {3, 1});
  ASSERT_EQ(rows.size(0), 4);
  for (int k = 0; k < 3; ++k) {
    std::vector<int32_t> prefix(ids.begin(), ids.begin() + 7 + k);
    EXPECT_LT(relative_difference(rows[k], engine_->last_logits({{prefix}})[0], "tail row"), 1e-5);
  }
  EXPECT_LT(relative_difference(rows[3], engine_->last_logits({{other}})[0], "last row"), 1e-5);
  EXPECT_THROW(engine_->last_logits({{other}}, {5}), util::InputError);
  EXPECT_THROW(engine_->last_logits({{other}}, {0}), util::InputError);
}

TEST_P(CacheTest, ATruncatedCacheContinuesAsIfTheDroppedTokensWereNeverFed) {
  model::KvCache cache = engine_->new_cache();
  std::vector<int32_t> head(ids_.begin(), ids_.begin() + 6);
  engine_->hidden_states({{head, &cache}});
  model::KvCache branch = cache.fork();
  // A speculative continuation whose first token is right and the others wrong: the wrong ones
  // are taken back, then the real continuation follows.
  engine_->hidden_states({{std::vector<int32_t>{ids_[6], ids_[20], ids_[21]}, &branch}});
  branch.truncate(7);
  EXPECT_EQ(branch.length(), 7);
  std::vector<int32_t> tail(ids_.begin() + 7, ids_.begin() + 10);
  at::Tensor continued = engine_->last_logits({{tail, &branch}}).squeeze(0);
  EXPECT_LT(relative_difference(continued, whole(10), "after truncate"), 1e-5);
  EXPECT_THROW(branch.truncate(5), util::Error);  // inside the frozen prefix
}

INSTANTIATE_TEST_SUITE_P(CausalCheckpoints, CacheTest,
                         ::testing::Values("qwen3_causal_tied_f32",
                                           "qwen3_causal_untied_bf16_sharded", "qwen2_causal_f32",
                                           "qwen2_causal_tied_bf16_sharded"));

TEST(ScoreHead, ReadsAtTheLastTokenThatIsNotPadding) {
  const std::string dir = kCheckpoints + "/qwen3_seqcls_f32";
  engine::Engine e(dir, cpu_options());
  const Reference ref = read_reference(dir);
  // Input 5 is input 3's first 11 tokens followed by two pad tokens.
  std::vector<int32_t> unpadded(ref.inputs[3].begin(), ref.inputs[3].begin() + 11);
  at::Tensor padded = e.scores({{ref.inputs[5]}});
  at::Tensor plain = e.scores({{unpadded}});
  EXPECT_LT(relative_difference(padded, plain, "padded vs unpadded score"), 1e-5);
}

std::string load_error(const std::string& dir) {
  return testing::engine_load_error(dir);
}

TEST(StrictLoading, EachDefectIsNamed) {
  const std::string broken = kCheckpoints + "/broken/";
  EXPECT_NE(
      load_error(broken + "missing_tensor")
          .find("lacks 1 tensor(s) that Qwen3ForCausalLM needs: model.layers.1.mlp.up_proj.weight"),
      std::string::npos)
      << load_error(broken + "missing_tensor");
  EXPECT_NE(load_error(broken + "wrong_shape")
                .find("tensor model.layers.0.self_attn.k_proj.weight in " + broken +
                      "wrong_shape/model.safetensors has shape [16, 48] but Qwen3ForCausalLM with "
                      "this config.json expects [32, 48]"),
            std::string::npos)
      << load_error(broken + "wrong_shape");
  EXPECT_NE(load_error(broken + "extra_tensor")
                .find("holds 1 tensor(s) that Qwen3ForCausalLM does not use (wrong architecture in "
                      "config.json?): model.layers.2.mlp.up_proj.weight"),
            std::string::npos)
      << load_error(broken + "extra_tensor");
  EXPECT_NE(load_error(broken + "integer_weight")
                .find("tensor model.norm.weight in " + broken +
                      "integer_weight/model.safetensors has integer dtype I32"),
            std::string::npos)
      << load_error(broken + "integer_weight");
  EXPECT_NE(load_error(broken + "wrong_architecture")
                .find("lacks 1 tensor(s) that Qwen3ForSequenceClassification needs: score.weight"),
            std::string::npos)
      << load_error(broken + "wrong_architecture");
}

// The one converter to torch types: the config's spellings (engine::parse_dtype) and the dtypes of
// safetensors tensors (the loader) both go through model::scalar_type.
TEST(Dtypes, EverySpellingAndEveryStoredDtypeHasItsTorchType) {
  EXPECT_EQ(engine::parse_dtype("float32"), c10::kFloat);
  EXPECT_EQ(engine::parse_dtype("bfloat16"), c10::kBFloat16);
  EXPECT_EQ(engine::parse_dtype("float16"), c10::kHalf);
  EXPECT_EQ(model::scalar_type(util::Dtype::kInt32), c10::kInt);
  EXPECT_EQ(model::scalar_type(util::Dtype::kInt64), c10::kLong);
  EXPECT_THROW(engine::parse_dtype("int64"), util::InputError);
}

// FLOPs counted from the shapes by hand. qwen3_causal_tied_f32: hidden 48, 2 layers, 4 heads and
// 2 KV heads of 16 (q width 64, k/v width 32), MLP 80, vocabulary 101.
TEST(WorkCount, LayersAttentionAndTheHeadAreCountedFromTheShapes) {
  engine::Engine e(kCheckpoints + "/qwen3_causal_tied_f32", cpu_options());
  // Per token and layer: 2 x (q 48x64 + k, v 2 x 48x32 + o 64x48 + MLP 3 x 48x80) = 41472.
  model::KvCache cache = e.new_cache();
  e.hidden_states({{std::vector<int32_t>{1, 2, 3, 4, 5}, &cache}});
  // 5 new tokens see 1 + 2 + ... + 5 = 15 keys; QK^T and PV: 4 x 64 FLOPs per key.
  EXPECT_EQ(e.work().layer_flops, 2.0 * (41472 * 5 + 4 * 64 * 15));
  EXPECT_EQ(e.work().head_flops, 0.0);
  EXPECT_EQ(e.work().full_head_flops, 2.0 * 48 * 5 * 101);
  // Two more tokens after the 5 cached see 6 + 7 = 13 keys; the head over both rows.
  e.last_logits({{std::vector<int32_t>{6, 7}, &cache}}, {2});
  EXPECT_EQ(e.work().forwards, 2);
  EXPECT_EQ(e.work().tokens, 7);
  EXPECT_EQ(e.work().layer_flops,
            2.0 * (41472 * 5 + 4 * 64 * 15) + 2.0 * (41472 * 2 + 4 * 64 * 13));
  EXPECT_EQ(e.work().head_flops, 2.0 * 48 * 2 * 101);
  // A plain forward's head: every new token of both calls (the cached prefix too), every column.
  EXPECT_EQ(e.work().full_head_flops, 2.0 * 48 * 7 * 101);
}

TEST(WorkCount, TheRewardModelHeadIsTwoLayers) {
  // qwen2_reward_bf16: hidden 48, heads of 12 (q width 48, k/v 24), MLP 80; score head
  // Linear(48, 48) -> Linear(48, 1), 49 columns.
  engine::Engine e(kCheckpoints + "/qwen2_reward_bf16", cpu_options());
  e.scores({{std::vector<int32_t>{1, 2, 3}}});
  EXPECT_EQ(e.work().layer_flops,
            2.0 * (2.0 * (48 * 48 + 2 * 48 * 24 + 48 * 48 + 3 * 48 * 80) * 3 + 4 * 48 * 6));
  EXPECT_EQ(e.work().head_flops, 2.0 * 48 * 49);
  EXPECT_EQ(e.work().full_head_flops, 2.0 * 48 * 3 * 49);
}

TEST(Measurement, MatmulRateAndResidentMemoryAreRead) {
  const double rate = engine::matmul_gflops(cpu_options(), 64, 48, 80, 1);
  EXPECT_TRUE(std::isfinite(rate));
  EXPECT_GT(rate, 0.0);
  const util::ProcessMemory memory = util::process_memory();
  EXPECT_GT(memory.resident_bytes, int64_t{1} << 20);  // LibTorch alone is larger
  EXPECT_GE(memory.peak_resident_bytes, memory.resident_bytes);
}

TEST(InputValidation, BadSequencesAreInputErrors) {
  engine::Engine e(kCheckpoints + "/qwen3_causal_tied_f32", cpu_options());
  std::vector<int32_t> empty, outside{5, 101}, negative{-1};
  EXPECT_THROW(e.last_logits({{empty}}), util::InputError);
  try {
    e.last_logits({{std::vector<int32_t>{1}}, {outside}});
    FAIL() << "no error for an id outside the vocabulary";
  } catch (const util::InputError& error) {
    EXPECT_STREQ(error.what(),
                 "sequence 1 has token id 101, outside the model's vocabulary [0, 101)");
  }
  EXPECT_THROW(e.last_logits({{negative}}), util::InputError);
  EXPECT_THROW(e.scores({{std::vector<int32_t>{1}}}), util::Error);
}

}  // namespace
}  // namespace safrl
