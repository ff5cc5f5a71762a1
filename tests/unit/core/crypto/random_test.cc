#include "core/crypto/random.h"

#include "core/util/bytes.h"
#include "gtest/gtest.h"

namespace desfired::crypto {
namespace {

TEST(RandomTest, TwoDrawsDiffer) {
  uint8_t a[16] = {};
  uint8_t b[16] = {};
  ASSERT_TRUE(RandomBytes(absl::MakeSpan(a)).ok());
  ASSERT_TRUE(RandomBytes(absl::MakeSpan(b)).ok());
  // A collision of two 128-bit draws (or an all-zero draw) means the generator is broken.
  EXPECT_NE(HexEncode(a), HexEncode(b));
  EXPECT_NE(HexEncode(a), HexEncode(Bytes(16, 0)));
}

TEST(RandomTest, EmptyAndLargeRequests) {
  EXPECT_TRUE(RandomBytes(MutableByteSpan()).ok());
  Bytes big(4096, 0);
  ASSERT_TRUE(RandomBytes(absl::MakeSpan(big)).ok());
  size_t zeros = 0;
  for (uint8_t byte : big) zeros += byte == 0;
  EXPECT_LT(zeros, 64u);  // expected ~16
}

TEST(RandomTest, ConstantTimeEquals) {
  const Bytes a = {1, 2, 3, 4, 5, 6, 7, 8};
  Bytes b = a;
  EXPECT_TRUE(ConstantTimeEquals(a, b));
  b[7] ^= 0x01;
  EXPECT_FALSE(ConstantTimeEquals(a, b));
  b = a;
  b[0] ^= 0x80;
  EXPECT_FALSE(ConstantTimeEquals(a, b));
  EXPECT_FALSE(ConstantTimeEquals(a, ByteSpan(a).subspan(0, 7)));  // different length
  EXPECT_FALSE(ConstantTimeEquals(ByteSpan(), a));
  EXPECT_TRUE(ConstantTimeEquals(ByteSpan(), ByteSpan()));
}

TEST(RandomTest, SecureWipeZeroes) {
  Bytes secret = {0xDE, 0xAD, 0xBE, 0xEF, 0x01, 0x02, 0x03};
  SecureWipe(absl::MakeSpan(secret));
  EXPECT_EQ(secret, Bytes(7, 0x00));
  SecureWipe(MutableByteSpan());  // no-op
  uint8_t part[4] = {1, 2, 3, 4};
  SecureWipe(absl::MakeSpan(part).subspan(1, 2));
  EXPECT_EQ(part[0], 1);
  EXPECT_EQ(part[1], 0);
  EXPECT_EQ(part[2], 0);
  EXPECT_EQ(part[3], 4);
}

}  // namespace
}  // namespace desfired::crypto
