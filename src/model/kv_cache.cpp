#include "model/kv_cache.h"

#include <algorithm>

#include <ATen/ATen.h>

#include "util/error.h"

namespace safrl::model {

KvCache::KvCache(const KvShape& shape) : shape_(shape) {}

KvCache KvCache::fork() {
  if (pending_ != 0) throw util::Error("KvCache::fork during a forward");
  if (own_length_ > 0) {
    auto segment = std::make_shared<Segment>();
    segment->length = own_length_;
    for (int64_t l = 0; l < shape_.num_layers; ++l) {
      // Copied once to its exact size: a narrow view of the larger buffer would be strided, and
      // every later attention over it (each decode step of each fork) would copy it again.
      segment->k.push_back(own_k_[l].narrow(1, 0, own_length_).contiguous());
      segment->v.push_back(own_v_[l].narrow(1, 0, own_length_).contiguous());
    }
    frozen_.push_back(std::move(segment));
    frozen_length_ += own_length_;
    own_k_.clear();
    own_v_.clear();
    own_length_ = 0;
    capacity_ = 0;
  }
  KvCache child(shape_);
  child.frozen_ = frozen_;
  child.frozen_length_ = frozen_length_;
  return child;
}

void KvCache::reserve(int64_t count) {
  const int64_t needed = own_length_ + count;
  if (needed <= capacity_) return;
  // Grow geometrically so a token-by-token decode copies O(n) elements overall.
  const int64_t capacity = std::max<int64_t>({needed, capacity_ * 2, 16});
  const auto options = at::TensorOptions().dtype(shape_.dtype).device(shape_.device);
  std::vector<at::Tensor> k(shape_.num_layers), v(shape_.num_layers);
  for (int64_t l = 0; l < shape_.num_layers; ++l) {
    k[l] = at::empty({shape_.num_kv_heads, capacity, shape_.head_dim}, options);
    v[l] = at::empty({shape_.num_kv_heads, capacity, shape_.head_dim}, options);
    if (own_length_ > 0) {
      k[l].narrow(1, 0, own_length_).copy_(own_k_[l].narrow(1, 0, own_length_));
      v[l].narrow(1, 0, own_length_).copy_(own_v_[l].narrow(1, 0, own_length_));
    }
  }
  own_k_ = std::move(k);
  own_v_ = std::move(v);
  capacity_ = capacity;
}

void KvCache::write(int64_t layer, const at::Tensor& k, const at::Tensor& v) {
  const int64_t count = k.size(1);
  if (own_length_ + count > capacity_) throw util::Error("KvCache::write without reserve");
  own_k_[layer].narrow(1, own_length_, count).copy_(k);
  own_v_[layer].narrow(1, own_length_, count).copy_(v);
  pending_ = count;
}

std::vector<at::Tensor> KvCache::segments_of(int64_t layer, bool keys) const {
  std::vector<at::Tensor> out;
  out.reserve(frozen_.size() + 1);
  for (const auto& segment : frozen_) out.push_back(keys ? segment->k[layer] : segment->v[layer]);
  const int64_t own = own_length_ + pending_;
  if (own > 0) out.push_back((keys ? own_k_ : own_v_)[layer].narrow(1, 0, own));
  return out;
}

std::vector<at::Tensor> KvCache::keys(int64_t layer) const {
  return segments_of(layer, true);
}
std::vector<at::Tensor> KvCache::values(int64_t layer) const {
  return segments_of(layer, false);
}

void KvCache::commit(int64_t count) {
  own_length_ += count;
  pending_ = 0;
}

void KvCache::truncate(int64_t length) {
  if (pending_ != 0) throw util::Error("KvCache::truncate during a forward");
  if (length < frozen_length_ || length > this->length()) {
    throw util::Error(util::cat("KvCache::truncate to ", length, " tokens: the cache holds ",
                                this->length(), ", of which ", frozen_length_, " are frozen"));
  }
  own_length_ = length - frozen_length_;
}

}  // namespace safrl::model
