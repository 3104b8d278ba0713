#include "engine/prefix_sharing.h"

#include <algorithm>
#include <map>

namespace safrl::engine {

std::vector<SharedStart> start_shared(Engine& engine, const std::vector<SequenceToShare>& sequences,
                                      SharingStats* stats) {
  // Members of each group, by (key, base).
  std::map<std::pair<std::string, model::KvCache*>, std::vector<size_t>> groups;
  for (size_t i = 0; i < sequences.size(); ++i) {
    groups[{sequences[i].group_key, sequences[i].base}].push_back(i);
  }
  std::vector<SharedStart> starts(sequences.size());
  std::vector<std::unique_ptr<model::KvCache>> prefixes;
  std::vector<std::vector<int32_t>> prefix_ids;
  std::vector<std::pair<size_t, std::vector<size_t>>> shared_groups;  // prefix length, members
  for (auto& [key, members] : groups) {
    const SequenceToShare& first = sequences[members.front()];
    size_t common = first.ids->size() - 1;
    for (size_t m : members) {
      const auto& ids = *sequences[m].ids;
      common = std::min(common, ids.size() - 1);
      common = static_cast<size_t>(
          std::mismatch(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(common),
                        first.ids->begin())
              .first -
          ids.begin());
    }
    const size_t base_length = static_cast<size_t>(first.base != nullptr ? first.base->length() : 0);
    if (members.size() < 2 || common <= base_length) {
      for (size_t m : members) {
        const SequenceToShare& s = sequences[m];
        starts[m].cache = std::make_unique<model::KvCache>(s.base != nullptr ? s.base->fork()
                                                                               : engine.new_cache());
        starts[m].covered = static_cast<size_t>(s.base != nullptr ? s.base->length() : 0);
      }
      continue;
    }
    prefixes.push_back(std::make_unique<model::KvCache>(first.base != nullptr ? first.base->fork()
                                                                              : engine.new_cache()));
    prefix_ids.emplace_back(first.ids->begin() + static_cast<std::ptrdiff_t>(base_length),
                            first.ids->begin() + static_cast<std::ptrdiff_t>(common));
    shared_groups.emplace_back(common, members);
    if (stats != nullptr) {
      stats->computed += static_cast<int64_t>(common - base_length);
      stats->saved += static_cast<int64_t>((common - base_length) * (members.size() - 1));
    }
  }
  if (!prefixes.empty()) {
    std::vector<SequenceInput> inputs;
    for (size_t g = 0; g < prefixes.size(); ++g) inputs.push_back({prefix_ids[g], prefixes[g].get()});
    engine.hidden_states(inputs);
    for (size_t g = 0; g < prefixes.size(); ++g) {
      for (size_t m : shared_groups[g].second) {
        starts[m].cache = std::make_unique<model::KvCache>(prefixes[g]->fork());
        starts[m].covered = shared_groups[g].first;
      }
    }
  }
  return starts;
}

}  // namespace safrl::engine
