#include "engine/matmul_rate.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <chrono>

namespace safrl::engine {

double matmul_gflops(const model::RunOptions& options, int64_t m, int64_t k, int64_t n,
                     int rounds) {
  c10::InferenceMode guard;
  const auto tensor_options =
      at::TensorOptions().dtype(options.compute_dtype).device(options.device);
  const at::Tensor a = at::randn({m, k}, tensor_options), b = at::randn({k, n}, tensor_options);
  // item() waits for the device, so the clock covers the products themselves.
  auto finish = [](const at::Tensor& t) { return t.select(0, 0).select(0, 0).item<double>(); };
  finish(at::mm(a, b));  // warm-up: kernels chosen, memory allocated
  const int repeats = options.device.is_cuda() ? 20 : 3;
  double best = 0;
  for (int round = 0; round < rounds; ++round) {
    const auto start = std::chrono::steady_clock::now();
    at::Tensor c;
    for (int i = 0; i < repeats; ++i) c = at::mm(a, b);
    finish(c);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    best = std::max(best, 2.0 * static_cast<double>(m) * k * n * repeats / seconds / 1e9);
  }
  return best;
}

}  // namespace safrl::engine
