#include "common/text.h"

#include <string>

#include "gtest/gtest.h"

namespace trove {
namespace {

TEST(DecodeUtf8Test, DecodesEachLength) {
  char32_t cp = 0;
  EXPECT_EQ(DecodeUtf8("a", 0, &cp), 1u);
  EXPECT_EQ(cp, U'a');
  EXPECT_EQ(DecodeUtf8("\xc3\xa9", 0, &cp), 2u);
  EXPECT_EQ(cp, U'\u00e9');
  EXPECT_EQ(DecodeUtf8("\xe2\x80\xae", 0, &cp), 3u);
  EXPECT_EQ(cp, U'\u202e');
  EXPECT_EQ(DecodeUtf8("\xf0\x9f\x8e\xb5", 0, &cp), 4u);
  EXPECT_EQ(cp, U'\U0001f3b5');
}

TEST(DecodeUtf8Test, RefusesIllFormed) {
  char32_t cp = 0;
  EXPECT_EQ(DecodeUtf8("\xc0\xaf", 0, &cp), 0u);          // overlong '/'
  EXPECT_EQ(DecodeUtf8("\xed\xa0\x80", 0, &cp), 0u);      // surrogate
  EXPECT_EQ(DecodeUtf8("\xf4\x90\x80\x80", 0, &cp), 0u);  // above U+10FFFF
  EXPECT_EQ(DecodeUtf8("\xe2\x80", 0, &cp), 0u);          // truncated
  EXPECT_EQ(DecodeUtf8("\x80", 0, &cp), 0u);              // lone continuation
}

TEST(IsUnsafeCodePointTest, ControlsAndBidi) {
  for (char32_t cp : {U'\0', U'\n', U'\x1b', U'\x7f', U'\u0085', U'\u009b',
                      U'\u061c', U'\u200e', U'\u200f', U'\u202a', U'\u202e',
                      U'\u2066', U'\u2069', U'\u2028', U'\u2029'}) {
    EXPECT_TRUE(IsUnsafeCodePoint(cp)) << static_cast<uint32_t>(cp);
  }
  for (char32_t cp : {U' ', U'a', U'~', U'\u00a0', U'\u00e9', U'\u200d',
                      U'\u2070', U'\u4e2d', U'\U0001f3b5'}) {
    EXPECT_FALSE(IsUnsafeCodePoint(cp)) << static_cast<uint32_t>(cp);
  }
}

TEST(FindUnsafeTextTest, FindsFirstOffset) {
  EXPECT_EQ(FindUnsafeText("AC-DC - T.N.T..mp3"), absl::string_view::npos);
  EXPECT_EQ(FindUnsafeText("caf\xc3\xa9 \xe4\xb8\xad"), absl::string_view::npos);
  EXPECT_EQ(FindUnsafeText("ab\ncd"), 2u);
  EXPECT_EQ(FindUnsafeText("x\xc2\x9b" "31m"), 1u);        // U+009B
  EXPECT_EQ(FindUnsafeText("evil\xe2\x80\xaegpj.exe"), 4u);  // U+202E
  EXPECT_EQ(FindUnsafeText("ok\xff"), 2u);                   // not UTF-8
}

TEST(EscapeTextTest, KeepsOrdinaryText) {
  EXPECT_EQ(EscapeText("Queen - Bohemian Rhapsody.mp3"),
            "Queen - Bohemian Rhapsody.mp3");
  EXPECT_EQ(EscapeText("caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87"),
            "caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87");
}

TEST(EscapeTextTest, EscapesEveryUnsafeCharacter) {
  EXPECT_EQ(EscapeText("a\nb\rc\td"), "a\\nb\\rc\\td");
  EXPECT_EQ(EscapeText(std::string("a\0b", 3)), "a\\x00b");
  EXPECT_EQ(EscapeText("\x1b[2J"), "\\x1b[2J");
  EXPECT_EQ(EscapeText("\x7f"), "\\x7f");
  EXPECT_EQ(EscapeText("\xc2\x9b" "2J"), "\\u009b2J");
  EXPECT_EQ(EscapeText("x\xe2\x80\xaey"), "x\\u202ey");
  EXPECT_EQ(EscapeText("\xe2\x81\xa6\xe2\x81\xa9"), "\\u2066\\u2069");
  EXPECT_EQ(EscapeText("\xe2\x80\x8e\xe2\x80\x8f"), "\\u200e\\u200f");
  EXPECT_EQ(EscapeText("\xff\xfe"), "\\xff\\xfe");
  EXPECT_EQ(EscapeText("back\\slash"), "back\\\\slash");
}

TEST(EscapeTextTest, ResultIsAlwaysSafe) {
  std::string all;
  for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  all += "\xe2\x80\xae\xc2\x85\xe2\x80\xa8";
  std::string escaped = EscapeText(all);
  EXPECT_EQ(FindUnsafeText(escaped), absl::string_view::npos) << escaped;
  EXPECT_EQ(escaped.find('\n'), std::string::npos);
}

TEST(AppendJsonEscapedTest, EscapesForJson) {
  std::string out;
  AppendJsonEscaped("say \"hi\"\\\n\x01\xc2\x9b\xe2\x80\xae\xff", &out);
  EXPECT_EQ(out, "say \\\"hi\\\"\\\\\\n\\u0001\\u009b\\u202e\\ufffd");
}

}  // namespace
}  // namespace trove
