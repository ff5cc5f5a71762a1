// Session keys from RndA and RndB, against the published vectors
// (shared/vectors/desfire_vectors.md (beside the repository) §1 and §3, copied here with their
// sources).
#include "core/desfire/session_keys.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace desfired::desfire {
namespace {

using crypto::KeyType;
using testing::H;

std::string Ev1Key(KeyType type, const char* rnd_a, const char* rnd_b) {
  absl::StatusOr<Bytes> k = DeriveEv1SessionKey(type, H(rnd_a), H(rnd_b));
  EXPECT_TRUE(k.ok()) << k.status();
  return k.ok() ? HexEncode(*k) : "";
}

// Elmü's traces print DES-family session keys with the parity LSB of each byte cleared.
std::string ClearParity(absl::string_view hex_key) {
  Bytes k = H(hex_key);
  for (uint8_t& b : k) b &= 0xFE;
  return HexEncode(k);
}

// §1.1 TalkToYourDESFireCard docs/auth1d_d40.html (legacy 0A, DES).
TEST(Ev1SessionKeyTest, LegacyDes_1_1) {
  EXPECT_EQ(Ev1Key(KeyType::kDes, "45cc39928713e1c0", "c4a3468fb0d87e74"), "45cc3992c4a3468f");
}

// §1.2 skjolber DESEncryptionTest testDES1 (RndB derived there).
TEST(Ev1SessionKeyTest, LegacyDes_1_2) {
  EXPECT_EQ(Ev1Key(KeyType::kDes, "71cb903a2cae7c9c", "afa2c147cfae67a4"), "71cb903aafa2c147");
}

// §1.4 Elmü ISO 1A DES (patsys/desfire-python test.py Test_DES).
TEST(Ev1SessionKeyTest, IsoDes_1_4) {
  const std::string k = Ev1Key(KeyType::kDes, "849B36C5F8BF4A09", "4FD1B75942A8B8E1");
  EXPECT_EQ(ClearParity(k), "849a36c44ed0b658");
  EXPECT_EQ(k, "849b36c54fd1b759");  // raw, as §2.2 uses it
}

// §1.5 proxmark3 issue #2961 (constant RndA 01..08).
TEST(Ev1SessionKeyTest, IsoDes_1_5) {
  EXPECT_EQ(Ev1Key(KeyType::kDes, "0102030405060708", "99d2f4ff53ef2d54"), "0102030499d2f4ff");
}

// §1.6 Elmü ISO 1A 2K3DES (skelsec/pydesfire tests.py AuthTest_2DES).
TEST(Ev1SessionKeyTest, Iso2k3des_1_6) {
  EXPECT_EQ(ClearParity(Ev1Key(KeyType::k2Tdea, "530E3D90F7A201C4", "BCD8299747332DAF")),
            "520e3c90bcd82896f6a200c446322cae");
}

// §1.7 Elmü ISO 1A 3K3DES (AuthTest_3DES).
TEST(Ev1SessionKeyTest, Iso3k3des_1_7) {
  EXPECT_EQ(ClearParity(Ev1Key(KeyType::k3Tdea, "36C5F8BF4A09AC239E8DA0C73251D4AB",
                               "316E6D76A449F925BA304FB2653656A2")),
            "36c4f8be306e6c76ac229e8cf824ba303250d4aa643656a2");
}

// §1.8 and §1.9 Elmü AES (AuthTest_AES, AuthTest_AES2).
TEST(Ev1SessionKeyTest, Aes_1_8_And_1_9) {
  EXPECT_EQ(Ev1Key(KeyType::kAes128, "F44B26F5686F3A391CD38EBD10772281",
                   "C05DDD714FD788A6B7B754F3C4D066E8"),
            "f44b26f5c05ddd7110772281c4d066e8");
  EXPECT_EQ(Ev1Key(KeyType::kAes128, "40E7D27174CBA675E8EFBAB99C530E3D",
                   "626FFBD45CAF334ACCA45599304F5B17"),
            "40e7d271626ffbd49c530e3d304f5b17");
}

TEST(Ev1SessionKeyTest, RejectsWrongRandomLengths) {
  EXPECT_EQ(DeriveEv1SessionKey(KeyType::kAes128, Bytes(8), Bytes(16)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DeriveEv1SessionKey(KeyType::kDes, Bytes(8), Bytes(7)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

void ExpectEv2(const char* key, const char* rnd_a, const char* rnd_b, const char* enc,
               const char* mac) {
  absl::StatusOr<Ev2SessionKeys> k = DeriveEv2SessionKeys(H(key), H(rnd_a), H(rnd_b));
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_EQ(HexEncode(k->enc), HexEncode(H(enc)));
  EXPECT_EQ(HexEncode(k->mac), HexEncode(H(mac)));
}

// §3.1 AN12196 §6.6 via icedevml/nfc-ev2-crypto test_ev2.py test_auth1.
TEST(Ev2SessionKeyTest, An12196_6_6) {
  ExpectEv2("00000000000000000000000000000000", "13C5DB8A5930439FC3DEF9A4C675360F",
            "B9E2FC789B64BF237CCCAA20EC7E6E48", "1309C877509E5A215007FF0ED19CA564",
            "4C6626F5E72EA694202139295C7A7FC7");
}

// §3.2 AN12196 §6.10 via test_auth2.
TEST(Ev2SessionKeyTest, An12196_6_10) {
  ExpectEv2("00000000000000000000000000000000", "B98F4C50CF1C2E084FD150E33992B048",
            "91517975190DCEA6104948EFA3085C1B", "7A93D6571E4B180FCA6AC90C9A7488D4",
            "FC4AF159B62E549B5812394CAB1918CC");
}

// §3.3 AN12343 pp. 33-35 and the proxmark3 non-zero-key row (desfiretest.c
// TestEV2SessionKeys).
TEST(Ev2SessionKeyTest, An12343AndNonZeroKey) {
  ExpectEv2("00000000000000000000000000000000", "B04D0787C93EE0CC8CACC8E86F16C6FE",
            "FA659AD0DCA738DD65DC7DC38612AD81", "63DC07286289A7A6C0334CA31C314A04",
            "774F26743ECE6AF5033B6AE8522946F6");
  ExpectEv2("00112233445566778899AABBCCDDEEFF", "0123456789ABCDEF0123456789ABCDEF",
            "FEDCBA9876543210FEDCBA9876543210", "195428119C8528D59580A73C7C96C6A3",
            "0AF00F6E39F904C4A6388C812D53DC94");
}

TEST(RotateLeftTest, MovesTheFirstByteToTheEnd) {
  EXPECT_EQ(HexEncode(RotateLeft(H("c4a3468fb0d87e74"))), "a3468fb0d87e74c4");
  EXPECT_TRUE(RotateLeft({}).empty());
}

}  // namespace
}  // namespace desfired::desfire
