// Cutting a list of sequences into batches under a token budget (CTranslate2's batch reader,
// TEI's queue): sort by length so each batch holds similar lengths, cut when the next sequence
// would pass the budget, and keep each sequence's index so results return in input order.
// A sequence longer than the budget gets a batch of its own. No LibTorch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace safrl::engine {

// Indices into `lengths`, grouped into batches whose summed length is at most `max_tokens`
// (except single over-long sequences). Longest first, so memory peaks early.
std::vector<std::vector<size_t>> plan_batches(const std::vector<int64_t>& lengths,
                                              int64_t max_tokens);

}  // namespace safrl::engine
