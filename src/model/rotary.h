// Rotary position embedding tables (the rotate-half form of transformers' Qwen2/Qwen3):
// inv_freq = theta^(-2i/head_dim), computed in float32 as transformers does, so angles match.
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

namespace safrl::model {

class RotaryTable {
 public:
  RotaryTable(int64_t head_dim, double theta);

  // cos and sin for the given positions ([T] int64): each [T, head_dim] in `dtype` on the
  // positions' device.
  std::pair<at::Tensor, at::Tensor> lookup(const at::Tensor& positions, c10::ScalarType dtype);

 private:
  int64_t head_dim_;
  double theta_;
  at::Tensor inv_freq_;  // [head_dim / 2] float32
};

// x [T, heads, head_dim] with cos, sin [T, head_dim]: x * cos + rotate_half(x) * sin.
at::Tensor apply_rotary(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);

}  // namespace safrl::model
