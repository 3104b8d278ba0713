// What an Engine has computed, in model FLOPs (two per multiply-add, the convention of MFU
// figures), so benchmarks can report achieved FLOP/s and what skipping work saves. Counted from
// shapes, not measured: the same figures on any device.
#pragma once

#include <cstdint>
#include <tuple>

#include "util/counter_fields.h"

namespace safrl::engine {

struct Work {
  int64_t forwards = 0;
  int64_t tokens = 0;          // new tokens through the decoder layers
  double layer_flops = 0;      // projections, MLP, and causal attention over cache + new tokens
  double head_flops = 0;       // LM-head / score-head rows and columns actually computed
  double full_head_flops = 0;  // the same head over every new token and every output (what a
                               // plain transformers forward computes)

  double flops() const { return layer_flops + head_flops; }

  // Every member, once, for util/counter_fields.h (one not listed fails the build).
  static constexpr auto fields() {
    return std::make_tuple(&Work::forwards, &Work::tokens, &Work::layer_flops, &Work::head_flops,
                           &Work::full_head_flops);
  }
  Work& operator+=(const Work& other) { return *this = util::add_fields(*this, other); }
  friend Work operator-(const Work& a, const Work& b) { return util::subtract_fields(a, b); }
};

}  // namespace safrl::engine
