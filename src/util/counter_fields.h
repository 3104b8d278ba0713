// Arithmetic of counter structs (engine::Work, reward::GuardTiming, reward::ScorerTiming) written
// once from one list of their fields. Such a struct lists its members in
//
//   static constexpr auto fields() { return std::make_tuple(&Work::forwards, &Work::tokens, ...); }
//
// and its operators call add_fields / subtract_fields. A member left out of the list would be
// silently wrong in every per-batch difference, so both check at compile time that the listed
// members fill the whole struct: a new member that is not listed fails the build. (This holds for
// structs without padding, which counters of int64_t and double are.) A member may itself be a
// counter struct with its own + and -.
#pragma once

#include <cstddef>
#include <tuple>

namespace safrl::util {

template <typename Struct, typename Member>
constexpr size_t member_size(Member Struct::*) {
  return sizeof(Member);
}

// True when Struct::fields() names members whose sizes add up to the whole struct.
template <typename Struct>
constexpr bool lists_every_field() {
  return std::apply([](auto... field) { return (size_t{0} + ... + member_size(field)); },
                    Struct::fields()) == sizeof(Struct);
}

// `a` with each listed field increased by the same field of `b`.
template <typename Struct>
Struct add_fields(Struct a, const Struct& b) {
  static_assert(lists_every_field<Struct>(), "fields() must list every member of the struct");
  std::apply([&](auto... field) { ((a.*field = a.*field + b.*field), ...); }, Struct::fields());
  return a;
}

// `a` with each listed field decreased by the same field of `b`: what was spent between two
// readings of a counter.
template <typename Struct>
Struct subtract_fields(Struct a, const Struct& b) {
  static_assert(lists_every_field<Struct>(), "fields() must list every member of the struct");
  std::apply([&](auto... field) { ((a.*field = a.*field - b.*field), ...); }, Struct::fields());
  return a;
}

}  // namespace safrl::util
