// The rate this machine reaches on one large matrix product in a model's compute dtype and on its
// device: the ceiling against which benchmarks report achieved FLOP/s (CPU fp32 here, bf16 on a
// GPU). Measured, not taken from a data sheet, so the ratio holds on whatever machine runs it.
#pragma once

#include <cstdint>

#include "model/options.h"

namespace safrl::engine {

// Best GFLOP/s of several rounds of an [m, k] x [k, n] product: the ceiling, not an average
// disturbed by other work on the machine.
double matmul_gflops(const model::RunOptions& options, int64_t m, int64_t k, int64_t n,
                     int rounds = 5);

}  // namespace safrl::engine
