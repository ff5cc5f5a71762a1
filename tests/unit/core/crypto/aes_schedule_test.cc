// Aes128Schedule and the one-shot AES functions: FIPS-197 Appendix C.1 (AES-128), and equal to
// OpenSSL's AES (BlockCipher) on random keys and blocks, in every lane count.
#include "core/crypto/aes_schedule.h"

#include <vector>

#include "core/crypto/block_cipher.h"
#include "core/crypto/random.h"
#include "gtest/gtest.h"
#include "tests/unit/hex_testing.h"

namespace desfired::crypto {
namespace {

using ::desfired::test_util::Hex;

// FIPS-197 Appendix C.1.
TEST(Aes128ScheduleTest, Fips197AppendixC1) {
  const Bytes key = Hex("000102030405060708090a0b0c0d0e0f");
  const Bytes plain = Hex("00112233445566778899aabbccddeeff");
  const Bytes cipher = Hex("69c4e0d86a7b0430d8cdb78070b4c55a");
  uint8_t out[16];
  Aes128Schedule aes(key.data());
  aes.Encrypt(plain.data(), out);
  EXPECT_EQ(Bytes(out, out + 16), cipher);
  aes.Decrypt(cipher.data(), out);
  EXPECT_EQ(Bytes(out, out + 16), plain);
  Aes128EncryptOnce(key.data(), plain.data(), out);
  EXPECT_EQ(Bytes(out, out + 16), cipher);
}

// Every path against OpenSSL on random keys and blocks; EncryptEach over 0..9 pairs covers the
// four-lane groups and the single-lane tail.
TEST(Aes128ScheduleTest, MatchesOpenSslOnRandomKeys) {
  for (size_t n = 0; n < 10; ++n) {
    std::vector<Bytes> keys(n), ins(n);
    std::vector<const uint8_t*> key_ptrs(n), in_ptrs(n);
    for (size_t i = 0; i < n; ++i) {
      keys[i].resize(16);
      ins[i].resize(16);
      ASSERT_TRUE(RandomBytes(MutableByteSpan(keys[i])).ok());
      ASSERT_TRUE(RandomBytes(MutableByteSpan(ins[i])).ok());
      key_ptrs[i] = keys[i].data();
      in_ptrs[i] = ins[i].data();
    }
    std::vector<uint8_t> each(16 * n + 1);
    Aes128EncryptEach(key_ptrs.data(), in_ptrs.data(), each.data(), n);
    for (size_t i = 0; i < n; ++i) {
      absl::StatusOr<BlockCipher> ref = BlockCipher::Create(KeyType::kAes128, keys[i]);
      ASSERT_TRUE(ref.ok());
      uint8_t want[16], got[16], back[16];
      ref->EncryptBlock(ins[i].data(), want);
      EXPECT_EQ(Bytes(each.begin() + 16 * i, each.begin() + 16 * (i + 1)), Bytes(want, want + 16));
      Aes128Schedule aes(keys[i].data());
      aes.Encrypt(ins[i].data(), got);
      EXPECT_EQ(Bytes(got, got + 16), Bytes(want, want + 16));
      aes.Decrypt(want, back);
      EXPECT_EQ(Bytes(back, back + 16), ins[i]);
      Bytes aliased = keys[i];  // out aliasing the key, as LRP's chains use it
      Aes128EncryptOnce(aliased.data(), ins[i].data(), aliased.data());
      EXPECT_EQ(aliased, Bytes(want, want + 16));
    }
  }
}

// EncryptChains2 against two single encryptions, over 0..40 chains (the sixteen-lane VAES groups,
// the eight-lane groups and the tail), with `out` aliasing the second blocks as Aes128Cmac uses it.
TEST(Aes128ScheduleTest, Chains2EqualTwoEncryptions) {
  uint8_t key[16];
  ASSERT_TRUE(RandomBytes(MutableByteSpan(key, 16)).ok());
  const Aes128Schedule aes(key);
  for (size_t n = 0; n <= 40; ++n) {
    std::vector<uint8_t> firsts(16 * n + 1), seconds(16 * n + 1);
    ASSERT_TRUE(RandomBytes(MutableByteSpan(firsts)).ok());
    ASSERT_TRUE(RandomBytes(MutableByteSpan(seconds)).ok());
    std::vector<const uint8_t*> ptrs(n);
    for (size_t i = 0; i < n; ++i) ptrs[i] = firsts.data() + 16 * i;
    std::vector<uint8_t> want(16 * n);
    for (size_t i = 0; i < n; ++i) {
      uint8_t x[16];
      aes.Encrypt(ptrs[i], x);
      for (size_t j = 0; j < 16; ++j) x[j] ^= seconds[16 * i + j];
      aes.Encrypt(x, want.data() + 16 * i);
    }
    const uint8_t guard = seconds[16 * n];
    aes.EncryptChains2(ptrs.data(), seconds.data(), seconds.data(), n);
    EXPECT_EQ(Bytes(seconds.begin(), seconds.begin() + 16 * n), Bytes(want.begin(), want.end()))
        << n << " chains";
    EXPECT_EQ(seconds[16 * n], guard) << "wrote past the chains";
  }
}

}  // namespace
}  // namespace desfired::crypto
