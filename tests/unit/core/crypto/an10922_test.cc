// NXP AN10922 key diversification.
// Vectors are copied from shared/vectors/desfire_vectors.md (beside the repository) (§5) with their
// sources.
#include "core/crypto/an10922.h"

#include <string>
#include <string_view>

#include "absl/strings/string_view.h"
#include "core/util/bytes.h"
#include "gtest/gtest.h"
#include "tests/unit/hex_testing.h"

namespace desfired::crypto {
namespace {

using ::desfired::test_util::Hex;
using ::desfired::test_util::Norm;

std::string Diversify(KeyType type, absl::string_view master, absl::string_view input) {
  absl::StatusOr<Bytes> key = DiversifyKey(type, Hex(master), Hex(input));
  EXPECT_TRUE(key.ok()) << key.status();
  if (!key.ok()) return "";
  EXPECT_EQ(key->size(), KeyLength(type));
  return HexEncode(*key);
}

// libfreefare stamps the key version into the DES LSBs (mifare_desfire_key_set_version):
// bit 7-n of the version into byte n, and for 2TDEA the complement into byte n + 8.
Bytes StampVersion(Bytes key, KeyType type, uint8_t version) {
  for (int n = 0; n < 8; ++n) {
    const uint8_t bit = (version >> (7 - n)) & 1;
    key[n] = static_cast<uint8_t>((key[n] & 0xFE) | bit);
    if (type == KeyType::k2Tdea) key[n + 8] = static_cast<uint8_t>((key[n + 8] & 0xFE) | (bit ^ 1));
  }
  return key;
}

TEST(An10922Test, Aes128AppNoteExample) {
  // NXP AN10922 §2.2.1 (p. 8) via nfc-tools/libfreefare test/test_mifare_key_deriver_an10922.c,
  // also pm3 TestAn10922KDFAES and liblogicalaccess test_diversification.cpp.
  // M = UID 04782E21801D80 ‖ AID 3042F5 ‖ "NXP Abu".
  EXPECT_EQ(Diversify(KeyType::kAes128, "00112233445566778899AABBCCDDEEFF",
                      "04782E21801D80 3042F5 4E585020416275"),
            Norm("A8DD63A3B89D54B37CA802473FDA9175"));
}

TEST(An10922Test, Aes128ShortInputUsesTwoBlockPadding) {
  // NXP AN10957 pp. 13-14 via libfreefare test_mifare_key_deriver_an10922.c and LLA test av2_2.
  const std::string key =
      Diversify(KeyType::kAes128, "f3f9377698707b688eaf84abe39e3791", "04deadbeeffeed");
  EXPECT_EQ(key, "0bb408baff98b6ee9f2e1585777f6a51");
  // Not the libfreefare issue-91 value (input padded to one block only).
  EXPECT_NE(key, "721e2c01e81af85d815633969cea2607");
}

TEST(An10922Test, TwoKeyTdea) {
  // NXP AN10922 §2.4.1 via pm3 desfiretest.c TestAn10922KDF2TDEA (raw, as computed).
  // M = UID ‖ AID ‖ "NXP A" (15 bytes, the maximum: 21 ‖ M fills two DES blocks).
  const std::string raw = Diversify(KeyType::k2Tdea, "00112233445566778899AABBCCDDEEFF",
                                    "04782E21801D80 3042F5 4E585020 41");
  EXPECT_EQ(raw, Norm("16F8597C9E8910C86B9648D006107DD7"));
  // libfreefare's expectation for the same vector is the raw key with version 0x55 stamped.
  EXPECT_EQ(HexEncode(StampVersion(Hex(raw), KeyType::k2Tdea, 0x55)),
            "16f9587d9e8910c96b9649d007107dd6");
}

TEST(An10922Test, ThreeKeyTdea) {
  // NXP AN10922 §2.5.1 via pm3 desfiretest.c (raw). M = UID ‖ AID ‖ "NXP".
  const std::string raw =
      Diversify(KeyType::k3Tdea, "00112233445566778899AABBCCDDEEFF0102030405060708",
                "04782E21801D80 3042F5 4E5850");
  EXPECT_EQ(raw, Norm("2F0DD03675D3FB9A5705AB0BDA91CA0B55B8E07FCDBF10EC"));
  EXPECT_EQ(HexEncode(StampVersion(Hex(raw), KeyType::k3Tdea, 0x55)),
            "2e0dd03774d3fa9b5705ab0bda91ca0b55b8e07fcdbf10ec");  // libfreefare's form
}

TEST(An10922Test, DiversifyKeyWithMatchesDiversifyKey) {
  struct Case {
    KeyType type;
    const char* master;
    const char* input;
  };
  const Case cases[] = {
      {KeyType::kAes128, "00112233445566778899AABBCCDDEEFF",
       "04782E21801D80 3042F5 4E585020416275"},
      {KeyType::kAes128, "f3f9377698707b688eaf84abe39e3791", "04deadbeeffeed"},
      {KeyType::kAes128, "f3f9377698707b688eaf84abe39e3791", "00"},
      {KeyType::kAes128, "f3f9377698707b688eaf84abe39e3791",  // 31 bytes: no padding, K1
       "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"},
      {KeyType::k2Tdea, "00112233445566778899AABBCCDDEEFF", "04782E21801D80 3042F5 4E585020 41"},
      {KeyType::k3Tdea, "00112233445566778899AABBCCDDEEFF0102030405060708", "04782E21801D80"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<Cmac> master = Cmac::Create(c.type, Hex(c.master));
    ASSERT_TRUE(master.ok()) << master.status();
    uint8_t out[24] = {};
    ASSERT_TRUE(DiversifyKeyWith(*master, c.type, Hex(c.input), out).ok());
    EXPECT_EQ(HexEncode(ByteSpan(out, KeyLength(c.type))), Diversify(c.type, c.master, c.input))
        << c.input;
  }
}

TEST(An10922Test, FullLengthInputDiffersFromPaddedPrefix) {
  // 01 ‖ M of exactly 32 bytes takes the K1 path; it must not collide with a 31-byte input
  // whose padding would look the same.
  const std::string full =
      Diversify(KeyType::kAes128, "f3f9377698707b688eaf84abe39e3791",
                "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
  const std::string shorter =
      Diversify(KeyType::kAes128, "f3f9377698707b688eaf84abe39e3791",
                "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e");
  EXPECT_NE(full, shorter);
}

TEST(An10922Test, Errors) {
  const Bytes aes_master = Hex("00112233445566778899AABBCCDDEEFF");
  const Bytes des_master = Hex("0011223344556677");
  auto code = [](const absl::StatusOr<Bytes>& r) { return r.status().code(); };
  const auto kInvalid = absl::StatusCode::kInvalidArgument;

  EXPECT_EQ(code(DiversifyKey(KeyType::kAes128, aes_master, ByteSpan())), kInvalid);
  EXPECT_EQ(code(DiversifyKey(KeyType::kAes128, aes_master, Bytes(32, 0x11))), kInvalid);
  EXPECT_TRUE(DiversifyKey(KeyType::kAes128, aes_master, Bytes(31, 0x11)).ok());
  EXPECT_EQ(code(DiversifyKey(KeyType::k2Tdea, aes_master, Bytes(16, 0x11))), kInvalid);
  EXPECT_TRUE(DiversifyKey(KeyType::k2Tdea, aes_master, Bytes(15, 0x11)).ok());
  EXPECT_EQ(code(DiversifyKey(KeyType::k3Tdea, Bytes(24, 0x22), Bytes(16, 0x11))), kInvalid);
  EXPECT_EQ(code(DiversifyKey(KeyType::k2Tdea, aes_master, ByteSpan())), kInvalid);
  EXPECT_EQ(code(DiversifyKey(KeyType::kDes, des_master, Bytes(7, 0x11))), kInvalid);
  // Wrong master length, and the master key bytes stay out of the message.
  const absl::StatusOr<Bytes> wrong = DiversifyKey(KeyType::kAes128, des_master, Bytes(7, 0x11));
  EXPECT_EQ(code(wrong), kInvalid);
  EXPECT_EQ(std::string(wrong.status().message()).find("0011223344556677"), std::string::npos);
  EXPECT_EQ(code(DiversifyKey(KeyType::k3Tdea, aes_master, Bytes(7, 0x11))), kInvalid);

  // DiversifyKeyWith: a master CMAC of another type, DES, bad input.
  absl::StatusOr<Cmac> aes = Cmac::Create(KeyType::kAes128, aes_master);
  ASSERT_TRUE(aes.ok());
  uint8_t out[24];
  EXPECT_EQ(DiversifyKeyWith(*aes, KeyType::k2Tdea, Bytes(7, 0x11), out).code(), kInvalid);
  EXPECT_EQ(DiversifyKeyWith(*aes, KeyType::kAes128, ByteSpan(), out).code(), kInvalid);
  absl::StatusOr<Cmac> des = Cmac::Create(KeyType::kDes, des_master);
  ASSERT_TRUE(des.ok());
  EXPECT_EQ(DiversifyKeyWith(*des, KeyType::kDes, Bytes(7, 0x11), out).code(), kInvalid);
}

}  // namespace
}  // namespace desfired::crypto
