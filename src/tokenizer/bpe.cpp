#include "tokenizer/bpe.h"

#include <algorithm>
#include <functional>

#include "tokenizer/byte_level.h"
#include "util/error.h"

namespace safrl::tokenizer {
namespace {

int32_t find_token(const std::unordered_map<std::string, int32_t>& vocab, const std::string& token,
                   size_t merge_index, const char* role) {
  const auto it = vocab.find(token);
  if (it == vocab.end()) {
    throw util::LoadError(util::cat("tokenizer.json: merge #", merge_index, " needs the ", role,
                                    " token \"", token,
                                    "\", which is not in model.vocab; the file is corrupt"));
  }
  return it->second;
}

}  // namespace

void BpeModel::MergeTable::reserve(size_t count) {
  size_t capacity = 16;
  shift_ = 64 - 4;
  while (capacity < 2 * count) {
    capacity *= 2;
    --shift_;
  }
  entries_.assign(capacity, Entry{});
  mask_ = capacity - 1;
}

void BpeModel::MergeTable::insert(int32_t left, int32_t right, Merge merge) {
  const uint64_t key = pack(left, right);
  size_t slot = hash(key);
  while (entries_[slot].key != kEmpty && entries_[slot].key != key) slot = (slot + 1) & mask_;
  entries_[slot].key = key;
  entries_[slot].merge = merge;
}

BpeModel::BpeModel(const std::unordered_map<std::string, int32_t>& vocab,
                   const std::vector<std::pair<std::string, std::string>>& merges,
                   bool ignore_merges)
    : ignore_merges_(ignore_merges) {
  for (int b = 0; b < 256; ++b) {
    const std::string& token = byte_level::token_of_byte(static_cast<uint8_t>(b));
    const auto it = vocab.find(token);
    if (it == vocab.end()) {
      throw util::LoadError(
          util::cat("tokenizer.json: model.vocab has no token for byte ", b, " (\"", token,
                    "\"); a byte-level BPE vocabulary must hold all 256 byte tokens"));
    }
    byte_ids_[b] = it->second;
  }
  merges_.reserve(merges.size());
  for (size_t i = 0; i < merges.size(); ++i) {
    const auto& [left, right] = merges[i];
    const int32_t left_id = find_token(vocab, left, i, "left");
    const int32_t right_id = find_token(vocab, right, i, "right");
    const int32_t merged_id = find_token(vocab, left + right, i, "merged");
    merges_.insert(left_id, right_id, Merge{static_cast<uint32_t>(i), merged_id});
  }
  if (ignore_merges_) vocab_ = vocab;
}

void BpeModel::encode(std::string_view piece, BpeScratch& scratch,
                      std::vector<int32_t>& out) const {
  if (ignore_merges_) {
    std::string& text = scratch.byte_level_text;
    text.clear();
    for (const char byte : piece) text += byte_level::token_of_byte(static_cast<uint8_t>(byte));
    const auto it = vocab_.find(text);
    if (it != vocab_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  std::vector<int32_t>& symbols = scratch.symbols;
  symbols.clear();
  for (const char byte : piece) symbols.push_back(byte_ids_[static_cast<uint8_t>(byte)]);
  if (symbols.size() <= kMaxScanWord) {
    merge_by_scan(scratch);
  } else {
    merge_by_heap(scratch);
  }
  out.insert(out.end(), symbols.begin(), symbols.end());
}

// ranks[i] is the merge rank of (symbols[i], symbols[i + 1]). Each round merges the leftmost
// lowest-ranked pair and refreshes the two ranks next to it.
void BpeModel::merge_by_scan(BpeScratch& scratch) const {
  std::vector<int32_t>& symbols = scratch.symbols;
  std::vector<uint32_t>& ranks = scratch.ranks;
  if (symbols.size() < 2) return;
  ranks.resize(symbols.size() - 1);
  for (size_t i = 0; i + 1 < symbols.size(); ++i) ranks[i] = rank_of(symbols[i], symbols[i + 1]);
  while (!ranks.empty()) {
    const size_t best =
        static_cast<size_t>(std::min_element(ranks.begin(), ranks.end()) - ranks.begin());
    if (ranks[best] == kNoMerge) break;
    symbols[best] = merges_.find(symbols[best], symbols[best + 1])->merged_id;
    symbols.erase(symbols.begin() + static_cast<std::ptrdiff_t>(best) + 1);
    ranks.erase(ranks.begin() + static_cast<std::ptrdiff_t>(best));
    if (best > 0) ranks[best - 1] = rank_of(symbols[best - 1], symbols[best]);
    if (best < ranks.size()) ranks[best] = rank_of(symbols[best], symbols[best + 1]);
  }
}

// Hugging Face's algorithm: a min-heap of (rank, position) over a linked list of symbols. An
// entry whose pair has changed since it was pushed no longer has its rank and is skipped.
void BpeModel::merge_by_heap(BpeScratch& scratch) const {
  std::vector<int32_t>& symbols = scratch.symbols;
  std::vector<int32_t>& next = scratch.next;
  std::vector<int32_t>& prev = scratch.prev;
  std::vector<uint64_t>& heap = scratch.heap;
  const auto n = static_cast<int32_t>(symbols.size());
  next.resize(symbols.size());
  prev.resize(symbols.size());
  heap.clear();
  const std::greater<uint64_t> min_first;
  const auto push = [&](int32_t pos, int32_t right) {
    const uint32_t rank = rank_of(symbols[pos], symbols[right]);
    if (rank == kNoMerge) return;
    heap.push_back(uint64_t{rank} << 32 | static_cast<uint32_t>(pos));
    std::push_heap(heap.begin(), heap.end(), min_first);
  };
  for (int32_t i = 0; i < n; ++i) {
    next[i] = i + 1;
    prev[i] = i - 1;
  }
  for (int32_t i = 0; i + 1 < n; ++i) push(i, i + 1);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), min_first);
    const uint64_t top = heap.back();
    heap.pop_back();
    const auto rank = static_cast<uint32_t>(top >> 32);
    const auto pos = static_cast<int32_t>(top & 0xFFFFFFFFu);
    if (symbols[pos] < 0 || next[pos] >= n) continue;
    const int32_t right = next[pos];
    const Merge* merge = merges_.find(symbols[pos], symbols[right]);
    if (merge == nullptr || merge->rank != rank) continue;
    symbols[pos] = merge->merged_id;
    symbols[right] = -1;
    next[pos] = next[right];
    if (next[pos] < n) prev[next[pos]] = pos;
    if (prev[pos] >= 0) push(prev[pos], pos);
    if (next[pos] < n) push(pos, next[pos]);
  }
  symbols.erase(std::remove(symbols.begin(), symbols.end(), -1), symbols.end());
}

}  // namespace safrl::tokenizer
