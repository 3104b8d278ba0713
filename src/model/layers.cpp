#include "model/layers.h"

#include <ATen/ATen.h>

namespace safrl::model {

at::Tensor as_dtype(const at::Tensor& weight, c10::ScalarType dtype) {
  return weight.scalar_type() == dtype ? weight : weight.to(dtype);
}

LinearImpl::LinearImpl(int64_t in_features, int64_t out_features, bool with_bias,
                       c10::ScalarType storage) {
  const auto options = at::TensorOptions().dtype(storage);
  weight = register_parameter("weight", at::empty({out_features, in_features}, options), false);
  if (with_bias) bias = register_parameter("bias", at::empty({out_features}, options), false);
}

at::Tensor LinearImpl::forward(const at::Tensor& x) {
  const auto dtype = x.scalar_type();
  return at::linear(x, as_dtype(weight, dtype),
                    bias.defined() ? as_dtype(bias, dtype) : at::Tensor());
}

at::Tensor LinearImpl::forward_rows(const at::Tensor& x, const at::Tensor& rows) {
  const auto dtype = x.scalar_type();
  // Select first, then convert: only R rows of a possibly huge bf16 matrix become fp32.
  at::Tensor w = as_dtype(weight.index_select(0, rows), dtype);
  at::Tensor b = bias.defined() ? as_dtype(bias.index_select(0, rows), dtype) : at::Tensor();
  return at::linear(x, w, b);
}

RmsNormImpl::RmsNormImpl(int64_t size, double eps_, c10::ScalarType storage) : eps(eps_) {
  weight =
      register_parameter("weight", at::empty({size}, at::TensorOptions().dtype(storage)), false);
}

at::Tensor RmsNormImpl::forward(const at::Tensor& x) {
  const auto dtype = x.scalar_type();
  at::Tensor x32 = x.to(at::kFloat);
  at::Tensor variance = x32.pow(2).mean(-1, /*keepdim=*/true);
  at::Tensor normed = (x32 * at::rsqrt(variance + eps)).to(dtype);
  return as_dtype(weight, dtype) * normed;
}

EmbeddingImpl::EmbeddingImpl(int64_t count, int64_t dim, c10::ScalarType storage) {
  weight = register_parameter("weight", at::empty({count, dim}, at::TensorOptions().dtype(storage)),
                              false);
}

at::Tensor EmbeddingImpl::forward(const at::Tensor& ids, c10::ScalarType dtype) {
  return as_dtype(weight.index_select(0, ids), dtype);
}

}  // namespace safrl::model
