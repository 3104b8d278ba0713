// Where and in which precision a model runs.
#pragma once

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

namespace safrl::model {

struct RunOptions {
  // cpu, or cuda when LibTorch was built with CUDA.
  c10::Device device = c10::Device(c10::kCPU);
  // Precision of activations and matrix products: float32 on CPU, bfloat16 on CUDA.
  c10::ScalarType compute_dtype = c10::kFloat;
  // Precision the weights are kept in. bfloat16 with float32 compute halves the memory of a CPU
  // model; each layer's weights are converted on the fly, which costs time on every forward.
  c10::ScalarType storage_dtype = c10::kFloat;
};

}  // namespace safrl::model
