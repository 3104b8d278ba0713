// Keys and values of one sequence's past tokens, for every layer.
//
// A cache is a list of frozen segments, shared and immutable, followed by an own segment that
// grows as tokens are appended. fork() freezes what the cache holds and returns a second cache
// that starts from the same contents without copying them: this is how a shared prompt prefix is
// computed once and continued by several sequences. Appending to one cache never changes another.
//
// Not thread-safe: one cache is used by one forward at a time. Frozen segments may be read by
// several caches (and threads) at once.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

namespace safrl::model {

struct KvShape {
  int64_t num_layers = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  c10::ScalarType dtype = c10::kFloat;
  c10::Device device = c10::Device(c10::kCPU);
};

class KvCache {
 public:
  explicit KvCache(const KvShape& shape);

  // Number of tokens held (frozen and own).
  int64_t length() const { return frozen_length_ + own_length_; }

  // Freezes the contents and returns a cache that continues from them. Both share the frozen
  // tensors; each appends on its own from here on.
  KvCache fork();

  // Used by attention. reserve() makes room for `count` more own tokens in every layer;
  // write() stores the new tokens' keys and values of one layer ([kv_heads, count, head_dim]) at
  // the end of the own segment; keys()/values() then return the layer's segments in order, the
  // last one ending with the written tokens; commit() makes them part of length().
  void reserve(int64_t count);
  void write(int64_t layer, const at::Tensor& k, const at::Tensor& v);
  std::vector<at::Tensor> keys(int64_t layer) const;
  std::vector<at::Tensor> values(int64_t layer) const;
  void commit(int64_t count);

  // Drops the tokens past `length` (a speculative continuation the caller takes back). Only the
  // own segment can shrink: throws util::Error when `length` is inside the frozen contents.
  void truncate(int64_t length);

 private:
  struct Segment {
    std::vector<at::Tensor> k, v;  // per layer, [kv_heads, len, head_dim]
    int64_t length = 0;
  };

  std::vector<at::Tensor> segments_of(int64_t layer, bool keys) const;

  KvShape shape_;
  std::vector<std::shared_ptr<const Segment>> frozen_;
  int64_t frozen_length_ = 0;
  // Own segment: per layer buffers [kv_heads, capacity, head_dim].
  std::vector<at::Tensor> own_k_, own_v_;
  int64_t own_length_ = 0;
  int64_t capacity_ = 0;
  int64_t pending_ = 0;  // tokens written since the last commit()
};

}  // namespace safrl::model
