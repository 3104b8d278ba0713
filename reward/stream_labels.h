// Qwen3Guard-Stream's label names and its debouncing rule, as the official evaluation code
// applies them (QwenLM/Qwen3Guard eval/eval_stream.py, SafetyEvaluator.consecutive_unsafe;
// docs/stream-guard.md).
//
// The Stream guard labels every response token Safe / Unsafe / Controversial (risk head index 0,
// 1, 2: the order of Safety) with a category (category head index: kStreamResponseCategories;
// the query branch adds "Jailbreak"). NOTE: the head order differs from the Gen template's order
// (verdict.h kPromptCategories); the names are the same strings.
// debounce() turns the response's label sequence into one outcome: a single unsafe token is
// noise, two consecutive ones are a verdict.
// Pure functions; thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

#include "io/model_config.h"
#include "reward/verdict.h"

namespace safrl::reward {

// The category heads' names in index order: the io layer owns them, as it checks a checkpoint's
// label maps against them when it loads (io/model_config.h).
using io::kStreamQueryCategories;
using io::kStreamResponseCategories;

// The debounced outcome of a label sequence and the index (relative to the first label) of the
// SECOND label of the pair that decided it; index -1 with outcome kSafe.
struct Debounced {
  Safety outcome = Safety::kSafe;
  int64_t index = -1;
};

// consecutive_unsafe exactly: the first i (i = 0..n-2) with labels[i] == labels[i+1] == Unsafe
// gives {kUnsafe, i + 1}; only when there is none, the same scan for Controversial gives
// {kControversial, i + 1}; otherwise {kSafe, -1}. So an Unsafe pair anywhere wins over an
// earlier Controversial pair, and mixed pairs (Unsafe then Controversial) count for neither.
Debounced debounce(const std::vector<Safety>& labels);

// The evaluation's two readings of Controversial: strict counts it as Unsafe, loose as Safe.
// Safe and Unsafe are returned unchanged.
Safety strict(Safety safety);
Safety loose(Safety safety);

}  // namespace safrl::reward
