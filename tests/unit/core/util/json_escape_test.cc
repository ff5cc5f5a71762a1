// The JSON string escaper (core/util/json_escape.h): the escapes JSON requires, the choices
// JsonEscapeOptions makes, UTF-8 kept or replaced byte by byte.
#include "core/util/json_escape.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace desfired {
namespace {

std::string Escaped(absl::string_view s, const JsonEscapeOptions& options = {}) {
  std::string out;
  AppendJsonEscaped(out, s, options);
  return out;
}

TEST(JsonEscapingTest, QuotesAndBackslashes) {
  EXPECT_EQ(Escaped(R"(a"b\c/d)"), R"(a\"b\\c/d)");  // '/' needs no escape
  EXPECT_EQ(JsonQuote(R"(say "hi")"), R"("say \"hi\"")");
  EXPECT_EQ(JsonQuote(""), R"("")");
}

TEST(JsonEscapingTest, ControlCharacters) {
  EXPECT_EQ(Escaped("\b\f\n\r\t"), R"(\b\f\n\r\t)");
  EXPECT_EQ(Escaped(std::string("\x00\x01\x0b\x1b\x1f", 5)), R"(\u0000\u0001\u000b\u001b\u001f)");
  EXPECT_EQ(Escaped(" ~"), " ~");  // the first and last printable characters
}

TEST(JsonEscapingTest, DelIsKeptUnlessAsked) {
  EXPECT_EQ(Escaped("a\x7f"), "a\x7f");
  EXPECT_EQ(Escaped("a\x7f", {.escape_del = true}), R"(a\u007f)");
}

TEST(JsonEscapingTest, ShortEscapesChosen) {
  const std::string controls = "\b\f\n\r\t";
  EXPECT_EQ(Escaped(controls, {.short_escapes = "\n\t"}), R"(\u0008\u000c\n\u000d\t)");
  EXPECT_EQ(Escaped(controls, {.short_escapes = ""}), R"(\u0008\u000c\u000a\u000d\u0009)");
  // Only control characters have short escapes: other characters listed change nothing.
  EXPECT_EQ(Escaped("\"ab", {.short_escapes = "\"a"}), R"(\"ab)");
}

TEST(JsonEscapingTest, WellFormedUtf8PassesThrough) {
  const std::string text =
      "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xef\xbf\xbf \xf4\x8f\xbf\xbf";
  EXPECT_EQ(Escaped(text), text);
  EXPECT_EQ(Escaped(text, {.replace_invalid_utf8 = false}), text);
}

TEST(JsonEscapingTest, MalformedUtf8BecomesReplacementCharacters) {
  EXPECT_EQ(Escaped("\xff"), R"(\ufffd)");
  EXPECT_EQ(Escaped("\xf5\x80\x80\x80"), R"(\ufffd\ufffd\ufffd\ufffd)");  // lead above F4
  EXPECT_EQ(Escaped("a\x80z"), R"(a\ufffdz)");                            // lone continuation
  EXPECT_EQ(Escaped("\xc0\xaf"), R"(\ufffd\ufffd)");                      // overlong '/'
  EXPECT_EQ(Escaped("\xc1\xbf"), R"(\ufffd\ufffd)");                      // overlong
  EXPECT_EQ(Escaped("\xe0\x80\xaf"), R"(\ufffd\ufffd\ufffd)");            // overlong, 3 bytes
  EXPECT_EQ(Escaped("\xf0\x8f\xbf\xbf"), R"(\ufffd\ufffd\ufffd\ufffd)");  // overlong, 4 bytes
  EXPECT_EQ(Escaped("\xed\xa0\x80"), R"(\ufffd\ufffd\ufffd)");            // UTF-16 surrogate
  EXPECT_EQ(Escaped("\xf4\x90\x80\x80"), R"(\ufffd\ufffd\ufffd\ufffd)");  // above U+10FFFF
  EXPECT_EQ(Escaped("\xe2\x82"), R"(\ufffd\ufffd)");                      // cut at the end
  EXPECT_EQ(Escaped("\xe2\x82z"), R"(\ufffd\ufffdz)");                    // cut in the middle
  // A malformed sequence costs only its own bytes: what follows is read afresh.
  EXPECT_EQ(Escaped("\xe2\xc3\xa9"), "\\ufffd\xc3\xa9");
}

TEST(JsonEscapingTest, MalformedUtf8KeptWhenAsked) {
  const std::string bytes = "\xff\x80\xc0\xaf\xed\xa0\x80\xe2\x82";
  EXPECT_EQ(Escaped(bytes, {.replace_invalid_utf8 = false}), bytes);
  // Kept bytes above 0x7F never hide an ASCII byte that needs escaping.
  EXPECT_EQ(Escaped("\xe2\"\n", {.replace_invalid_utf8 = false}), "\xe2\\\"\\n");
}

// Every single byte, with each option: escaped as exactly one of the rules above.
TEST(JsonEscapingTest, EveryByte) {
  for (int b = 0; b < 256; ++b) {
    SCOPED_TRACE(b);
    const std::string s(1, static_cast<char>(b));
    const std::string got = Escaped(s);
    if (b == '"' || b == '\\') {
      EXPECT_EQ(got, absl::StrCat("\\", s));
    } else if (b < 0x20) {
      EXPECT_TRUE(got.size() == 2 || got.size() == 6) << got;
      EXPECT_EQ(got[0], '\\');
    } else if (b < 0x80) {
      EXPECT_EQ(got, s);
    } else {
      EXPECT_EQ(got, "\\ufffd");  // a lone byte above 0x7F is never well-formed
      EXPECT_EQ(Escaped(s, {.replace_invalid_utf8 = false}), s);
    }
  }
}

TEST(JsonEscapingTest, AppendsToWhatIsThere) {
  std::string out = "{\"msg\":";
  AppendJsonString(out, "a\nb");
  out += "}";
  EXPECT_EQ(out, R"({"msg":"a\nb"})");
}

}  // namespace
}  // namespace desfired
