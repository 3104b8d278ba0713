// Byte-level BPE: the Hugging Face BPE model behind a ByteLevel pre-tokenizer.
//
// A piece (raw bytes of one pre-token) starts as one symbol per byte, the vocabulary id of that
// byte's alphabet character (byte_level.h). Merges then apply by rank exactly as Hugging Face's
// Word::merge_all does: repeatedly the adjacent pair with the lowest merge rank, the leftmost on
// a tie, becomes the merged token. With ignore_merges, a piece that is itself a vocabulary token
// is emitted whole first.
//
// Immutable after construction and safe to share across threads; per-call state lives in a
// BpeScratch that each caller owns.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace safrl::tokenizer {

// Reusable buffers for BpeModel::encode; one per thread or call.
struct BpeScratch {
  std::vector<int32_t> symbols;
  std::vector<uint32_t> ranks;
  std::vector<int32_t> next;
  std::vector<int32_t> prev;
  std::vector<uint64_t> heap;
  std::string byte_level_text;
};

class BpeModel {
 public:
  struct Merge {
    uint32_t rank;
    int32_t merged_id;
  };

  // `vocab` maps tokens (alphabet strings) to ids; `merges` are (left, right) token pairs, lowest
  // rank first. Throws util::LoadError when a merge names a token that is not in `vocab`, or when
  // a byte has no token (byte-level BPE needs all 256).
  BpeModel(const std::unordered_map<std::string, int32_t>& vocab,
           const std::vector<std::pair<std::string, std::string>>& merges, bool ignore_merges);

  // Appends the ids of `piece` (raw bytes, non-empty) to `out`.
  void encode(std::string_view piece, BpeScratch& scratch, std::vector<int32_t>& out) const;

 private:
  // Open-addressing table from (left id, right id) to the merge, faster than a node map.
  class MergeTable {
   public:
    void reserve(size_t count);
    // A later duplicate replaces the earlier one, as when Hugging Face collects its merge map.
    void insert(int32_t left, int32_t right, Merge merge);
    const Merge* find(int32_t left, int32_t right) const {
      const uint64_t key = pack(left, right);
      for (size_t slot = hash(key);; slot = (slot + 1) & mask_) {
        const Entry& entry = entries_[slot];
        if (entry.key == key) return &entry.merge;
        if (entry.key == kEmpty) return nullptr;
      }
    }

   private:
    static constexpr uint64_t kEmpty = ~uint64_t{0};
    struct Entry {
      uint64_t key = kEmpty;
      Merge merge{};
    };
    static uint64_t pack(int32_t left, int32_t right) {
      return uint64_t{static_cast<uint32_t>(left)} << 32 | static_cast<uint32_t>(right);
    }
    size_t hash(uint64_t key) const {
      return static_cast<size_t>((key * 0x9E3779B97F4A7C15ULL) >> shift_);
    }
    std::vector<Entry> entries_;
    size_t mask_ = 0;
    int shift_ = 64;
  };

  static constexpr uint32_t kNoMerge = ~uint32_t{0};
  // Words up to this many bytes merge by rescanning an array of pair ranks; longer ones use a
  // heap so that a megabyte-long piece stays O(n log n).
  static constexpr size_t kMaxScanWord = 48;

  uint32_t rank_of(int32_t left, int32_t right) const {
    const Merge* merge = merges_.find(left, right);
    return merge ? merge->rank : kNoMerge;
  }
  void merge_by_scan(BpeScratch& scratch) const;
  void merge_by_heap(BpeScratch& scratch) const;

  std::array<int32_t, 256> byte_ids_{};
  MergeTable merges_;
  bool ignore_merges_;
  // Only filled for ignore_merges: the whole-piece lookup.
  std::unordered_map<std::string, int32_t> vocab_;
};

}  // namespace safrl::tokenizer
