// UTF-8 validation and repair: one U+FFFD per maximal invalid subpart (Unicode 3.9), the practice
// of Rust's from_utf8_lossy and Python's errors='replace'.
#include <string>

#include <gtest/gtest.h>

#include "util/utf8.h"

namespace safrl::util::utf8 {
namespace {

const std::string kFffd = "\uFFFD";

TEST(Utf8, ValidTextIsUnchanged) {
  for (const std::string& text :
       {std::string(""), std::string("plain ascii text, long enough for the 8-byte loop"),
        std::string("\u00E9\u4E2D\U0001F600\U0010FFFF\uFFFD"), std::string("a\0b", 3)}) {
    EXPECT_TRUE(is_valid(text));
    EXPECT_EQ(repair(text), text);
  }
}

TEST(Utf8, EachMaximalInvalidSubpartBecomesOneReplacement) {
  // Table 3-8 of the Unicode standard: 61 F1 80 80 E1 80 C2 62 80 63 80 BF 64.
  EXPECT_EQ(repair("\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64"),
            "a" + kFffd + kFffd + kFffd + "b" + kFffd + "c" + kFffd + kFffd + "d");
  EXPECT_EQ(repair("\xE4\xBD"), kFffd);                      // truncated 3-byte sequence
  EXPECT_EQ(repair("\xED\xA0\x80"), kFffd + kFffd + kFffd);  // a surrogate
  EXPECT_EQ(repair("\xC0\xAF"), kFffd + kFffd);              // overlong
  EXPECT_EQ(repair("\xE0\x80\x80"), kFffd + kFffd + kFffd);  // overlong
  EXPECT_EQ(repair("\xF4\x90\x80\x80"), kFffd + kFffd + kFffd + kFffd);  // above U+10FFFF
  EXPECT_EQ(repair("\xF0\x9F\x98"), kFffd);                              // truncated emoji
  EXPECT_EQ(repair("\xFF\xFE"), kFffd + kFffd);
  EXPECT_EQ(repair("ok\xF0\x9F\x98\x80\x80"), "ok\U0001F600" + kFffd);
  for (const char* bad : {"\x80", "\xC2", "\xE4\xBD", "\xF5\x80", "\xED\xA0\x80"}) {
    EXPECT_FALSE(is_valid(bad)) << bad;
    EXPECT_TRUE(is_valid(repair(bad)));
  }
}

TEST(Utf8, DecodeAndAppendRoundTrip) {
  for (const char32_t cp :
       {U'\0', U'A', U'\u00E9', U'\u4E2D', U'\uFFFD', U'\U0001F600', U'\U0010FFFF'}) {
    std::string text;
    append(text, cp);
    size_t pos = 0;
    EXPECT_EQ(decode(text, pos), cp);
    EXPECT_EQ(pos, text.size());
  }
}

}  // namespace
}  // namespace safrl::util::utf8
