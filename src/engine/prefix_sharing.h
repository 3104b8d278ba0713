// Computing shared leading tokens once: GRPO groups score G responses to one prompt, so their
// guard and reward-model inputs begin with the same tokens.
//
// Sequences with the same group key (callers use the conversation before its last message) share
// their longest common token prefix, cut so every member keeps at least one token of its own.
// That prefix is computed once, continuing the sequence's base cache when it has one (the guard
// template's head, computed once per process), and each member gets a fork of it. The results
// equal the unshared computation, since a prefix's keys and values do not depend on what follows.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/engine.h"

namespace safrl::engine {

struct SharedStart {
  std::unique_ptr<model::KvCache> cache;  // holds ids[0, covered)
  size_t covered = 0;
};

struct SequenceToShare {
  const std::vector<int32_t>* ids = nullptr;
  std::string group_key;               // sequences with equal keys may share
  model::KvCache* base = nullptr;      // holds ids[0, base->length()) already, or nullptr
};

struct SharingStats {
  int64_t computed = 0;  // prefix tokens computed here
  int64_t saved = 0;     // tokens members did not have to compute themselves
};

// One start per sequence, in order. Group prefixes are computed in one packed forward.
std::vector<SharedStart> start_shared(Engine& engine, const std::vector<SequenceToShare>& sequences,
                                      SharingStats* stats = nullptr);

}  // namespace safrl::engine
