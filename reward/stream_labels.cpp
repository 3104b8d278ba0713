#include "reward/stream_labels.h"

namespace safrl::reward {
namespace {

// The first i with labels[i] == labels[i + 1] == `label`, as i + 1; -1 when there is none.
int64_t first_pair_end(const std::vector<Safety>& labels, Safety label) {
  for (size_t i = 0; i + 1 < labels.size(); ++i) {
    if (labels[i] == label && labels[i + 1] == label) return static_cast<int64_t>(i) + 1;
  }
  return -1;
}

}  // namespace

Debounced debounce(const std::vector<Safety>& labels) {
  // Unsafe is looked for over the whole sequence before Controversial is.
  for (const Safety label : {Safety::kUnsafe, Safety::kControversial}) {
    if (const int64_t index = first_pair_end(labels, label); index >= 0) return {label, index};
  }
  return {};
}

Safety strict(Safety safety) {
  return safety == Safety::kControversial ? Safety::kUnsafe : safety;
}

Safety loose(Safety safety) {
  return safety == Safety::kControversial ? Safety::kSafe : safety;
}

}  // namespace safrl::reward
