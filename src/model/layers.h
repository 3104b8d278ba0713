// The building blocks of the Qwen decoders, as LibTorch modules whose parameter names are the
// Hugging Face ones ("weight", "bias"), so a module tree's named_parameters() keys equal the
// checkpoint keys.
//
// Parameters are created empty (no random initialisation: a 4B model would spend seconds on it)
// in the storage dtype; the loader fills them. forward() converts weights to the activations'
// dtype when the two differ (bf16 storage, fp32 compute).
#pragma once

#include <cstdint>

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

namespace safrl::model {

// Converts a weight to `dtype` only when it differs (no copy otherwise).
at::Tensor as_dtype(const at::Tensor& weight, c10::ScalarType dtype);

class LinearImpl : public torch::nn::Module {
 public:
  LinearImpl(int64_t in_features, int64_t out_features, bool bias, c10::ScalarType storage);
  // x [..., in] -> [..., out]
  at::Tensor forward(const at::Tensor& x);
  // Only the output features in `rows` ([R] int64): x [..., in] -> [..., R].
  at::Tensor forward_rows(const at::Tensor& x, const at::Tensor& rows);

  at::Tensor weight;  // [out, in]
  at::Tensor bias;    // [out] or undefined
};
TORCH_MODULE(Linear);

// Root-mean-square norm, computed in float32 whatever the activations' dtype (as transformers).
class RmsNormImpl : public torch::nn::Module {
 public:
  RmsNormImpl(int64_t size, double eps, c10::ScalarType storage);
  at::Tensor forward(const at::Tensor& x);

  at::Tensor weight;  // [size]
  double eps;
};
TORCH_MODULE(RmsNorm);

class EmbeddingImpl : public torch::nn::Module {
 public:
  EmbeddingImpl(int64_t count, int64_t dim, c10::ScalarType storage);
  // ids [T] int64 -> [T, dim] in `dtype`
  at::Tensor forward(const at::Tensor& ids, c10::ScalarType dtype);

  at::Tensor weight;  // [count, dim]
};
TORCH_MODULE(Embedding);

}  // namespace safrl::model
