#include "model/qwen.h"

#include <ATen/ATen.h>
#include <c10/util/irange.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_map>

#include "util/error.h"

namespace safrl::model {

namespace {

bool has_qk_norm(const io::ModelConfig& config) {
  return config.family == io::Family::kQwen3;
}

}  // namespace

AttentionImpl::AttentionImpl(const io::ModelConfig& config, int64_t layer, c10::ScalarType storage)
    : layer_(layer),
      num_heads_(config.num_attention_heads),
      num_kv_heads_(config.num_key_value_heads),
      head_dim_(config.head_dim),
      scaling_(1.0 / std::sqrt(static_cast<double>(config.head_dim))) {
  const int64_t hidden = config.hidden_size;
  q_proj =
      register_module("q_proj", Linear(hidden, num_heads_ * head_dim_, config.qkv_bias, storage));
  k_proj = register_module("k_proj",
                           Linear(hidden, num_kv_heads_ * head_dim_, config.qkv_bias, storage));
  v_proj = register_module("v_proj",
                           Linear(hidden, num_kv_heads_ * head_dim_, config.qkv_bias, storage));
  o_proj =
      register_module("o_proj", Linear(num_heads_ * head_dim_, hidden, config.o_bias, storage));
  if (has_qk_norm(config)) {
    q_norm = register_module("q_norm", RmsNorm(head_dim_, config.rms_norm_eps, storage));
    k_norm = register_module("k_norm", RmsNorm(head_dim_, config.rms_norm_eps, storage));
  }
}

at::Tensor AttentionImpl::forward(const at::Tensor& x, const ForwardContext& context) {
  const int64_t rows = x.size(0);
  at::Tensor q = q_proj(x).view({rows, num_heads_, head_dim_});
  at::Tensor k = k_proj(x).view({rows, num_kv_heads_, head_dim_});
  at::Tensor v = v_proj(x).view({rows, num_kv_heads_, head_dim_});
  if (q_norm) {
    q = q_norm(q);
    k = k_norm(k);
  }
  q = apply_rotary(q, context.cos, context.sin);
  k = apply_rotary(k, context.cos, context.sin);

  const int64_t group = num_heads_ / num_kv_heads_;
  std::vector<SequenceAttention> batch;
  batch.reserve(context.batch->sequences.size());
  for (const PackedSequence& sequence : context.batch->sequences) {
    const at::Tensor q_s = q.narrow(0, sequence.offset, sequence.length);
    at::Tensor k_new = k.narrow(0, sequence.offset, sequence.length).transpose(0, 1);
    at::Tensor v_new = v.narrow(0, sequence.offset, sequence.length).transpose(0, 1);
    SequenceAttention s;
    s.rows = group * sequence.length;
    // Query head h uses kv head h / group (transformers' repeat_kv): view the queries as
    // [kv_heads, group * T, d] so each kv head meets its group without copying keys.
    s.queries = q_s.transpose(0, 1).reshape({num_kv_heads_, s.rows, head_dim_});
    if (sequence.cache != nullptr) {
      sequence.cache->write(layer_, k_new, v_new);
      s.keys = sequence.cache->keys(layer_);  // past segments, then the own one ending with k_new
      s.values = sequence.cache->values(layer_);
    } else {
      s.keys = {k_new};
      s.values = {v_new};
    }
    batch.push_back(std::move(s));
  }
  const std::vector<at::Tensor> outputs = attend(batch, context.masks);
  return o_proj(outputs.size() == 1 ? outputs[0] : at::cat(outputs, 0));
}

std::vector<AttentionImpl::SegmentReaders> AttentionImpl::segment_readers(
    const std::vector<SequenceAttention>& batch) {
  // A frozen segment several caches were forked from is the same tensor in each of them.
  std::vector<SegmentReaders> readers;
  std::unordered_map<const void*, size_t> index_of;
  for (const auto s : c10::irange(batch.size())) {
    for (const auto j : c10::irange(batch[s].keys.size())) {
      const void* identity = batch[s].keys[j].unsafeGetTensorImpl();
      const auto [it, added] = index_of.emplace(identity, readers.size());
      if (added) readers.emplace_back();
      readers[it->second].push_back({s, j});
    }
  }
  return readers;
}

std::vector<at::Tensor> AttentionImpl::attend(const std::vector<SequenceAttention>& batch,
                                              const std::vector<at::Tensor>& masks) {
  // Each segment's keys and values are read once for all the sequences that read it (a shared
  // template head, a group's prompt): their queries go through one product together. The rows
  // of a product do not depend on each other, so every sequence gets the same math as alone; a
  // product with more rows may take another kernel, which moves the last bits (within the 1e-5
  // that batched scores are held to, docs/engine.md).
  const std::vector<SegmentReaders> segments = segment_readers(batch);
  // Each reader's block of rows in its segment's product: [kv_heads, rows, L].
  auto together = [&](const SegmentReaders& readers, const std::vector<at::Tensor>& inputs,
                      const at::Tensor& right, std::vector<std::vector<at::Tensor>>& out) {
    at::Tensor product = at::bmm(inputs.size() == 1 ? inputs[0] : at::cat(inputs, 1), right);
    int64_t row = 0;
    for (const auto& [s, j] : readers) {
      out[s][j] = readers.size() == 1 ? product : product.narrow(1, row, batch[s].rows);
      row += batch[s].rows;
    }
  };
  std::vector<std::vector<at::Tensor>> score_parts(batch.size());
  for (const auto s : c10::irange(batch.size())) score_parts[s].resize(batch[s].keys.size());
  for (const SegmentReaders& segment : segments) {
    std::vector<at::Tensor> queries;
    for (const auto& reader : segment) queries.push_back(batch[reader.first].queries);
    const auto& [s0, j0] = segment.front();
    together(segment, queries, batch[s0].keys[j0].transpose(1, 2), score_parts);
  }

  std::vector<at::Tensor> probs(batch.size());
  std::vector<std::vector<int64_t>> starts(batch.size());
  for (const auto s : c10::irange(batch.size())) {
    const auto& parts = score_parts[s];
    int64_t start = 0;
    for (const auto& part : parts) {
      starts[s].push_back(start);
      start += part.size(2);
    }
    at::Tensor scores = parts.size() == 1 ? parts[0].contiguous() : at::cat(parts, 2);
    const int64_t rows = batch[s].rows / (num_heads_ / num_kv_heads_);
    scores = scores.view({num_kv_heads_, num_heads_ / num_kv_heads_, rows, start}).mul_(scaling_);
    if (masks[s].defined()) scores.masked_fill_(masks[s], -std::numeric_limits<double>::infinity());
    probs[s] = at::softmax(scores, -1, at::kFloat)
                   .to(batch[s].queries.scalar_type())
                   .view({num_kv_heads_, batch[s].rows, start});
  }

  std::vector<std::vector<at::Tensor>> value_parts(batch.size());
  for (const auto s : c10::irange(batch.size())) value_parts[s].resize(batch[s].values.size());
  for (const SegmentReaders& segment : segments) {
    std::vector<at::Tensor> weights;
    for (const auto& [s, j] : segment) {
      weights.push_back(probs[s].narrow(2, starts[s][j], batch[s].keys[j].size(1)));
    }
    const auto& [s0, j0] = segment.front();
    together(segment, weights, batch[s0].values[j0], value_parts);
  }

  std::vector<at::Tensor> outputs;
  outputs.reserve(batch.size());
  for (const auto s : c10::irange(batch.size())) {
    // Summed in segment order, as one sequence alone sums them.
    at::Tensor out = value_parts[s][0].contiguous();
    for (size_t j = 1; j < value_parts[s].size(); ++j) out.add_(value_parts[s][j]);
    const int64_t rows = batch[s].rows / (num_heads_ / num_kv_heads_);
    // [kv_heads, group * T, d] -> [heads, T, d] -> [T, heads * d]
    outputs.push_back(out.view({num_heads_, rows, head_dim_})
                          .transpose(0, 1)
                          .reshape({rows, num_heads_ * head_dim_}));
  }
  return outputs;
}

MlpImpl::MlpImpl(const io::ModelConfig& config, c10::ScalarType storage) {
  const int64_t hidden = config.hidden_size, inner = config.intermediate_size;
  gate_proj = register_module("gate_proj", Linear(hidden, inner, false, storage));
  up_proj = register_module("up_proj", Linear(hidden, inner, false, storage));
  down_proj = register_module("down_proj", Linear(inner, hidden, false, storage));
}

at::Tensor MlpImpl::forward(const at::Tensor& x) {
  // On CPU a large batch goes through in slices of rows, so the [rows, intermediate] activations
  // stay in cache between the products and the elementwise SiLU and product (single-threaded in
  // a LibTorch without OpenMP): 8192 tokens of Qwen3-0.6B at once ran at 0.58 of the machine's
  // matmul rate, against 0.82 at 1024. Rows are independent, so slicing changes no result.
  constexpr int64_t kCpuRows = 1024;
  const int64_t rows = x.size(0);
  if (!x.is_cpu() || rows <= kCpuRows) return forward_slice(x);
  at::Tensor out = at::empty({rows, down_proj->weight.size(0)}, x.options());
  for (int64_t start = 0; start < rows; start += kCpuRows) {
    const int64_t count = std::min(kCpuRows, rows - start);
    out.narrow(0, start, count).copy_(forward_slice(x.narrow(0, start, count)));
  }
  return out;
}

at::Tensor MlpImpl::forward_slice(const at::Tensor& x) {
  at::Tensor gate = gate_proj(x);
  at::silu_(gate);
  return down_proj(gate.mul_(up_proj(x)));
}

DecoderLayerImpl::DecoderLayerImpl(const io::ModelConfig& config, int64_t layer,
                                   c10::ScalarType storage) {
  self_attn = register_module("self_attn", Attention(config, layer, storage));
  mlp = register_module("mlp", Mlp(config, storage));
  input_layernorm =
      register_module("input_layernorm", RmsNorm(config.hidden_size, config.rms_norm_eps, storage));
  post_attention_layernorm = register_module(
      "post_attention_layernorm", RmsNorm(config.hidden_size, config.rms_norm_eps, storage));
}

at::Tensor DecoderLayerImpl::forward(const at::Tensor& x, const ForwardContext& context) {
  at::Tensor h = x + self_attn(input_layernorm(x), context);
  return h.add_(mlp(post_attention_layernorm(h)));
}

DecoderImpl::DecoderImpl(const io::ModelConfig& config, c10::ScalarType storage)
    : rotary_(config.head_dim, config.rope_theta) {
  embed_tokens =
      register_module("embed_tokens", Embedding(config.vocab_size, config.hidden_size, storage));
  layers = register_module("layers", torch::nn::ModuleList());
  for (const auto l : c10::irange(config.num_hidden_layers)) {
    layer_list_.push_back(DecoderLayer(config, l, storage));
    layers->push_back(layer_list_.back());
  }
  norm = register_module("norm", RmsNorm(config.hidden_size, config.rms_norm_eps, storage));
}

at::Tensor DecoderImpl::forward(const PackedBatch& batch, c10::ScalarType dtype) {
  ForwardContext context;
  context.batch = &batch;
  const auto device = batch.ids.device();
  std::vector<at::Tensor> positions;
  for (const PackedSequence& sequence : batch.sequences) {
    const int64_t past = sequence.cache != nullptr ? sequence.cache->length() : 0;
    if (sequence.cache != nullptr) sequence.cache->reserve(sequence.length);
    positions.push_back(
        at::arange(past, past + sequence.length, at::TensorOptions().dtype(at::kLong)));
    // Query t (absolute position past + t) sees keys 0 .. past + t; a single token sees all.
    at::Tensor mask;
    if (sequence.length > 1) {
      mask =
          at::ones({sequence.length, past + sequence.length}, at::TensorOptions().dtype(at::kBool))
              .triu(past + 1)
              .to(device);
    }
    context.masks.push_back(mask);
  }
  at::Tensor all_positions = (positions.size() == 1 ? positions[0] : at::cat(positions)).to(device);
  std::tie(context.cos, context.sin) = rotary_.lookup(all_positions, dtype);

  at::Tensor h = embed_tokens(batch.ids, dtype);
  for (auto& layer : layer_list_) h = layer(h, context);
  for (const PackedSequence& sequence : batch.sequences) {
    if (sequence.cache != nullptr) sequence.cache->commit(sequence.length);
  }
  return norm(h);
}

RewardScoreImpl::RewardScoreImpl(int64_t hidden, c10::ScalarType storage) {
  first = register_module("0", Linear(hidden, hidden, true, storage));
  second = register_module("2", Linear(hidden, 1, true, storage));
}

at::Tensor RewardScoreImpl::forward(const at::Tensor& x) {
  return second(at::relu(first(x)));
}

QwenWithHeadImpl::QwenWithHeadImpl(const io::ModelConfig& config, c10::ScalarType storage)
    : config_(config) {
  model = register_module("model", Decoder(config, storage));
  switch (config.head) {
    case io::HeadKind::kCausalLM:
      if (!config.tie_word_embeddings) {
        lm_head = register_module("lm_head",
                                  Linear(config.hidden_size, config.vocab_size, false, storage));
      }
      break;
    case io::HeadKind::kSequenceClassification:
      score =
          register_module("score", Linear(config.hidden_size, config.num_labels, false, storage));
      break;
    case io::HeadKind::kRewardModel:
      reward_score = register_module("score", RewardScore(config.hidden_size, storage));
      break;
    case io::HeadKind::kStreamGuard: {
      const int64_t hidden = config.hidden_size, inner = config.guard_inner_size;
      const double eps = config.rms_norm_eps;
      risk_level_category_pre =
          register_module("risk_level_category_pre", Linear(hidden, inner, false, storage));
      risk_level_category_layernorm =
          register_module("risk_level_category_layernorm", RmsNorm(inner, eps, storage));
      risk_level_head =
          register_module("risk_level_head", Linear(inner, config.num_risk_level, false, storage));
      category_head =
          register_module("category_head", Linear(inner, config.num_category, false, storage));
      query_risk_level_category_pre =
          register_module("query_risk_level_category_pre", Linear(hidden, inner, false, storage));
      query_risk_level_category_layernorm =
          register_module("query_risk_level_category_layernorm", RmsNorm(inner, eps, storage));
      query_risk_level_head = register_module(
          "query_risk_level_head", Linear(inner, config.num_query_risk_level, false, storage));
      query_category_head = register_module(
          "query_category_head", Linear(inner, config.num_query_category, false, storage));
      break;
    }
  }
}

KvShape QwenWithHeadImpl::kv_shape(const RunOptions& options) const {
  return KvShape{config_.num_hidden_layers, config_.num_key_value_heads, config_.head_dim,
                 options.compute_dtype, options.device};
}

at::Tensor QwenWithHeadImpl::logits(const at::Tensor& hidden) {
  if (config_.head != io::HeadKind::kCausalLM) {
    throw util::Error(util::cat(io::architecture_name(config_.architecture), " has no LM head"));
  }
  const at::Tensor& weight = lm_head ? lm_head->weight : model->embed_tokens->weight;
  const auto dtype = hidden.scalar_type();
  if (weight.scalar_type() == dtype) return at::matmul(hidden, weight.t()).to(at::kFloat);
  // Stored in another dtype: convert the vocabulary in slices so the full converted matrix
  // (1.5 GB for a 4B model in float32) never exists at once.
  constexpr int64_t kSlice = 16384;
  std::vector<at::Tensor> parts;
  for (int64_t start = 0; start < weight.size(0); start += kSlice) {
    const int64_t count = std::min(kSlice, weight.size(0) - start);
    parts.push_back(
        at::matmul(hidden, weight.narrow(0, start, count).to(dtype).t()).to(at::kFloat));
  }
  return at::cat(parts, -1);
}

at::Tensor QwenWithHeadImpl::scores(const at::Tensor& hidden) {
  switch (config_.head) {
    case io::HeadKind::kSequenceClassification:
      return score(hidden).to(at::kFloat);
    case io::HeadKind::kRewardModel:
      return reward_score(hidden).to(at::kFloat);
    case io::HeadKind::kCausalLM:
    case io::HeadKind::kStreamGuard:
      break;
  }
  throw util::Error(util::cat(io::architecture_name(config_.architecture), " has no score head"));
}

StreamLogits QwenWithHeadImpl::stream_logits(const at::Tensor& hidden) {
  if (config_.head != io::HeadKind::kStreamGuard) {
    throw util::Error(util::cat(io::architecture_name(config_.architecture),
                                " has no Stream guard heads (Qwen3ForGuardModel has them)"));
  }
  // Each branch: pre-projection, RMSNorm, then its two heads on the normed rows.
  const at::Tensor response = risk_level_category_layernorm(risk_level_category_pre(hidden));
  const at::Tensor query =
      query_risk_level_category_layernorm(query_risk_level_category_pre(hidden));
  return StreamLogits{
      risk_level_head(response).to(at::kFloat), category_head(response).to(at::kFloat),
      query_risk_level_head(query).to(at::kFloat), query_category_head(query).to(at::kFloat)};
}

}  // namespace safrl::model
