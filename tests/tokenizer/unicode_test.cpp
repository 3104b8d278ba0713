// Where utf8proc 2.8's tables (Unicode 15.0) give other answers than Hugging Face tokenizers, whose
// regex engines have Unicode 16.0 and whose NFC has Unicode 9.0 (unicode_tables.h). Expected
// values are tokenizers 0.23.2's.
#include <cstdint>
#include <string>

#include <gtest/gtest.h>

#include "tokenizer/unicode.h"
#include "tokenizer/unicode_tables.h"

namespace safrl::tokenizer::unicode {
namespace {

// As an int, so that a failure prints a number.
int classes(char32_t cp) {
  return flags(cp) & (kLetter | kNumber | kWhiteSpace | kWord);
}

TEST(UnicodeClasses, FollowUnicode16WhereUtf8procIsOlder) {
  EXPECT_EQ(classes(0x13968), kLetter | kWord);  // EGYPTIAN HIEROGLYPH-13968, Lo, 16.0
  EXPECT_EQ(classes(0xA7CB), kLetter | kWord);   // LATIN CAPITAL LETTER RAMS HORN, Lu, 16.0
  EXPECT_EQ(classes(0x2EBF0), kLetter | kWord);  // CJK UNIFIED IDEOGRAPH-2EBF0, Lo, 15.1
  EXPECT_EQ(classes(0x16D70), kNumber | kWord);  // KIRAT RAI DIGIT ZERO, Nd, 16.0
  EXPECT_EQ(classes(0x0897), kWord);             // ARABIC PEPET, Mn, 16.0
  EXPECT_EQ(classes(0x1171E), kWord);  // AHOM CONSONANT SIGN MEDIAL RA, Mn in 15.0, Mc in 16.0
  // OUTLINED LATIN CAPITAL LETTER A, So, 16.0: not Alphabetic, so not \w either.
  EXPECT_EQ(classes(0x1CCD6), 0);
  EXPECT_EQ(classes(0x1CCFA), 0);  // unassigned in 16.0
  // New letters stay NFC-stable: Hugging Face's NFC (Unicode 9.0) does not know them.
  EXPECT_NE(flags(0x105D2) & kNfcStable, 0);
}

std::string nfc_of(const std::string& text) {
  std::string buffer;
  return std::string(nfc(text, buffer));
}

// U+09FE BENGALI SANDHI MARK (10.0) and U+0898 ARABIC SMALL HIGH WORD AL-JUZ (14.0) have combining
// class 230 since, but to Unicode 9.0 they are unassigned starters: nothing is reordered past
// them or composed across them. U+11935 U+11930 (13.0) do not compose to U+11938 DIVES AKURU VOWEL
// SIGN O, nor Unicode 16.0's U+105D2 U+0307 to U+105C9 TODHRI LETTER EI.
TEST(Nfc, FollowsHuggingFacesUnicode9Tables) {
  EXPECT_EQ(nfc_of("a\u09FE\u0323"), "a\u09FE\u0323");
  EXPECT_EQ(nfc_of("e\u0301\u09FE\u0323"), "\u00E9\u09FE\u0323");
  EXPECT_EQ(nfc_of("a\u0323\u0301\u0898"), "\u1EA1\u0301\u0898");
  EXPECT_EQ(nfc_of("\U00011935\U00011930"), "\U00011935\U00011930");
  EXPECT_EQ(nfc_of("\U00011938"), "\U00011938");
  EXPECT_EQ(nfc_of("\U000105D2\u0307"), "\U000105D2\u0307");
}

// Sorted without overlaps, as the binary search needs; sizes as make_unicode_tables.py reports.
template <typename Range>
void expect_sorted_ranges(const Range* ranges, size_t count, size_t ranges_want,
                          size_t code_points_want) {
  ASSERT_EQ(count, ranges_want);
  size_t code_points = 0;
  for (size_t i = 0; i < count; ++i) {
    ASSERT_LE(ranges[i].first, ranges[i].last) << i;
    if (i > 0) {
      ASSERT_LT(ranges[i - 1].last, ranges[i].first) << i;
    }
    code_points += ranges[i].last - ranges[i].first + 1;
  }
  EXPECT_EQ(code_points, code_points_want);
}

TEST(UnicodeTables, AreSortedWithoutOverlaps) {
  expect_sorted_ranges(kUnicode16Categories, kUnicode16CategoryCount, 84, 5813);
  expect_sorted_ranges(kNfcUnassignedInUnicode9, kNfcUnassignedInUnicode9Count, 59, 159);
}

}  // namespace
}  // namespace safrl::tokenizer::unicode
