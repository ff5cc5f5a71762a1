// ECDSA on P-224 (core/crypto/ecdsa_p224.h): key parsing, signing and verifying round trips,
// and the rejections. The published NXP signatures are tests of core/desfire/originality.h.
#include "core/crypto/ecdsa_p224.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

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

// P224VerifyAny gives the index of the first key that Verify accepts, on random key sets,
// genuine and forged signatures (r or s altered, r or s zero or the order's size).
TEST(EcdsaP224Test, VerifyAnyEqualsVerifyKeyByKey) {
  std::vector<P224PublicKey> keys;
  std::vector<Bytes> privates;
  for (int i = 0; i < 3; ++i) {
    auto pair = GenerateP224KeyPair();
    ASSERT_TRUE(pair.ok());
    auto key = P224PublicKey::FromUncompressed(pair->public_key);
    ASSERT_TRUE(key.ok());
    keys.push_back(*std::move(key));
    privates.push_back(pair->private_key);
  }
  const std::vector<const P224PublicKey*> all = {&keys[0], &keys[1], &keys[2]};
  const Bytes digest = {0x04, 0x51, 0x8D, 0xFA, 0xA9, 0x61, 0x80};
  for (int signer = 0; signer < 3; ++signer) {
    auto sig = P224Sign(privates[signer], digest);
    ASSERT_TRUE(sig.ok());
    std::vector<Bytes> cases = {*sig};
    for (size_t byte : {size_t{0}, size_t{27}, size_t{28}, size_t{55}}) {
      cases.push_back(*sig);
      cases.back()[byte] ^= 0x80;
    }
    Bytes zero_r = *sig;
    std::fill(zero_r.begin(), zero_r.begin() + 28, 0);
    cases.push_back(zero_r);
    Bytes big_s = *sig;
    std::fill(big_s.begin() + 28, big_s.end(), 0xFF);
    cases.push_back(big_s);
    cases.push_back(Bytes(sig->begin(), sig->end() - 1));  // 55 bytes
    for (const Bytes& c : cases) {
      int want = -1;
      for (int k = 0; k < 3 && want < 0; ++k) {
        if (keys[k].Verify(digest, c)) want = k;
      }
      EXPECT_EQ(P224VerifyAny(all, digest, c), want);
    }
    EXPECT_EQ(P224VerifyAny(all, digest, *sig), signer);
  }
  EXPECT_EQ(P224VerifyAny({}, digest, Bytes(56, 1)), -1);
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
