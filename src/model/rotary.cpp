#include "model/rotary.h"

#include <ATen/ATen.h>

namespace safrl::model {

RotaryTable::RotaryTable(int64_t head_dim, double theta) : head_dim_(head_dim), theta_(theta) {
  // transformers: 1 / (base ** (arange(0, dim, 2).float() / dim)), all in float32.
  at::Tensor exponent = at::arange(0, head_dim, 2, at::kLong).to(at::kFloat) / head_dim;
  inv_freq_ = at::pow(theta, exponent).reciprocal();  // Python 1.0 / t is t.reciprocal()
}

std::pair<at::Tensor, at::Tensor> RotaryTable::lookup(const at::Tensor& positions,
                                                      c10::ScalarType dtype) {
  at::Tensor inv_freq = inv_freq_.to(positions.device());
  // [T, 1] * [1, dim/2]: the same float32 products as transformers' outer-product matmul.
  at::Tensor freqs = positions.to(at::kFloat).unsqueeze(1) * inv_freq.unsqueeze(0);
  at::Tensor angles = at::cat({freqs, freqs}, 1);
  return {angles.cos().to(dtype), angles.sin().to(dtype)};
}

at::Tensor apply_rotary(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  const int64_t half = x.size(-1) / 2;
  at::Tensor rotated = at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
  return x * cos.unsqueeze(1) + rotated * sin.unsqueeze(1);
}

}  // namespace safrl::model
