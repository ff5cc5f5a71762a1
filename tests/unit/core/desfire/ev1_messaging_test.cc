// EV1 secure messaging (ISO/AES sessions: CMAC + CRC32; legacy: MAC + CRC16), replayed
// against the published transcripts of vectors §1.2, §2.1 and §2.3.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "core/apdu/scripted_transport.h"
#include "core/apdu/status_payload.h"
#include "core/crypto/block_cipher.h"
#include "core/crypto/crc.h"
#include "core/desfire/channel.h"
#include "core/desfire/session.h"
#include "test_util.h"

namespace desfired::desfire {
namespace {

using apdu::ScriptedTransport;
using crypto::KeyType;
using testing::Ascii;
using testing::H;
using testing::ReasonOf;

using Fixture = testing::ScriptedSession;

// ---------------------------------------------------------------------------------------
// §1.2 legacy 0A, DES 00×8, then legacy-enciphered ChangeKeySettings and ChangeKey —
// skjolber/desfire-tools-for-android DESEncryptionTest.java testDES1.
TEST(LegacyMessagingTest, ChangeKeySettingsAndChangeKey_1_2) {
  Fixture f({{"90 0a 00 00 01 00 00", "c9 36 93 a0 cd 32 ac 39 91 af"},
             {"90 af 00 00 10 e9 6a 7e 6d 79 03 10 e8 c0 b3 6e d9 70 78 24 06 00",
              "89 b5 d3 8c 76 03 da b2 91 00"},
             {"90 54 00 00 08 73 40 52 86 c5 c8 a1 41 00", "91 00"},
             {"90 c4 00 00 19 80 0b 74 92 5d 1b 18 71 77 bd af 1c 2c 0a 1a 36 29 f6 c1 33 5b 8f "
              "e6 b1 66 00",
              "91 00"}},
            {H("71 cb 90 3a 2c ae 7c 9c")});
  ASSERT_TRUE(f.session.Authenticate(AuthScheme::kLegacy, 0, KeyType::kDes, Bytes(8)).ok());
  absl::StatusOr<Bytes> r = f.session.Execute(
      {.ins = Ins::kChangeKeySettings, .data = {0x0F}, .command_mode = CommMode::kFull});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(f.session.ChangeKey(0x80, KeyType::kAes128, Bytes(16), 0x42, {}).ok());
  EXPECT_FALSE(f.session.authenticated());  // the authenticated key was changed
  EXPECT_TRUE(f.transport.Finished()) << f.transport.Remaining();
}

// A whole-file ReadData (length 0) of file 1 in §1.2's legacy session (session key
// 71cb903aafa2c147): the card enciphers data ‖ CRC16 ‖ `padding` with the session key (CBC,
// IV 0). Returns what the host makes of it.
absl::StatusOr<Bytes> LegacyWholeFileRead(const Bytes& data, const Bytes& padding,
                                          bool corrupt_crc = false) {
  Bytes plain = data;
  const uint16_t crc = crypto::Crc16A(data) ^ (corrupt_crc ? 1 : 0);
  plain.push_back(static_cast<uint8_t>(crc));
  plain.push_back(static_cast<uint8_t>(crc >> 8));
  plain.insert(plain.end(), padding.begin(), padding.end());
  auto cipher = crypto::BlockCipher::Create(KeyType::kDes, H("71cb903aafa2c147"));
  EXPECT_TRUE(cipher.ok()) << cipher.status();
  if (!cipher.ok()) return cipher.status();
  uint8_t iv[8] = {};
  EXPECT_TRUE(cipher->CbcEncrypt(MutableByteSpan(iv, 8), absl::MakeSpan(plain)).ok());
  Fixture f({{"90 0a 00 00 01 00 00", "c9 36 93 a0 cd 32 ac 39 91 af"},
             {"90 af 00 00 10 e9 6a 7e 6d 79 03 10 e8 c0 b3 6e d9 70 78 24 06 00",
              "89 b5 d3 8c 76 03 da b2 91 00"},
             {"90 bd 00 00 07 01 00 00 00 00 00 00 00", HexEncode(plain) + "9100"}},
            {H("71 cb 90 3a 2c ae 7c 9c")});
  EXPECT_TRUE(f.session.Authenticate(AuthScheme::kLegacy, 0, KeyType::kDes, Bytes(8)).ok());
  return f.session.Execute(
      {.ins = Ins::kReadData, .header = {1, 0, 0, 0, 0, 0, 0}, .response_mode = CommMode::kFull});
}

// Cards pad a legacy whole-file read with 00.. or with 80 00.. (libfreefare accepts both).
TEST(LegacyMessagingTest, WholeFileReadAcceptsZeroAndIsoPadding) {
  const Bytes ten = H("00112233445566778899");             // + CRC16: 12 bytes, 4 of padding
  const Bytes thirteen = H("00112233445566778899aabbcc");  // 15: 1 byte of padding
  const Bytes six = H("a1a2a3a4a5a6");                     // 8: no padding at all
  struct Case {
    const char* name;
    Bytes data;
    Bytes padding;
  };
  const Case cases[] = {
      {"zero", ten, H("00000000")},
      {"iso", ten, H("80000000")},
      {"zero_one", thirteen, H("00")},
      {"iso_one", thirteen, H("80")},
      {"none", six, {}},
      {"data_ends_80_00", H("0011228000"), H("00")},
      {"data_ends_80_00_iso", H("0011228000"), H("80")},
  };
  for (const Case& c : cases) {
    absl::StatusOr<Bytes> read = LegacyWholeFileRead(c.data, c.padding);
    ASSERT_TRUE(read.ok()) << c.name << ": " << read.status();
    EXPECT_EQ(HexEncode(*read), HexEncode(c.data)) << c.name;
  }
  // A wrong CRC is refused in either form; so is padding that is neither.
  for (const char* padding : {"00000000", "80000000"}) {
    absl::StatusOr<Bytes> read = LegacyWholeFileRead(ten, H(padding), /*corrupt_crc=*/true);
    EXPECT_EQ(ReasonOf(read.status()), "INTEGRITY_ERROR") << padding;
  }
  EXPECT_EQ(ReasonOf(LegacyWholeFileRead(ten, H("80000001")).status()), "INTEGRITY_ERROR");
}

// ---------------------------------------------------------------------------------------
// §2.1 CMAC chaining over a real AES session with a non-zero key — Elmü, as recorded in
// patsys/desfire-python test.py File(). Session from §1.9 (key 10 18 20 ... 88). The
// vector gives the native commands and the response CMACs; the frames are wrapped here.
const char kAes19Key[] = "10182028303840485058606870788088";

std::vector<ScriptedTransport::HexExchange> Aes_1_9() {
  return {{"90 aa 00 00 01 00 00", "B351CB2465D4F33AC627FD6E87A168F2 91AF"},
          {"90 af 00 00 20 044B6CAC343A0865895149649CA8DDE1F5AC4EC67BD208900AF02F049E05F0B0 00",
           "A2EE144B1012FBEB7B2F11132D95A454 9100"}};
}

std::string Range(int from, int to) {  // hex of bytes from..to-1
  Bytes b;
  for (int i = from; i < to; ++i) b.push_back(static_cast<uint8_t>(i));
  return HexEncode(b);
}

TEST(Ev1MessagingTest, CmacChainingRealAesSession_2_1) {
  std::vector<ScriptedTransport::HexExchange> script = Aes_1_9();
  // WriteData #1 is 7 + 52 = 59 bytes: chained as 54 + 5.
  const std::string write1 = "05 000000 340000" + Range(0, 0x34);
  const std::string write1_hex = HexEncode(H(write1));
  const std::string frame1 = "903d000036" + write1_hex.substr(0, 108) + "00";
  const std::string frame2 = "90af000005" + write1_hex.substr(108) + "00";
  const std::string write2 =
      "903d000023"
      "05340000"
      "1c0000" +
      Range(0x34, 0x50) + "00";
  const std::string read1 = Range(0, 0x30) + "4C65F1F842262BAC 9100";
  const std::string read2 = Range(0x30, 0x50) + "F02205CF913C03C9 9100";
  std::vector<ScriptedTransport::HexExchange> tail = {
      {"90 cd 00 00 07 05 00 11 00 50 00 00 00", "A7 53 16 AD 15 96 B9 53 91 00"},
      {"90 6f 00 00 00", "05 2D5FF67FFEC9D2D3 9100"},
      {"90 f5 00 00 01 05 00", "00 00 11 00 50 00 00 2AAC7517024E09DC 9100"},
      {frame1, "91 af"},
      {frame2, "765C9DAA50ECB62F 9100"},
      {write2, "3E0AED986B8B0F37 9100"},
      {"90 bd 00 00 07 05 000000 300000 00", read1},
      {"90 bd 00 00 07 05 300000 200000 00", read2},
      {"90 df 00 00 01 05 00", "1BEF0D32B6D1D7F9 9100"},
  };
  script.insert(script.end(), tail.begin(), tail.end());
  Fixture f(script, {H("40E7D27174CBA675E8EFBAB99C530E3D")});
  ASSERT_TRUE(f.session.Authenticate(AuthScheme::kAes, 0, KeyType::kAes128, H(kAes19Key)).ok());

  auto ok = [&](Command c) {
    absl::StatusOr<Bytes> r = f.session.Execute(c);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? HexEncode(*r) : "";
  };
  EXPECT_EQ(ok({.ins = Ins::kCreateStdDataFile, .header = H("05 00 11 00 50 00 00")}), "");
  EXPECT_EQ(ok({.ins = Ins::kGetFileIds}), "05");
  EXPECT_EQ(ok({.ins = Ins::kGetFileSettings, .header = {0x05}}), "00001100500000");
  EXPECT_EQ(
      ok({.ins = Ins::kWriteData, .header = H("05 000000 340000"), .data = H(Range(0, 0x34))}), "");
  EXPECT_EQ(
      ok({.ins = Ins::kWriteData, .header = H("05 340000 1c0000"), .data = H(Range(0x34, 0x50))}),
      "");
  EXPECT_EQ(ok({.ins = Ins::kReadData, .header = H("05 000000 300000")}), Range(0, 0x30));
  EXPECT_EQ(ok({.ins = Ins::kReadData, .header = H("05 300000 200000")}), Range(0x30, 0x50));
  EXPECT_EQ(ok({.ins = Ins::kDeleteFile, .header = {0x05}}), "");
  EXPECT_TRUE(f.session.authenticated());
  EXPECT_TRUE(f.transport.Finished()) << f.transport.Remaining();
}

// Negative tests on the same session: the reply to CreateStdDataFile is tampered with.
Fixture AfterAes19(absl::string_view reply) {
  std::vector<ScriptedTransport::HexExchange> script = Aes_1_9();
  script.push_back({"90 cd 00 00 07 05 00 11 00 50 00 00 00", std::string(reply)});
  return Fixture(script, {H("40E7D27174CBA675E8EFBAB99C530E3D")});
}

const Command kCreateFile5{.ins = Ins::kCreateStdDataFile, .header = H("05 00 11 00 50 00 00")};

// A tampered reply to CreateStdDataFile: the call fails (with `code` when given) for `reason`
// and the session is void.
struct TamperedReply {
  const char* name;
  const char* reply;
  std::optional<absl::StatusCode> code;
  const char* reason;
};

class Ev1TamperedReplyTest : public ::testing::TestWithParam<TamperedReply> {};

TEST_P(Ev1TamperedReplyTest, FailsAndVoidsTheSession) {
  Fixture f = AfterAes19(GetParam().reply);
  ASSERT_TRUE(f.session.Authenticate(AuthScheme::kAes, 0, KeyType::kAes128, H(kAes19Key)).ok());
  absl::StatusOr<Bytes> r = f.session.Execute(kCreateFile5);
  if (GetParam().code.has_value()) {
    EXPECT_EQ(r.status().code(), *GetParam().code);
  }
  EXPECT_EQ(ReasonOf(r.status()), GetParam().reason);
  EXPECT_FALSE(f.session.authenticated());
}

INSTANTIATE_TEST_SUITE_P(
    Ev1MessagingTest, Ev1TamperedReplyTest,
    ::testing::Values(TamperedReply{"ForgedResponseMacIsRefused", "A7 53 16 AD 15 96 B9 54 91 00",
                                    absl::StatusCode::kDataLoss, "INTEGRITY_ERROR"},
                      // A forged "success" without a MAC (a public library accepted these).
                      TamperedReply{"MissingResponseMacIsRefused", "91 00", std::nullopt,
                                    "INTEGRITY_ERROR"},
                      TamperedReply{"TruncatedResponseIsCardRemoved", "91",
                                    absl::StatusCode::kUnavailable, "CARD_REMOVED"}),
    [](const ::testing::TestParamInfo<TamperedReply>& p) { return p.param.name; });

TEST(Ev1MessagingTest, MacOrFullModeNeedsASession) {
  ScriptedTransport t({});
  Channel channel(t);
  Session session(channel);
  absl::StatusOr<Bytes> r = session.Execute(
      {.ins = Ins::kReadData, .header = H("05 000000 000000"), .response_mode = CommMode::kFull});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ReasonOf(r.status()), "NOT_AUTHENTICATED");
  EXPECT_EQ(session.ChangeKey(0, KeyType::kAes128, Bytes(16), 0, {}).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(Ev1MessagingTest, ExecuteRefusesCommandsWithTheirOwnMethods) {
  ScriptedTransport t({});
  Channel channel(t);
  Session session(channel);
  for (Ins ins : {Ins::kAuthenticateAes, Ins::kChangeKey, Ins::kAdditionalFrame}) {
    EXPECT_EQ(session.Execute({.ins = ins}).status().code(), absl::StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(t.position(), 0u);
}

// ---------------------------------------------------------------------------------------
// §2.3 a full EV1 AES session — skjolber/desfire-tools-for-android AESEncryptionTest.java
// testAES2, all keys 00×16 (version 0x42). Authentications are §1.10 a–d.
std::vector<ScriptedTransport::HexExchange> Transcript_2_3() {
  return {
      {"90 5a 00 00 03 00 00 00 00", "91 00"},
      {"90 60 00 00 00", "04 01 01 01 00 18 05 91 af"},
      {"90 af 00 00 00", "04 01 01 01 04 18 05 91 af"},
      {"90 af 00 00 00", "04 1f 5b 92 da 2c 80 ba 34 98 ba d0 29 12 91 00"},
      {"90 64 00 00 01 00 00", "42 91 00"},
      // §1.10 a
      {"90 aa 00 00 01 00 00", "70 7a 8a 39 fa 7c a7 58 71 de b4 ab 9d 6d 3e 33 91 af"},
      {"90 af 00 00 20 46 1b 4d ce e9 d6 c6 d6 a0 b6 aa 2d e2 d7 44 5b 3b 3c dc f6 88 6b 65 18 "
       "ec 11 18 6b f9 7a 3a 04 00",
       "c3 77 d8 47 54 43 ae 5d 19 62 40 83 28 92 10 f9 91 00"},
      {"90 54 00 00 10 5d 83 df e5 66 49 f4 05 df b6 f3 b9 3d a7 19 fe 00",
       "f0 6d 30 8b 21 c8 90 d9 91 00"},
      {"90 c4 00 00 21 80 0a 96 97 92 0f 1a 2f c6 5e 39 32 57 61 0e c4 0d 96 27 82 1b 75 cd 9b "
       "b3 50 0d de 5e ab e4 8f db 00",
       "91 00"},
      // §1.10 b
      {"90 aa 00 00 01 00 00", "a0 f0 8e b0 de c8 ef 45 4e 1b 7c 2d ae f1 48 27 91 af"},
      {"90 af 00 00 20 c2 6a c5 15 0c 7d e2 e4 be 7f 28 17 27 2b 3c 07 40 4d ee b0 2e 83 c7 03 "
       "e6 04 fb f5 9c 04 70 90 00",
       "f1 b4 a0 bb 8b bd 5a 97 87 8d 4e c4 b7 4d 5d 19 91 00"},
      {"90 fc 00 00 00", "8e 20 68 3c f4 52 50 90 91 00"},
      {"90 ca 00 00 05 aa aa aa 02 8e 00", "15 5f ff 8b 3c f5 4f e5 91 00"},
      {"90 5a 00 00 03 aa aa aa 00", "91 00"},
      // §1.10 c
      {"90 aa 00 00 01 00 00", "e7 26 d1 cc 04 af 0b 34 6a 4a ef 1d 16 ef 33 6c 91 af"},
      {"90 af 00 00 20 65 87 84 43 ec 6f 40 cd 95 16 a1 02 b6 2c 3d 08 b5 8a 07 14 4a dd 00 79 "
       "92 da 9a 25 91 52 22 39 00",
       "75 01 b9 0c 87 14 8c bb e8 36 9f af a9 27 16 7a 91 00"},
      {"90 c4 00 00 21 05 48 28 c6 71 fb 09 0a 02 4a e0 a5 11 ae e8 db cc b1 91 22 9c b8 e9 35 "
       "15 0d a4 76 cd 11 ac ec 4f 00",
       "bd 52 99 e6 95 af ee 07 91 00"},
      {"90 cd 00 00 07 0f 03 54 12 64 00 00 00", "d5 ec e1 d1 e0 aa 97 8a 91 00"},
      {"90 64 00 00 01 05 00", "42 eb 58 49 47 7b ae 90 5a 91 00"},
      // §1.10 d (key 5)
      {"90 aa 00 00 01 05 00", "7a 4f be 87 79 2e 6f f1 3d f9 b5 30 4c 65 f4 84 91 af"},
      {"90 af 00 00 20 bd eb f8 b5 14 a2 c0 bf 2b 8b 98 92 c2 f2 3b 5b 1a af 13 94 46 18 2d ed "
       "c9 86 3f 6b 67 b1 5b 90 00",
       "bd f4 33 83 ac 37 96 87 f9 3f 35 77 b9 35 b8 ef 91 00"},
      {"90 f5 00 00 01 0f 00", "00 03 54 12 64 00 00 7e fd e2 c2 c8 1a d2 36 91 00"},
      {"90 3d 00 00 36 0f 00 00 00 1e 00 00 81 99 5d f0 a7 5c f3 9b f6 59 1b bf 98 2a 9e fa 05 "
       "5b 94 d4 f6 88 b0 8c 2b 7e c7 18 63 14 8d 28 21 20 65 97 72 53 6e 33 d3 50 7e 07 1d ed "
       "14 00",
       "91 af"},
      {"90 af 00 00 01 64 00", "d5 1c 9d c8 12 42 8d 40 91 00"},
      {"90 f5 00 00 01 0f 00", "00 03 54 12 64 00 00 cc a2 08 ab 50 d8 bc 87 91 00"},
      {"90 3d 00 00 27 0f 22 00 00 16 00 00 df 04 33 1a 73 7e 43 1c 75 48 d0 c3 58 ac 15 82 57 "
       "8a 96 0b 5e e5 1b d4 50 b7 c7 4d 04 79 c0 de 00",
       "86 cd c7 62 82 29 9c af 91 00"},
      {"90 f5 00 00 01 0f 00", "00 03 54 12 64 00 00 e1 68 3b a6 06 7a 09 a2 91 00"},
      {"90 bd 00 00 07 0f 0a 00 00 32 00 00 00",
       "99 ee 41 fc cc 29 9f 4d 7f 2a ef af 54 b1 48 0f af 0d cc f7 93 2b 02 0a a5 a2 1e 34 a3 "
       "8a 30 f3 67 32 5a 5b 82 ea f8 f4 a8 45 f5 f2 ca 9e 0d 24 91 af"},
      {"90 af 00 00 00", "6b e1 29 6b 82 19 3c 71 d0 c8 5e b4 43 ec 00 3c 91 00"},
      {"90 bd 00 00 07 0f 00 00 00 00 00 00 00",
       "9c 3e 97 7a d9 f2 57 b7 6b d6 68 21 d3 0b c9 a5 a4 cd 23 ad 7e d4 fe 9e e0 58 06 56 cb "
       "60 9d 06 eb 26 1a 0d 7b 84 2d 25 e2 12 3b c6 19 53 71 d5 91 af"},
      {"90 af 00 00 00",
       "d9 d0 51 86 af ad 6b c9 ae 5c a0 55 71 06 a2 24 c7 9a ab 27 f8 df ab 72 15 f7 ed 93 6c "
       "f1 b7 f8 31 e5 89 80 69 39 b2 be cf b6 3c 94 64 a8 c1 2c 91 af"},
      {"90 af 00 00 00", "cd 9e 41 32 ef 54 a8 c6 c3 a1 36 83 55 59 d6 dd 91 00"},
  };
}

std::vector<Bytes> RndA_1_10() {
  return {H("25e0b2b5620387f42ca1556cf3ed65ee"), H("617557df9772e010771b3e632925bba7"),
          H("ba4350b048a70c3a1de984ec77391396"), H("41b4719a6c7f5edddda1e5558a491196")};
}

TEST(Ev1MessagingTest, FullAesSession_2_3) {
  Fixture f(Transcript_2_3(), RndA_1_10());
  Session& s = f.session;
  const Bytes zero_key(16);
  auto run = [&](const Command& c) -> std::string {
    absl::StatusOr<Bytes> r = s.Execute(c);
    EXPECT_TRUE(r.ok()) << r.status() << " at exchange " << f.transport.position();
    return r.ok() ? HexEncode(*r) : "<error>";
  };

  // Unauthenticated: select the PICC, GetVersion, GetKeyVersion(0).
  EXPECT_EQ(run({.ins = Ins::kSelectApplication, .header = H("000000")}), "");
  EXPECT_EQ(run({.ins = Ins::kGetVersion}),
            "04010101001805"
            "04010101041805"
            "041f5b92da2c80ba3498bad02912");
  EXPECT_EQ(run({.ins = Ins::kGetKeyVersion, .header = {0x00}}), "42");

  // §1.10 a; ChangeKeySettings(0F) enciphered; ChangeKey of the authenticated key.
  ASSERT_TRUE(s.Authenticate(AuthScheme::kAes, 0, KeyType::kAes128, zero_key).ok());
  EXPECT_EQ(run({.ins = Ins::kChangeKeySettings, .data = {0x0F}, .command_mode = CommMode::kFull}),
            "");
  ASSERT_TRUE(s.ChangeKey(0x80, KeyType::kAes128, zero_key, 0x42, {}).ok());
  EXPECT_FALSE(s.authenticated());

  // §1.10 b; FormatPICC; CreateApplication AAAAAA (settings 02, 14 AES keys).
  ASSERT_TRUE(s.Authenticate(AuthScheme::kAes, 0, KeyType::kAes128, zero_key).ok());
  EXPECT_EQ(run({.ins = Ins::kFormatPicc}), "");
  EXPECT_EQ(run({.ins = Ins::kCreateApplication, .header = H("aaaaaa 02 8e")}), "");

  // SelectApplication ends the PICC-level session.
  EXPECT_EQ(run({.ins = Ins::kSelectApplication, .header = H("aaaaaa")}), "");
  EXPECT_FALSE(s.authenticated());

  // §1.10 c; ChangeKey(5), a key other than the authenticated one.
  ASSERT_TRUE(s.Authenticate(AuthScheme::kAes, 0, KeyType::kAes128, zero_key).ok());
  ASSERT_TRUE(s.ChangeKey(0x05, KeyType::kAes128, zero_key, 0x42, zero_key).ok());
  EXPECT_TRUE(s.authenticated());
  EXPECT_EQ(run({.ins = Ins::kCreateStdDataFile, .header = H("0f 03 5412 640000")}), "");
  EXPECT_EQ(run({.ins = Ins::kGetKeyVersion, .header = {0x05}}), "42");

  // §1.10 d with key 5; file 0F is fully enciphered.
  ASSERT_TRUE(s.Authenticate(AuthScheme::kAes, 5, KeyType::kAes128, zero_key).ok());
  const Command settings{.ins = Ins::kGetFileSettings, .header = {0x0F}};
  EXPECT_EQ(run(settings), "00035412640000");
  EXPECT_EQ(run({.ins = Ins::kWriteData,
                 .header = H("0f 000000 1e0000"),
                 .data = Ascii("Some data to write to the card"),
                 .command_mode = CommMode::kFull}),
            "");
  EXPECT_EQ(run(settings), "00035412640000");
  EXPECT_EQ(run({.ins = Ins::kWriteData,
                 .header = H("0f 220000 160000"),
                 .data = Ascii("Another block of data."),
                 .command_mode = CommMode::kFull}),
            "");
  EXPECT_EQ(run(settings), "00035412640000");

  // ReadData with an explicit length: 00 padding.
  Bytes part = Ascii("to write to the card");
  part.resize(part.size() + 4);
  Bytes another = Ascii("Another block of data.");
  part.insert(part.end(), another.begin(), another.end());
  part.resize(part.size() + 4);
  EXPECT_EQ(run({.ins = Ins::kReadData,
                 .header = H("0f 0a0000 320000"),
                 .response_mode = CommMode::kFull,
                 .response_length = 50}),
            HexEncode(part));

  // ReadData of the whole file (length 0): 80 00.. padding, length found from the CRC.
  Bytes file = Ascii("Some data to write to the card");
  file.resize(34);
  file.insert(file.end(), another.begin(), another.end());
  file.resize(100);
  EXPECT_EQ(run({.ins = Ins::kReadData,
                 .header = H("0f 000000 000000"),
                 .response_mode = CommMode::kFull}),
            HexEncode(file));
  EXPECT_TRUE(s.authenticated());
  EXPECT_TRUE(f.transport.Finished()) << f.transport.Remaining();
}

// The same session, but the last ciphertext frame of the whole-file read is tampered with:
// the CRC no longer matches and the read fails as an integrity error.
TEST(Ev1MessagingTest, TamperedEncipheredResponseIsRefused) {
  std::vector<ScriptedTransport::HexExchange> script = Transcript_2_3();
  // Keep everything up to the whole-file read, with its last frame changed.
  script.back().response = "cd 9e 41 32 ef 54 a8 c6 c3 a1 36 83 55 59 d6 de 91 00";
  Fixture f(script, RndA_1_10());
  Session& s = f.session;
  const Bytes zero_key(16);
  // Fast-forward through the transcript with the same calls as above.
  ASSERT_TRUE(s.Execute({.ins = Ins::kSelectApplication, .header = H("000000")}).ok());
  ASSERT_TRUE(s.Execute({.ins = Ins::kGetVersion}).ok());
  ASSERT_TRUE(s.Execute({.ins = Ins::kGetKeyVersion, .header = {0x00}}).ok());
  ASSERT_TRUE(s.Authenticate(AuthScheme::kAes, 0, KeyType::kAes128, zero_key).ok());
  ASSERT_TRUE(
      s.Execute({.ins = Ins::kChangeKeySettings, .data = {0x0F}, .command_mode = CommMode::kFull})
          .ok());
  ASSERT_TRUE(s.ChangeKey(0x80, KeyType::kAes128, zero_key, 0x42, {}).ok());
  ASSERT_TRUE(s.Authenticate(AuthScheme::kAes, 0, KeyType::kAes128, zero_key).ok());
  ASSERT_TRUE(s.Execute({.ins = Ins::kFormatPicc}).ok());
  ASSERT_TRUE(s.Execute({.ins = Ins::kCreateApplication, .header = H("aaaaaa 02 8e")}).ok());
  ASSERT_TRUE(s.Execute({.ins = Ins::kSelectApplication, .header = H("aaaaaa")}).ok());
  ASSERT_TRUE(s.Authenticate(AuthScheme::kAes, 0, KeyType::kAes128, zero_key).ok());
  ASSERT_TRUE(s.ChangeKey(0x05, KeyType::kAes128, zero_key, 0x42, zero_key).ok());
  ASSERT_TRUE(s.Execute({.ins = Ins::kCreateStdDataFile, .header = H("0f 03 5412 640000")}).ok());
  ASSERT_TRUE(s.Execute({.ins = Ins::kGetKeyVersion, .header = {0x05}}).ok());
  ASSERT_TRUE(s.Authenticate(AuthScheme::kAes, 5, KeyType::kAes128, zero_key).ok());
  const Command settings{.ins = Ins::kGetFileSettings, .header = {0x0F}};
  ASSERT_TRUE(s.Execute(settings).ok());
  ASSERT_TRUE(s.Execute({.ins = Ins::kWriteData,
                         .header = H("0f 000000 1e0000"),
                         .data = Ascii("Some data to write to the card"),
                         .command_mode = CommMode::kFull})
                  .ok());
  ASSERT_TRUE(s.Execute(settings).ok());
  ASSERT_TRUE(s.Execute({.ins = Ins::kWriteData,
                         .header = H("0f 220000 160000"),
                         .data = Ascii("Another block of data."),
                         .command_mode = CommMode::kFull})
                  .ok());
  ASSERT_TRUE(s.Execute(settings).ok());
  ASSERT_TRUE(s.Execute({.ins = Ins::kReadData,
                         .header = H("0f 0a0000 320000"),
                         .response_mode = CommMode::kFull,
                         .response_length = 50})
                  .ok());
  absl::StatusOr<Bytes> r = s.Execute(
      {.ins = Ins::kReadData, .header = H("0f 000000 000000"), .response_mode = CommMode::kFull});
  EXPECT_EQ(ReasonOf(r.status()), "INTEGRITY_ERROR");
  EXPECT_FALSE(s.authenticated());
}

}  // namespace
}  // namespace desfired::desfire
