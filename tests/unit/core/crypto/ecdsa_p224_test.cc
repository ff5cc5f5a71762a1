// ECDSA on P-224 (core/crypto/ecdsa_p224.h): key parsing, signing and verifying round trips,
// and the rejections. The published NXP signatures are tests of core/desfire/originality.h.
#include "core/crypto/ecdsa_p224.h"

#include <gtest/gtest.h>

#include "core/util/bytes.h"

namespace desfired::crypto {
namespace {

TEST(EcdsaP224Test, SignVerifyRoundTrip) {
  auto pair = GenerateP224KeyPair();
  ASSERT_TRUE(pair.ok()) << pair.status();
  ASSERT_EQ(pair->private_key.size(), 28u);
  ASSERT_EQ(pair->public_key.size(), 57u);
  auto again = P224PublicFromPrivate(pair->private_key);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, pair->public_key);
  auto key = P224PublicKey::FromUncompressed(pair->public_key);
  ASSERT_TRUE(key.ok()) << key.status();
  const Bytes digest = *HexDecode("00000000000000000000000000000000000000000004518DFAA96180");
  auto sig = P224Sign(pair->private_key, digest);
  ASSERT_TRUE(sig.ok()) << sig.status();
  ASSERT_EQ(sig->size(), 56u);
  EXPECT_TRUE(key->Verify(digest, *sig));
  // A short digest is the same integer as its left-padded form.
  EXPECT_TRUE(key->Verify(ByteSpan(digest).subspan(21), *sig));
  Bytes flipped = *sig;
  flipped[55] ^= 1;
  EXPECT_FALSE(key->Verify(digest, flipped));
  Bytes other = digest;
  other[27] ^= 1;
  EXPECT_FALSE(key->Verify(other, *sig));
  EXPECT_FALSE(key->Verify(digest, ByteSpan(*sig).subspan(1)));
  EXPECT_FALSE(key->Verify(digest, Bytes(56, 0)));     // r = s = 0
  EXPECT_FALSE(key->Verify(digest, Bytes(56, 0xFF)));  // beyond the order
  EXPECT_FALSE(key->Verify(Bytes(29, 0), *sig));       // digest too long
}

TEST(EcdsaP224Test, Rejections) {
  EXPECT_FALSE(P224PublicKey::FromUncompressed(Bytes(56, 4)).ok());
  Bytes not_on_curve(57, 0x11);
  not_on_curve[0] = 0x04;
  EXPECT_EQ(P224PublicKey::FromUncompressed(not_on_curve).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(P224PublicFromPrivate(Bytes(28, 0)).ok());     // zero
  EXPECT_FALSE(P224PublicFromPrivate(Bytes(28, 0xFF)).ok());  // beyond the order
  EXPECT_FALSE(P224PublicFromPrivate(Bytes(27, 1)).ok());
  EXPECT_FALSE(P224Sign(Bytes(28, 1), Bytes(29, 0)).ok());
}

}  // namespace
}  // namespace desfired::crypto
