// debounce() against eval_stream.py's SafetyEvaluator.consecutive_unsafe, on hand-written label
// lists; the expected index is worked out in each comment (i + 1 for the pair at i, i + 1).
#include "reward/stream_labels.h"

#include <vector>

#include <gtest/gtest.h>

namespace safrl::reward {
namespace {

constexpr Safety S = Safety::kSafe;
constexpr Safety U = Safety::kUnsafe;
constexpr Safety C = Safety::kControversial;

void expect_debounced(const std::vector<Safety>& labels, Safety outcome, int64_t index) {
  const Debounced got = debounce(labels);
  EXPECT_EQ(got.outcome, outcome);
  EXPECT_EQ(got.index, index);
}

TEST(StreamDebounce, EmptyListIsSafe) {
  expect_debounced({}, S, -1);
}

TEST(StreamDebounce, OneUnsafeLabelIsNoPair) {
  expect_debounced({U}, S, -1);
}

TEST(StreamDebounce, IsolatedUnsafeLabelsAreNotFlagged) {
  // U at 1 and 3, never two in a row.
  expect_debounced({S, U, S, U, S}, S, -1);
}

TEST(StreamDebounce, UnsafePairAtTheStartEndsAtIndexOne) {
  // pair at i = 0 -> index 0 + 1 = 1
  expect_debounced({U, U, S, S}, U, 1);
}

TEST(StreamDebounce, UnsafePairWinsOverAnEarlierControversialPair) {
  // C pair at i = 0, U pair at i = 3 -> Unsafe, index 3 + 1 = 4
  expect_debounced({C, C, S, U, U, S}, U, 4);
}

TEST(StreamDebounce, FirstOfSeveralUnsafePairsDecides) {
  // U pairs at i = 2 (U U U covers i = 2 and 3) and i = 6 -> the first, index 2 + 1 = 3
  expect_debounced({S, S, U, U, U, S, U, U}, U, 3);
}

TEST(StreamDebounce, UnsafeControversialUnsafeIsNoPair) {
  // U C U: neither label repeats at neighbouring positions
  expect_debounced({U, C, U}, S, -1);
}

TEST(StreamDebounce, MixedUnsafeControversialPairsCountForNeither) {
  expect_debounced({U, C, U, C, C}, C, 4);  // only the C pair at i = 3 -> index 4
}

TEST(StreamDebounce, ControversialPairAloneGivesControversial) {
  // pair at i = 1 -> index 2
  expect_debounced({S, C, C}, C, 2);
}

TEST(StreamDebounce, StrictCountsControversialAsUnsafeAndLooseAsSafe) {
  EXPECT_EQ(strict(C), U);
  EXPECT_EQ(loose(C), S);
  EXPECT_EQ(strict(S), S);
  EXPECT_EQ(loose(U), U);
}

TEST(StreamCategories, HeadOrderIsTheOfficialCategoryMap) {
  // eval_stream.py category_map: 0 Violent ... 7 Unethical Acts; the query map adds 8 Jailbreak.
  EXPECT_EQ(kStreamResponseCategories[1], "Sexual Content or Sexual Acts");
  EXPECT_EQ(kStreamResponseCategories[3], "Politically Sensitive Topics");
  EXPECT_EQ(kStreamResponseCategories[6], "Non-violent Illegal Acts");
  EXPECT_EQ(kStreamQueryCategories[8], "Jailbreak");
  EXPECT_EQ(kStreamResponseCategories[0], "Violent");
  EXPECT_EQ(kStreamResponseCategories[7], "Unethical Acts");
  // Same strings as the Gen guard's, in another order.
  for (std::string_view name : kStreamResponseCategories) EXPECT_TRUE(is_response_category(name));
  EXPECT_NE(kStreamResponseCategories[1], kResponseCategories[1]);
}

}  // namespace
}  // namespace safrl::reward

// The risk head's index order (safrl::io::kStreamRiskLevels, checked against a checkpoint's label
// maps) is the order of reward::Safety, which StreamGuard uses to turn an argmax index into a
// verdict: a reordering of either would silently swap Unsafe and Controversial.
TEST(StreamLabels, TheRiskHeadOrderIsTheOrderOfSafety) {
  ASSERT_EQ(safrl::io::kStreamRiskLevels.size(), 3u);
  for (size_t i = 0; i < safrl::io::kStreamRiskLevels.size(); ++i) {
    EXPECT_EQ(safrl::reward::safety_name(static_cast<safrl::reward::Safety>(i)),
              safrl::io::kStreamRiskLevels[i])
        << "index " << i;
  }
}
