// CMAC known answers (AES-128 and the DES family) and DESFire EV1 secure-messaging chains.
// Vectors are copied from shared/vectors/desfire_vectors.md (beside the repository) with their
// sources.
#include "core/crypto/cmac.h"

#include <ostream>
#include <string>
#include <string_view>

#include "absl/strings/string_view.h"
#include "core/crypto/block_cipher.h"
#include "core/crypto/crc.h"
#include "core/util/bytes.h"
#include "gtest/gtest.h"
#include "tests/unit/hex_testing.h"

namespace desfired::crypto {
namespace {

using ::desfired::test_util::Hex;
using ::desfired::test_util::Norm;

Cmac MakeCmac(KeyType type, absl::string_view key_hex) {
  absl::StatusOr<Cmac> cmac = Cmac::Create(type, Hex(key_hex));
  EXPECT_TRUE(cmac.ok()) << cmac.status();
  return *std::move(cmac);
}

std::string Tag(const Cmac& cmac, ByteSpan message) {
  uint8_t out[16];
  cmac.Compute(message, out);
  return HexEncode(ByteSpan(out, cmac.block_size()));
}

// RFC 4493 §4 / NIST SP 800-38B Appendix D.1 (also nfc-tools/libfreefare
// test/test_mifare_desfire_aes.c). The TDES examples use prefixes of the same message.
constexpr absl::string_view kRfc4493Message =
    "6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51"
    "30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710";

Bytes Prefix(size_t n) {
  Bytes m = Hex(kRfc4493Message);
  m.resize(n);
  return m;
}

TEST(CmacTest, Rfc4493Aes128SubkeysAndTags) {
  // Source: RFC 4493 §4.
  const Cmac cmac = MakeCmac(KeyType::kAes128, "2b7e151628aed2a6abf7158809cf4f3c");
  ASSERT_EQ(cmac.block_size(), 16u);
  uint8_t l[16] = {};
  cmac.cipher().EncryptBlock(l, l);
  EXPECT_EQ(HexEncode(l), "7df76b0c1ab899b33e42f047b91b546f");  // AES(K, 0)
  EXPECT_EQ(HexEncode(cmac.k1()), "fbeed618357133667c85e08f7236a8de");
  EXPECT_EQ(HexEncode(cmac.k2()), "f7ddac306ae266ccf90bc11ee46d513b");
  EXPECT_EQ(Tag(cmac, Prefix(0)), "bb1d6929e95937287fa37d129b756746");
  EXPECT_EQ(Tag(cmac, Prefix(16)), "070a16b46b4d4144f79bdd9dd04a287c");
  EXPECT_EQ(Tag(cmac, Prefix(40)), "dfa66747de9ae63030ca32611497c827");
  EXPECT_EQ(Tag(cmac, Prefix(64)), "51f0bebf7e3b9d92fc49741779363cfe");
}

struct TdesRow {
  const char* name;
  KeyType type;
  const char* key;
  const char* tag0;
  const char* tag16;
  const char* tag20;
  const char* tag32;
};

void PrintTo(const TdesRow& v, std::ostream* os) { *os << v.name; }

class TdesCmacTest : public testing::TestWithParam<TdesRow> {};

TEST_P(TdesCmacTest, NistExamples) {
  const TdesRow& row = GetParam();
  const Cmac cmac = MakeCmac(row.type, row.key);
  ASSERT_EQ(cmac.block_size(), 8u);
  EXPECT_EQ(Tag(cmac, Prefix(0)), Norm(row.tag0));
  EXPECT_EQ(Tag(cmac, Prefix(16)), Norm(row.tag16));
  EXPECT_EQ(Tag(cmac, Prefix(20)), Norm(row.tag20));
  EXPECT_EQ(Tag(cmac, Prefix(32)), Norm(row.tag32));
}

// Source: NIST CSRC "TDES_CMAC.pdf" examples via proxmark3 client/src/mifare/desfiretest.c
// (TestCMAC3TDEA, TestCMAC2TDEA); the single-DES row is pm3 TestCMACDES (not a NIST vector).
INSTANTIATE_TEST_SUITE_P(
    Vectors, TdesCmacTest,
    testing::Values(
        TdesRow{"ThreeKey", KeyType::k3Tdea, "0123456789ABCDEF 23456789ABCDEF01 456789ABCDEF0123",
                "7DB0D37DF936C550", "30239CF1F52E6609", "6C9F3EE4923F6BE2", "99429BD0BF7904E5"},
        TdesRow{"TwoKey", KeyType::k2Tdea, "0123456789ABCDEF 23456789ABCDEF01", "79CE52A7F786A960",
                "CC18A0B79AF2413B", "C06D377ECD101969", "9CD33580F9B64DFB"},
        TdesRow{"SingleDes", KeyType::kDes, "0123456789ABCDEF", "86F79C13FD306E67",
                "BEA4212292462A85", "3E2F8310C569275E", "9D1FC4D4C0259132"}),
    [](const testing::TestParamInfo<TdesRow>& p) { return std::string(p.param.name); });

TEST(CmacTest, SubkeysForAn10922MasterKeys) {
  // Source: proxmark3 desfiretest.c TestCMACSubkeys (keys of NXP AN10922).
  const Cmac aes = MakeCmac(KeyType::kAes128, "00112233445566778899AABBCCDDEEFF");
  EXPECT_EQ(HexEncode(aes.k1()), Norm("FBC9F75C9413C041DFEE452D3F0706D1"));
  EXPECT_EQ(HexEncode(aes.k2()), Norm("F793EEB928278083BFDC8A5A7E0E0D25"));
  const Cmac tdea2 = MakeCmac(KeyType::k2Tdea, "00112233445566778899AABBCCDDEEFF");
  EXPECT_EQ(HexEncode(tdea2.k1()), Norm("F612EB32E46035F3"));
  EXPECT_EQ(HexEncode(tdea2.k2()), Norm("EC25D665C8C06BFD"));
  const Cmac tdea3 = MakeCmac(KeyType::k3Tdea, "00112233445566778899AABBCCDDEEFF0102030405060708");
  EXPECT_EQ(HexEncode(tdea3.k1()), Norm("A3ED58F8E6941BCA"));
  EXPECT_EQ(HexEncode(tdea3.k2()), Norm("47DAB1F1CD28378F"));
}

TEST(CmacTest, ComputeWithZeroIvEqualsCompute) {
  const Cmac cmac = MakeCmac(KeyType::kAes128, "2b7e151628aed2a6abf7158809cf4f3c");
  const uint8_t zero[16] = {};
  for (size_t n : {0, 1, 15, 16, 17, 19, 32, 33, 64}) {
    const Bytes m = Prefix(n);
    uint8_t a[16];
    uint8_t b[16];
    cmac.Compute(m, a);
    cmac.ComputeWithIv(zero, m, b);
    EXPECT_EQ(HexEncode(a), HexEncode(b)) << "n=" << n;
  }
}

TEST(CmacTest, OutputMayAliasIv) {
  const Cmac cmac = MakeCmac(KeyType::kAes128, "2b7e151628aed2a6abf7158809cf4f3c");
  const Bytes m = Prefix(40);
  uint8_t iv[16];
  for (int i = 0; i < 16; ++i) iv[i] = static_cast<uint8_t>(i * 17);
  uint8_t separate[16];
  cmac.ComputeWithIv(iv, m, separate);
  cmac.ComputeWithIv(iv, m, iv);
  EXPECT_EQ(HexEncode(iv), HexEncode(separate));
}

TEST(CmacTest, MovedCmacKeepsWorking) {
  Cmac a = MakeCmac(KeyType::kAes128, "2b7e151628aed2a6abf7158809cf4f3c");
  Cmac b = std::move(a);
  EXPECT_EQ(Tag(b, Prefix(40)), "dfa66747de9ae63030ca32611497c827");
  Cmac c = MakeCmac(KeyType::kDes, "0123456789ABCDEF");
  c = std::move(b);
  EXPECT_EQ(Tag(c, Prefix(64)), "51f0bebf7e3b9d92fc49741779363cfe");
}

TEST(CmacTest, WrongKeyLengthIsInvalidArgument) {
  const absl::StatusOr<Cmac> cmac = Cmac::Create(KeyType::kAes128, Hex("0011223344556677"));
  EXPECT_EQ(cmac.status().code(), absl::StatusCode::kInvalidArgument);
}

// The session IV register of DESFire EV1 secure messaging (vectors file §2 rules): every plain
// command is CMAC'd (IV := CMAC_K(IV; cmd ‖ params)), every response is checked against
// CMAC_K(IV; data ‖ status)[0..7] (IV := the full CMAC), enciphered frames chain through CBC.
class Session {
 public:
  Session(KeyType type, absl::string_view key_hex)
      : cmac_(MakeCmac(type, key_hex)), bs_(cmac_.block_size()) {}

  // A command sent in plain: only updates the IV.
  std::string Command(ByteSpan cmd) {
    cmac_.ComputeWithIv(iv_, cmd, iv_);
    return HexEncode(ByteSpan(iv_, bs_));
  }
  std::string Command(absl::string_view cmd_hex) { return Command(Hex(cmd_hex)); }

  // Returns the 8-byte MAC the card appends after `data` with status `status`.
  std::string Response(ByteSpan data, uint8_t status = 0x00) {
    Bytes msg(data.begin(), data.end());
    msg.push_back(status);
    cmac_.ComputeWithIv(iv_, msg, iv_);
    return HexEncode(ByteSpan(iv_, 8));
  }
  std::string Response(absl::string_view data_hex) { return Response(Hex(data_hex)); }

  // Enciphered command data / response data, chained through the IV register.
  Bytes Encrypt(Bytes data) {
    EXPECT_TRUE(cmac_.cipher().CbcEncrypt(MutableByteSpan(iv_, bs_), absl::MakeSpan(data)).ok());
    return data;
  }
  Bytes Decrypt(Bytes data) {
    EXPECT_TRUE(cmac_.cipher().CbcDecrypt(MutableByteSpan(iv_, bs_), absl::MakeSpan(data)).ok());
    return data;
  }

 private:
  Cmac cmac_;
  size_t bs_;
  uint8_t iv_[16] = {};
};

Bytes Sequence(uint8_t first, uint8_t last) {
  Bytes out;
  for (unsigned b = first; b <= last; ++b) out.push_back(static_cast<uint8_t>(b));
  return out;
}

Bytes Le32(uint32_t v) {
  Bytes out(4);
  StoreLe32(v, out.data());
  return out;
}

Bytes Ascii(std::string_view s) { return Bytes(s.begin(), s.end()); }

TEST(CmacSessionTest, DesGetVersionChain) {
  // Source: Elmü trace in patsys/desfire-python test.py (Test_DES docstring), vectors §2.2.
  // ISO 1A session with a DES key; the raw session key runs as single DES.
  Session s(KeyType::kDes, "849B36C54FD1B759");
  EXPECT_EQ(s.Command("60"), Norm("50 20 EC 82 60 86 DF 12"));  // TX CMAC, not transmitted
  // The three frames' data (AF continuation frames are not MACed separately).
  const Bytes data =
      Hex("04 01 01 01 00 1A 05  04 01 01 01 04 1A 05"
          "04 06 3F 72 63 34 80 BA 45 19 E3 20 49 13");
  ASSERT_EQ(data.size(), 28u);
  EXPECT_EQ(s.Response(data), Norm("CD C8 10 BA FA 40 17 59"));
}

TEST(CmacSessionTest, DesFormatPiccChain) {
  // Source: RfidResearchGroup/proxmark3 issue #2961 (vectors §1.5): FormatPICC in an ISO 1A
  // DES session; 3DES-CMAC over FC, then over the status 00 with the IV chained.
  Session s(KeyType::kDes, "01 02 03 04 99 D2 F4 FF");
  s.Command("FC");
  EXPECT_EQ(s.Response(""), Norm("0A 28 19 F8 0B A0 56 A0"));
}

TEST(CmacSessionTest, AesFileSessionChain) {
  // Source: Elmü trace replayed in patsys/desfire-python test.py File() (vectors §2.1).
  // Session key from the AES AA exchange of §1.9; IV starts at 00×16.
  Session s(KeyType::kAes128, "40E7D271626FFBD49C530E3D304F5B17");
  s.Command("CD 05 00 11 00 50 00 00");  // CreateStdDataFile(5, plain, 0011, 80 B)
  EXPECT_EQ(s.Response(""), Norm("A7 53 16 AD 15 96 B9 53"));
  s.Command("6F");  // GetFileIDs
  EXPECT_EQ(s.Response("05"), Norm("2D 5F F6 7F FE C9 D2 D3"));
  s.Command("F5 05");  // GetFileSettings
  EXPECT_EQ(s.Response("00 00 11 00 50 00 00"), Norm("2A AC 75 17 02 4E 09 DC"));
  s.Command(Concat({Hex("3D 05 000000 340000"), Sequence(0x00, 0x33)}));  // WriteData
  EXPECT_EQ(s.Response(""), Norm("76 5C 9D AA 50 EC B6 2F"));
  s.Command(Concat({Hex("3D 05 340000 1C0000"), Sequence(0x34, 0x4F)}));
  EXPECT_EQ(s.Response(""), Norm("3E 0A ED 98 6B 8B 0F 37"));
  s.Command("BD 05 000000 300000");  // ReadData
  EXPECT_EQ(s.Response(Sequence(0x00, 0x2F)), Norm("4C 65 F1 F8 42 26 2B AC"));
  s.Command("BD 05 300000 200000");
  EXPECT_EQ(s.Response(Sequence(0x30, 0x4F)), Norm("F0 22 05 CF 91 3C 03 C9"));
  s.Command("DF 05");  // DeleteFile
  EXPECT_EQ(s.Response(""), Norm("1B EF 0D 32 B6 D1 D7 F9"));
}

TEST(CmacSessionTest, AesChangeOtherKeyReplyMac) {
  // Source: skelsec/pydesfire tests.py ChangeKeyTest (AES key 1 ≠ auth key), vectors §2.4.
  Session s(KeyType::kAes128, "C2 A1 E4 7B D8 10 00 44 FE 6D 00 A7 4D 7A B1 7C");
  const Bytes new_key = Hex("00 10 20 30 40 50 60 70 80 90 A0 B0 B0 A0 90 80");  // ⊕ 00×16
  const uint8_t version = 0x10;
  const Bytes crypto_crc_input = Concat({Hex("C4 01"), new_key, ByteSpan(&version, 1)});
  ASSERT_EQ(Crc32Desfire(crypto_crc_input), 0x84B47033u);
  ASSERT_EQ(Crc32Desfire(new_key), 0x1979E3BFu);
  const Bytes plain = Concat(
      {new_key, ByteSpan(&version, 1), Le32(0x84B47033u), Le32(0x1979E3BFu), Bytes(7, 0x00)});
  EXPECT_EQ(HexEncode(s.Encrypt(plain)), Norm("E7 EC CB 6B D1 CA 64 BC 16 1A 12 B1 C0 24 F7 14"
                                              "30 33 74 08 C8 A8 7E AC AB 7A 1F F1 89 51 FC A3"));
  EXPECT_EQ(s.Response(""), Norm("21 28 D3 CD 9C 9A CF FF"));
}

TEST(CmacSessionTest, AesFullEv1Session) {
  // Source: skjolber/desfire-tools-for-android libfreefare/src/test/java/.../
  // AESEncryptionTest.java testAES2 (vectors §2.3, session keys from §1.10). Keys 00×16.
  {
    Session s(KeyType::kAes128, "25E0B2B579397FF3F3ED65EEC8DB1DBB");  // auth 1.10 a
    const uint8_t settings = 0x0F;                                    // ChangeKeySettings(0F)
    const Bytes plain =
        Concat({ByteSpan(&settings, 1), Le32(Crc32Desfire(Hex("54 0F"))), Bytes(11, 0x00)});
    EXPECT_EQ(HexEncode(s.Encrypt(plain)), Norm("5d83dfe56649f405dfb6f3b93da719fe"));
    EXPECT_EQ(s.Response(""), Norm("f06d308b21c890d9"));
  }
  {
    Session s(KeyType::kAes128, "617557DF376C6A122925BBA7FDC25AD6");  // auth 1.10 b
    s.Command("FC");                                                  // FormatPICC
    EXPECT_EQ(s.Response(""), Norm("8e20683cf4525090"));
    s.Command("CA AA AA AA 02 8E");  // CreateApplication
    EXPECT_EQ(s.Response(""), Norm("155fff8b3cf54fe5"));
  }
  {
    Session s(KeyType::kAes128, "BA4350B0E10782A9773913969A6CDA04");  // auth 1.10 c
    // ChangeKey(5) of another key: (new ⊕ old) ‖ version ‖ CRC32(C4 05 ‖ new⊕old ‖ version)
    // ‖ CRC32(new) ‖ 00-pad, with new = old = 00×16.
    const Bytes zero_key(16, 0x00);
    const uint8_t version = 0x42;
    const Bytes plain =
        Concat({zero_key, ByteSpan(&version, 1),
                Le32(Crc32Desfire(Concat({Hex("C4 05"), zero_key, ByteSpan(&version, 1)}))),
                Le32(Crc32Desfire(zero_key)), Bytes(7, 0x00)});
    EXPECT_EQ(HexEncode(s.Encrypt(plain)), Norm("48 28 c6 71 fb 09 0a 02 4a e0 a5 11 ae e8 db cc"
                                                "b1 91 22 9c b8 e9 35 15 0d a4 76 cd 11 ac ec 4f"));
    EXPECT_EQ(s.Response(""), Norm("bd5299e695afee07"));
    s.Command("CD 0F 03 54 12 64 00 00");  // CreateStdDataFile(0F, Full, 5412, 100 B)
    EXPECT_EQ(s.Response(""), Norm("d5ece1d1e0aa978a"));
    s.Command("64 05");  // GetKeyVersion(5)
    EXPECT_EQ(s.Response("42"), Norm("eb5849477bae905a"));
  }
  {
    Session s(KeyType::kAes128, "41B4719A4FEB2C3A8A491196F448157C");  // auth 1.10 d
    s.Command("F5 0F");                                               // GetFileSettings
    EXPECT_EQ(s.Response("00 03 54 12 64 00 00"), Norm("7efde2c2c81ad236"));

    // WriteData(0F, 0, 30), Full: data ‖ CRC32(cmd ‖ header ‖ data) ‖ 00-pad to 48 bytes.
    const Bytes header1 = Hex("0F 000000 1E0000");
    const Bytes data1 = Ascii("Some data to write to the card");
    Bytes plain = Concat({data1, Le32(Crc32Desfire(Concat({Hex("3D"), header1, data1})))});
    plain.resize(48, 0x00);
    EXPECT_EQ(HexEncode(s.Encrypt(plain)),
              Norm("81 99 5d f0 a7 5c f3 9b f6 59 1b bf 98 2a 9e fa 05 5b 94 d4 f6 88 b0 8c"
                   "2b 7e c7 18 63 14 8d 28 21 20 65 97 72 53 6e 33 d3 50 7e 07 1d ed 14"
                   "64"));  // the last byte travels in the AF continuation frame
    EXPECT_EQ(s.Response(""), Norm("d51c9dc812428d40"));
    s.Command("F5 0F");
    EXPECT_EQ(s.Response("00 03 54 12 64 00 00"), Norm("cca208ab50d8bc87"));

    // WriteData(0F, 34, 22), Full.
    const Bytes header2 = Hex("0F 220000 160000");
    const Bytes data2 = Ascii("Another block of data.");
    plain = Concat({data2, Le32(Crc32Desfire(Concat({Hex("3D"), header2, data2})))});
    plain.resize(32, 0x00);
    EXPECT_EQ(HexEncode(s.Encrypt(plain)), Norm("df 04 33 1a 73 7e 43 1c 75 48 d0 c3 58 ac 15 82"
                                                "57 8a 96 0b 5e e5 1b d4 50 b7 c7 4d 04 79 c0 de"));
    EXPECT_EQ(s.Response(""), Norm("86cdc76282299caf"));
    s.Command("F5 0F");
    EXPECT_EQ(s.Response("00 03 54 12 64 00 00"), Norm("e1683ba6067a09a2"));

    // ReadData(0F, 10, 50), Full: D(...) = data ‖ CRC32(data ‖ status 00) ‖ 00-pad.
    s.Command("BD 0F 0A0000 320000");
    const Bytes read1 =
        s.Decrypt(Hex("99 ee 41 fc cc 29 9f 4d 7f 2a ef af 54 b1 48 0f af 0d cc f7 93 2b 02 0a"
                      "a5 a2 1e 34 a3 8a 30 f3 67 32 5a 5b 82 ea f8 f4 a8 45 f5 f2 ca 9e 0d 24"
                      "6b e1 29 6b 82 19 3c 71 d0 c8 5e b4 43 ec 00 3c"));
    const Bytes expected_data = Concat({Ascii("to write to the card"), Bytes(4, 0x00),
                                        Ascii("Another block of data."), Bytes(4, 0x00)});
    ASSERT_EQ(read1.size(), 64u);
    EXPECT_EQ(HexEncode(ByteSpan(read1).subspan(0, 50)), HexEncode(expected_data));
    EXPECT_EQ(HexEncode(ByteSpan(read1).subspan(50, 4)), Norm("48 02 50 e8"));
    EXPECT_EQ(Crc32Desfire(Concat({expected_data, Hex("00")})), LoadLe32(read1.data() + 50));
    EXPECT_EQ(HexEncode(ByteSpan(read1).subspan(54)), HexEncode(Bytes(10, 0x00)));

    // ReadData(0F, 0, 0) = whole file; padded with 80 00.. (vectors §2.3 note).
    s.Command("BD 0F 000000 000000");
    const Bytes read2 =
        s.Decrypt(Hex("9c 3e 97 7a d9 f2 57 b7 6b d6 68 21 d3 0b c9 a5 a4 cd 23 ad 7e d4 fe 9e"
                      "e0 58 06 56 cb 60 9d 06 eb 26 1a 0d 7b 84 2d 25 e2 12 3b c6 19 53 71 d5"
                      "d9 d0 51 86 af ad 6b c9 ae 5c a0 55 71 06 a2 24 c7 9a ab 27 f8 df ab 72"
                      "15 f7 ed 93 6c f1 b7 f8 31 e5 89 80 69 39 b2 be cf b6 3c 94 64 a8 c1 2c"
                      "cd 9e 41 32 ef 54 a8 c6 c3 a1 36 83 55 59 d6 dd"));
    Bytes file = Concat({data1, Bytes(4, 0x00), data2});
    file.resize(100, 0x00);
    ASSERT_EQ(read2.size(), 112u);
    EXPECT_EQ(HexEncode(ByteSpan(read2).subspan(0, 100)), HexEncode(file));
    EXPECT_EQ(HexEncode(ByteSpan(read2).subspan(100, 4)), Norm("88 6f c5 21"));
    EXPECT_EQ(Crc32Desfire(Concat({file, Hex("00")})), LoadLe32(read2.data() + 100));
    EXPECT_EQ(HexEncode(ByteSpan(read2).subspan(104)), Norm("80 00 00 00 00 00 00 00"));
  }
}

}  // namespace
}  // namespace desfired::crypto
