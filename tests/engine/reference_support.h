// What the engine's reference tests share: where the generate_checkpoints fixture writes the
// tiny checkpoints, CPU run options, and the relative difference the tolerances are stated in.
#pragma once

#include <ATen/Functions.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>

#include "engine/engine.h"
#include "model/options.h"
#include "util/error.h"

namespace safrl::testing {

// safrl/testing/checkpoints.py writes them here (the generate_checkpoints fixture).
inline const std::string kCheckpoints = SAFRL_BINARY_DIR "/testdata/checkpoints";

inline model::RunOptions cpu_options(c10::ScalarType storage = c10::kFloat,
                                     c10::ScalarType compute = c10::kFloat) {
  model::RunOptions options;
  options.storage_dtype = storage;
  options.compute_dtype = compute;
  return options;
}

// Max |a - b| relative to `scale`, by default max |b|; prints the worst element so a failure is
// easy to read.
inline double relative_difference(const at::Tensor& actual, const at::Tensor& expected,
                                  const std::string& what, double scale = 0) {
  at::Tensor diff = (actual - expected).abs();
  const double max_diff = diff.max().item<double>();
  if (scale <= 0) scale = std::max(expected.abs().max().item<double>(), 1e-12);
  const int64_t worst = diff.flatten().argmax().item<int64_t>();
  std::printf("%-48s max|diff| %.3g (relative %.3g) at %lld: %.7g vs %.7g\n", what.c_str(),
              max_diff, max_diff / scale, static_cast<long long>(worst),
              actual.flatten()[worst].item<double>(), expected.flatten()[worst].item<double>());
  return max_diff / scale;
}

// The LoadError loading `dir` on the CPU throws, or "no error".
inline std::string engine_load_error(const std::string& dir) {
  try {
    engine::Engine e(dir, cpu_options());
  } catch (const util::LoadError& error) {
    return error.what();
  }
  return "no error";
}

}  // namespace safrl::testing
