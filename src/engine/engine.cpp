#include "engine/engine.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "model/loader.h"
#include "model/scalar_type.h"
#include "util/device_names.h"
#include "util/error.h"

namespace safrl::engine {

Engine::Engine(const std::string& model_dir, const model::RunOptions& options)
    : options_(options), model_(model::load_model(model_dir, options)) {}

Engine::Engine(model::QwenWithHead model, const model::RunOptions& options)
    : options_(options), model_(std::move(model)) {}

model::KvCache Engine::new_cache() const {
  return model::KvCache(model_->kv_shape(options_));
}

model::PackedBatch Engine::pack(const std::vector<SequenceInput>& inputs) const {
  if (inputs.empty()) throw util::InputError("empty batch: give at least one sequence");
  const int64_t vocab = config().vocab_size;
  model::PackedBatch batch;
  std::vector<int64_t> ids;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const SequenceInput& input = inputs[i];
    if (input.ids.empty()) throw util::InputError(util::cat("sequence ", i, " has no token ids"));
    for (int32_t id : input.ids) {
      if (id < 0 || id >= vocab) {
        throw util::InputError(util::cat("sequence ", i, " has token id ", id,
                                         ", outside the model's vocabulary [0, ", vocab, ")"));
      }
    }
    batch.sequences.push_back(model::PackedSequence{
        static_cast<int64_t>(ids.size()), static_cast<int64_t>(input.ids.size()), input.cache});
    ids.insert(ids.end(), input.ids.begin(), input.ids.end());
  }
  batch.ids = at::tensor(ids, at::TensorOptions().dtype(at::kLong)).to(options_.device);
  return batch;
}

at::Tensor Engine::hidden_states(const std::vector<SequenceInput>& inputs) {
  c10::InferenceMode guard;
  const model::PackedBatch batch = pack(inputs);
  count_layers(inputs);  // before the forward: it appends the new tokens to the caches
  return model_->model->forward(batch, options_.compute_dtype);
}

void Engine::count_layers(const std::vector<SequenceInput>& inputs) {
  const io::ModelConfig& c = config();
  const double q = static_cast<double>(c.num_attention_heads) * c.head_dim;
  const double kv = static_cast<double>(c.num_key_value_heads) * c.head_dim;
  const double h = static_cast<double>(c.hidden_size);
  const double linear_per_token =
      2.0 * (h * q + 2 * h * kv + q * h + 3 * h * static_cast<double>(c.intermediate_size));
  for (const SequenceInput& input : inputs) {
    const double n = static_cast<double>(input.ids.size());
    const double cached = input.cache ? static_cast<double>(input.cache->length()) : 0.0;
    // Each new token i (1-based) attends to cached + i keys: QK^T and PV, 2 FLOPs each.
    const double keys = n * cached + n * (n + 1) / 2;
    work_.layer_flops += c.num_hidden_layers * (linear_per_token * n + 4.0 * q * keys);
    work_.tokens += static_cast<int64_t>(input.ids.size());
    // A plain transformers forward applies its head to every new token, whether or not the
    // caller wanted outputs there (a prefix filled into a cache included).
    work_.full_head_flops += n * head_row_flops();
  }
  ++work_.forwards;
}

double Engine::head_row_flops() const {
  const io::ModelConfig& c = config();
  const double h = static_cast<double>(c.hidden_size);
  switch (c.head) {
    case io::HeadKind::kCausalLM:
      return 2.0 * h * static_cast<double>(c.vocab_size);
    case io::HeadKind::kRewardModel:  // Linear(h, h) -> ReLU -> Linear(h, 1)
      return 2.0 * h * (h + 1);
    case io::HeadKind::kStreamGuard: {
      // Two branches, each Linear(h, inner) and then its two heads on the inner rows.
      const double inner = static_cast<double>(c.guard_inner_size);
      return 2.0 * (h * inner + inner * static_cast<double>(c.num_risk_level + c.num_category)) +
             2.0 * (h * inner +
                    inner * static_cast<double>(c.num_query_risk_level + c.num_query_category));
    }
    case io::HeadKind::kSequenceClassification:
      break;
  }
  return 2.0 * h * static_cast<double>(c.num_labels);
}

void Engine::count_head(int64_t rows, int64_t columns) {
  work_.head_flops += 2.0 * static_cast<double>(config().hidden_size) * static_cast<double>(rows) *
                      static_cast<double>(columns);
}

std::vector<int64_t> Engine::last_rows(const std::vector<SequenceInput>& inputs,
                                       bool skip_pad) const {
  std::vector<int64_t> rows;
  int64_t offset = 0;
  const auto pad = config().pad_token_id;
  for (const SequenceInput& input : inputs) {
    int64_t last = static_cast<int64_t>(input.ids.size()) - 1;
    if (skip_pad && pad) {
      int64_t t = last;
      while (t >= 0 && input.ids[t] == *pad) --t;
      if (t >= 0) last = t;
    }
    rows.push_back(offset + last);
    offset += static_cast<int64_t>(input.ids.size());
  }
  return rows;
}

at::Tensor Engine::rows_tensor(const std::vector<int64_t>& rows) const {
  return at::tensor(rows, at::TensorOptions().dtype(at::kLong)).to(options_.device);
}

at::Tensor Engine::last_logits(const std::vector<SequenceInput>& inputs,
                               const std::vector<int64_t>& counts) {
  c10::InferenceMode guard;
  if (!counts.empty() && counts.size() != inputs.size()) {
    throw util::InputError(
        util::cat("last_logits: ", counts.size(), " counts for ", inputs.size(), " inputs"));
  }
  // Checked before the forward, which appends to the caches.
  std::vector<int64_t> rows;
  int64_t offset = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const int64_t length = static_cast<int64_t>(inputs[i].ids.size());
    const int64_t count = counts.empty() ? 1 : counts[i];
    if (count < 1 || count > length) {
      throw util::InputError(util::cat("last_logits: sequence ", i, " has ", length,
                                       " new tokens; cannot give the logits of its last ", count));
    }
    for (int64_t r = length - count; r < length; ++r) rows.push_back(offset + r);
    offset += length;
  }
  at::Tensor hidden = hidden_states(inputs).index_select(0, rows_tensor(rows));
  count_head(static_cast<int64_t>(rows.size()), config().vocab_size);
  return model_->logits(hidden);
}

at::Tensor Engine::scores(const std::vector<SequenceInput>& inputs) {
  c10::InferenceMode guard;
  at::Tensor hidden = hidden_states(inputs).index_select(0, rows_tensor(last_rows(inputs, true)));
  work_.head_flops += static_cast<double>(inputs.size()) * head_row_flops();
  return model_->scores(hidden);
}

model::StreamLogits Engine::stream_logits(const std::vector<SequenceInput>& inputs) {
  c10::InferenceMode guard;
  if (config().head != io::HeadKind::kStreamGuard) {
    throw util::Error(util::cat("stream_logits needs a Qwen3ForGuardModel; this model is ",
                                io::architecture_name(config().architecture)));
  }
  at::Tensor hidden = hidden_states(inputs);
  work_.head_flops += static_cast<double>(hidden.size(0)) * head_row_flops();
  return model_->stream_logits(hidden);
}

c10::ScalarType parse_dtype(const std::string& name) {
  return model::scalar_type(util::parse_dtype(name));
}

c10::Device parse_device(const std::string& name) {
  const util::DeviceName device = util::parse_device(name);
  if (!device.cuda) return c10::Device(c10::kCPU);
  return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(device.index));
}

}  // namespace safrl::engine
