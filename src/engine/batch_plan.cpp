#include "engine/batch_plan.h"

#include <algorithm>
#include <numeric>

namespace safrl::engine {

std::vector<std::vector<size_t>> plan_batches(const std::vector<int64_t>& lengths,
                                              int64_t max_tokens) {
  std::vector<size_t> order(lengths.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return lengths[a] > lengths[b]; });
  std::vector<std::vector<size_t>> batches;
  int64_t used = 0;
  for (size_t index : order) {
    if (batches.empty() || used + lengths[index] > max_tokens) {
      batches.emplace_back();
      used = 0;
    }
    batches.back().push_back(index);
    used += lengths[index];
  }
  return batches;
}

}  // namespace safrl::engine
