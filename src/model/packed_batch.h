// A padding-free batch: the new tokens of several sequences concatenated into one row tensor.
//
// Each sequence attends causally to its own past (its KvCache, if any) and its own new tokens,
// never to another sequence. Linear layers see all rows at once; only attention is per sequence.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

#include "model/kv_cache.h"

namespace safrl::model {

struct PackedSequence {
  int64_t offset = 0;        // first row of this sequence in the batch
  int64_t length = 0;        // number of new tokens (> 0)
  KvCache* cache = nullptr;  // past tokens, extended by this forward; nullptr: no past, none kept
};

struct PackedBatch {
  at::Tensor ids;  // [T] int64, the new tokens of all sequences, on the model's device
  // In row order, covering all T rows. Positions follow from each cache's length.
  std::vector<PackedSequence> sequences;
};

}  // namespace safrl::model
