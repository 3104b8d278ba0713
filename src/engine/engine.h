// One loaded model and the ways of running it: a padding-free packed forward over several
// sequences, the LM head only at the positions asked for, the score head at each sequence's
// last token, the Stream guard's heads at every token, and KV caches for incremental decoding and
// shared prefixes.
//
// Inputs are validated (non-empty, ids inside the vocabulary) and a bad one throws
// util::InputError naming the input and the id. An Engine is used by one thread at a time (the
// server's engine thread); LibTorch parallelises inside each operation.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/util/ArrayRef.h>

#include "engine/work.h"
#include "io/model_config.h"
#include "model/kv_cache.h"
#include "model/options.h"
#include "model/qwen.h"

namespace safrl::engine {

// The new tokens of one sequence; with a cache they continue it and are appended to it.
struct SequenceInput {
  c10::ArrayRef<int32_t> ids;
  model::KvCache* cache = nullptr;
};

class Engine {
 public:
  Engine(const std::string& model_dir, const model::RunOptions& options);
  // Wraps a model that is already built and on options.device (benchmarks, tests).
  Engine(model::QwenWithHead model, const model::RunOptions& options);

  const io::ModelConfig& config() const { return model_->config(); }
  const model::RunOptions& options() const { return options_; }
  // An empty cache shaped for this model.
  model::KvCache new_cache() const;

  // Final-norm hidden states of every new token, packed in input order: [sum of lengths, hidden].
  at::Tensor hidden_states(const std::vector<SequenceInput>& inputs);
  // Causal LM: float32 logits over the whole vocabulary at the last `counts[i]` new tokens of
  // each input (the last one of each when `counts` is empty), packed in input order and position
  // order: [sum of counts, vocab], on the engine's device. The head is computed for those rows
  // only. Throws util::InputError for a count outside 1..the input's new tokens.
  at::Tensor last_logits(const std::vector<SequenceInput>& inputs,
                         const std::vector<int64_t>& counts = {});
  // Classification / reward head: float32 [N, num_labels], read where transformers reads it: at
  // the rightmost new token that is not pad_token_id (the last token when there is no pad id).
  at::Tensor scores(const std::vector<SequenceInput>& inputs);
  // Qwen3ForGuardModel: the four float32 logit tensors at every new token of every input, packed
  // in input order like hidden_states ([sum of lengths, 3 / 8 / 3 / 9]). Throws util::Error for
  // another architecture.
  model::StreamLogits stream_logits(const std::vector<SequenceInput>& inputs);

  model::QwenWithHead& model() { return model_; }
  // FLOPs computed so far (every call above adds to it).
  const Work& work() const { return work_; }

 private:
  model::PackedBatch pack(const std::vector<SequenceInput>& inputs) const;
  // Row in the packed batch of each input's last token (or last non-pad token).
  std::vector<int64_t> last_rows(const std::vector<SequenceInput>& inputs, bool skip_pad) const;
  at::Tensor rows_tensor(const std::vector<int64_t>& rows) const;
  void count_layers(const std::vector<SequenceInput>& inputs);
  void count_head(int64_t rows, int64_t columns);
  // FLOPs of the architecture's head on one row (for the Stream guard: both branches).
  double head_row_flops() const;

  model::RunOptions options_;
  model::QwenWithHead model_;
  Work work_;
};

// The torch types of the spellings in util/device_names.h; throw util::InputError listing the
// valid spellings otherwise.
c10::ScalarType parse_dtype(const std::string& name);
c10::Device parse_device(const std::string& name);

}  // namespace safrl::engine
