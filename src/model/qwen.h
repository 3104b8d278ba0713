// The Qwen2 / Qwen3 decoder and its heads, as a LibTorch module tree named like the Hugging
// Face checkpoints: "model.embed_tokens", "model.layers.N.self_attn.q_proj", ..., "model.norm",
// and "lm_head" (causal LM, absent when tied), "score" (sequence classification), "score.0" /
// "score.2" (Qwen2ForRewardModel) or the Stream guard's eight head modules
// ("risk_level_category_pre", ..., "query_category_head"; Qwen3ForGuardModel).
//
// Qwen3 applies a per-head RMSNorm (q_norm, k_norm) to queries and keys before RoPE and has no
// attention bias; Qwen2 has q/k/v biases and no q/k norm. Attention is grouped-query with
// head_dim read from the config. Forward works on a PackedBatch (see packed_batch.h).
//
// A QwenWithHead is immutable after loading; forward() may run on one thread at a time per
// batch (LibTorch parallelises inside the operations).
#pragma once

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>

#include "io/model_config.h"
#include "model/kv_cache.h"
#include "model/layers.h"
#include "model/options.h"
#include "model/packed_batch.h"
#include "model/rotary.h"

namespace safrl::model {

// Per-forward values every layer needs: rotary cos/sin of the packed tokens and each sequence's
// causal mask.
struct ForwardContext {
  const PackedBatch* batch = nullptr;
  at::Tensor cos, sin;            // [T, head_dim]
  std::vector<at::Tensor> masks;  // per sequence: [T_s, L_s] bool, true = hidden; or undefined
};

class AttentionImpl : public torch::nn::Module {
 public:
  AttentionImpl(const io::ModelConfig& config, int64_t layer, c10::ScalarType storage);
  at::Tensor forward(const at::Tensor& x, const ForwardContext& context);

  Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
  RmsNorm q_norm{nullptr}, k_norm{nullptr};  // Qwen3 only

 private:
  // One sequence's attention in this layer.
  struct SequenceAttention {
    at::Tensor queries;  // [kv_heads, rows, d], rows = group x new tokens
    int64_t rows = 0;
    std::vector<at::Tensor> keys, values;  // its segments in order, each [kv_heads, L_j, d]
  };
  // The sequences that read one segment, as (sequence, index of the segment in its list).
  using SegmentReaders = std::vector<std::pair<size_t, size_t>>;
  static std::vector<SegmentReaders> segment_readers(const std::vector<SequenceAttention>& batch);
  // Each sequence's attention output [T, heads * d], with its causal mask (or none).
  std::vector<at::Tensor> attend(const std::vector<SequenceAttention>& batch,
                                 const std::vector<at::Tensor>& masks);

  int64_t layer_, num_heads_, num_kv_heads_, head_dim_;
  double scaling_;
};
TORCH_MODULE(Attention);

class MlpImpl : public torch::nn::Module {
 public:
  MlpImpl(const io::ModelConfig& config, c10::ScalarType storage);
  at::Tensor forward(const at::Tensor& x);  // down(silu(gate(x)) * up(x))

  Linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};

 private:
  at::Tensor forward_slice(const at::Tensor& x);  // the same, for rows that stay in cache
};
TORCH_MODULE(Mlp);

class DecoderLayerImpl : public torch::nn::Module {
 public:
  DecoderLayerImpl(const io::ModelConfig& config, int64_t layer, c10::ScalarType storage);
  at::Tensor forward(const at::Tensor& x, const ForwardContext& context);

  Attention self_attn{nullptr};
  Mlp mlp{nullptr};
  RmsNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
};
TORCH_MODULE(DecoderLayer);

// The backbone: transformers' Qwen3Model / Qwen2Model.
class DecoderImpl : public torch::nn::Module {
 public:
  DecoderImpl(const io::ModelConfig& config, c10::ScalarType storage);
  // Final-norm hidden states of every new token: [T, hidden] in `dtype`.
  at::Tensor forward(const PackedBatch& batch, c10::ScalarType dtype);

  Embedding embed_tokens{nullptr};
  torch::nn::ModuleList layers{nullptr};
  RmsNorm norm{nullptr};

 private:
  RotaryTable rotary_;
  std::vector<DecoderLayer> layer_list_;
};
TORCH_MODULE(Decoder);

// Qwen2ForRewardModel's head: "score.0" Linear(h, h) with bias, ReLU, "score.2" Linear(h, 1).
class RewardScoreImpl : public torch::nn::Module {
 public:
  RewardScoreImpl(int64_t hidden, c10::ScalarType storage);
  at::Tensor forward(const at::Tensor& x);

  Linear first{nullptr}, second{nullptr};  // registered as "0" and "2"
};
TORCH_MODULE(RewardScore);

// Qwen3ForGuardModel's four outputs for hidden rows, float32, rows in the order of the hidden
// rows given. Label orders are the official ones (reward/stream_labels.h names them).
struct StreamLogits {
  at::Tensor risk;            // [N, num_risk_level = 3]: Safe, Unsafe, Controversial
  at::Tensor category;        // [N, num_category = 8]
  at::Tensor query_risk;      // [N, num_query_risk_level = 3]
  at::Tensor query_category;  // [N, num_query_category = 9]
};

// Backbone plus the head named by the config's architecture.
class QwenWithHeadImpl : public torch::nn::Module {
 public:
  QwenWithHeadImpl(const io::ModelConfig& config, c10::ScalarType storage);

  const io::ModelConfig& config() const { return config_; }
  KvShape kv_shape(const RunOptions& options) const;

  // Causal LM: logits of hidden rows [N, hidden] -> [N, vocab], float32.
  at::Tensor logits(const at::Tensor& hidden);
  // Sequence-classification or reward head: hidden rows [N, hidden] -> [N, num_labels], float32.
  at::Tensor scores(const at::Tensor& hidden);
  // Qwen3ForGuardModel: the four heads of hidden rows [N, hidden], computed in the rows' dtype.
  StreamLogits stream_logits(const at::Tensor& hidden);

  Decoder model{nullptr};
  Linear lm_head{nullptr};            // causal LM with untied embeddings
  Linear score{nullptr};              // sequence classification
  RewardScore reward_score{nullptr};  // reward model, registered as "score"
  // Qwen3ForGuardModel, registered under these (checkpoint) names: the response branch, then the
  // query branch. A checkpoint's lm_head.weight is not registered: see loader.h.
  Linear risk_level_category_pre{nullptr};
  RmsNorm risk_level_category_layernorm{nullptr};
  Linear risk_level_head{nullptr}, category_head{nullptr};
  Linear query_risk_level_category_pre{nullptr};
  RmsNorm query_risk_level_category_layernorm{nullptr};
  Linear query_risk_level_head{nullptr}, query_category_head{nullptr};

 private:
  io::ModelConfig config_;
};
TORCH_MODULE(QwenWithHead);

}  // namespace safrl::model
