// What an Engine has computed, in model FLOPs (two per multiply-add, the convention of MFU
// figures), so benchmarks can report achieved FLOP/s and what skipping work saves. Counted from
// shapes, not measured: the same figures on any device.
#pragma once

#include <cstdint>

namespace safrl::engine {

struct Work {
  int64_t forwards = 0;
  int64_t tokens = 0;          // new tokens through the decoder layers
  double layer_flops = 0;      // projections, MLP, and causal attention over cache + new tokens
  double head_flops = 0;       // LM-head / score-head rows and columns actually computed
  double full_head_flops = 0;  // the same head over every new token and every output (what a
                               // plain transformers forward computes)

  double flops() const { return layer_flops + head_flops; }

  Work& operator+=(const Work& other) {
    forwards += other.forwards;
    tokens += other.tokens;
    layer_flops += other.layer_flops;
    head_flops += other.head_flops;
    full_head_flops += other.full_head_flops;
    return *this;
  }
  friend Work operator-(Work a, const Work& b) {
    a.forwards -= b.forwards;
    a.tokens -= b.tokens;
    a.layer_flops -= b.layer_flops;
    a.head_flops -= b.head_flops;
    a.full_head_flops -= b.full_head_flops;
    return a;
  }
};

}  // namespace safrl::engine
