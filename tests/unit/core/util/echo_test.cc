// Echo (core/util/echo.h): short strings unchanged, long ones cut at a character boundary with
// their length.
#include "core/util/echo.h"

#include <string>

#include "gtest/gtest.h"

namespace desfired {
namespace {

TEST(EchoTest, ShortStringsAreUnchanged) {
  EXPECT_EQ(Echo(""), "");
  EXPECT_EQ(Echo("Test PCD 00 00"), "Test PCD 00 00");
  EXPECT_EQ(Echo(std::string(kMaxEchoBytes, 'r')), std::string(kMaxEchoBytes, 'r'));
}

TEST(EchoTest, LongStringsAreCutAndSayTheirLength) {
  const std::string mib(1 << 20, 'r');
  const std::string echoed = Echo(mib);
  EXPECT_EQ(echoed, std::string(kMaxEchoBytes, 'r') + "...(1048576 bytes)");
  EXPECT_LE(echoed.size(), kMaxEchoBytes + 24);
  EXPECT_EQ(Echo("abcdef", 3), "abc...(6 bytes)");
}

TEST(EchoTest, NeverSplitsACharacter) {
  // "é" is C3 A9: a cut after 3 bytes of "aéé" would end inside the second one.
  EXPECT_EQ(Echo("a\xC3\xA9\xC3\xA9", 4), "a\xC3\xA9...(5 bytes)");
  EXPECT_EQ(Echo("a\xC3\xA9\xC3\xA9", 3), "a\xC3\xA9...(5 bytes)");
  EXPECT_EQ(Echo("a\xC3\xA9\xC3\xA9", 2), "a...(5 bytes)");
}

}  // namespace
}  // namespace desfired
