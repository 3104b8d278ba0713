// Counter arithmetic written once from a field list (engine::Work, reward::GuardTiming,
// reward::ScorerTiming use it): every listed field takes part, nested counters included, and a
// list that forgets a member is caught at compile time.
#include "util/counter_fields.h"

#include <cstdint>
#include <tuple>

#include <gtest/gtest.h>

namespace safrl::util {
namespace {

struct Inner {
  int64_t steps = 0;
  double seconds = 0;
  static constexpr auto fields() { return std::make_tuple(&Inner::steps, &Inner::seconds); }
  friend Inner operator-(const Inner& a, const Inner& b) { return subtract_fields(a, b); }
  friend Inner operator+(const Inner& a, const Inner& b) { return add_fields(a, b); }
};

struct Outer {
  Inner inner;
  int64_t tokens = 0;
  static constexpr auto fields() { return std::make_tuple(&Outer::inner, &Outer::tokens); }
};

struct ForgetsAMember {
  int64_t listed = 0;
  double forgotten = 0;
  static constexpr auto fields() { return std::make_tuple(&ForgetsAMember::listed); }
};

static_assert(lists_every_field<Inner>());
static_assert(lists_every_field<Outer>());
// 8 listed bytes of 16: subtract_fields<ForgetsAMember> would not compile.
static_assert(!lists_every_field<ForgetsAMember>());

TEST(CounterFields, SubtractsEveryListedFieldNestedOnesIncluded) {
  const Outer before{{3, 1.25}, 100};
  const Outer after{{10, 4.0}, 160};
  const Outer spent = subtract_fields(after, before);
  EXPECT_EQ(spent.inner.steps, 7);              // 10 - 3
  EXPECT_DOUBLE_EQ(spent.inner.seconds, 2.75);  // 4.0 - 1.25
  EXPECT_EQ(spent.tokens, 60);                  // 160 - 100
}

TEST(CounterFields, AddsEveryListedFieldNestedOnesIncluded) {
  const Outer total = add_fields(Outer{{3, 1.25}, 100}, Outer{{10, 4.0}, 160});
  EXPECT_EQ(total.inner.steps, 13);             // 3 + 10
  EXPECT_DOUBLE_EQ(total.inner.seconds, 5.25);  // 1.25 + 4.0
  EXPECT_EQ(total.tokens, 260);                 // 100 + 160
}

}  // namespace
}  // namespace safrl::util
