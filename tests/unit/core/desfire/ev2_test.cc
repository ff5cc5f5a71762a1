// EV2 authentication (0x71) and secure messaging against the published vectors (§3).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/apdu/scripted_transport.h"
#include "core/apdu/status_payload.h"
#include "core/desfire/channel.h"
#include "core/desfire/session.h"
#include "test_util.h"

namespace desfired::desfire {

namespace {

using apdu::ScriptedTransport;
using crypto::KeyType;
using testing::H;
using testing::ReasonOf;

using Fixture = testing::ScriptedSession;

// §3.1 AN12196 §6.6 (icedevml/nfc-ev2-crypto test_ev2.py test_auth1), key 00×16.
TEST(Ev2Test, AuthenticateEv2First_An12196_6_6) {
  Fixture f({{"90 71 00 00 02 00 00 00", "A04C124213C186F22399D33AC2A30215 91AF"},
             {"90 AF 00 00 20 35C3E05A752E0144BAC0DE51C1F22C56B34408A23D8AEA266CAB947EA8E0118D 00",
              "3FA64DB5446D1F34CD6EA311167F5E4985B89690C04A05F17FA7AB2F08120663 9100"}},
            {H("13C5DB8A5930439FC3DEF9A4C675360F")});
  ASSERT_TRUE(f.session.Authenticate(AuthScheme::kEv2, 0, KeyType::kAes128, Bytes(16)).ok());
  EXPECT_EQ(f.session.scheme(), AuthScheme::kEv2);
  EXPECT_EQ(HexEncode(f.session.transaction_id()), "9d00c4df");
  EXPECT_EQ(f.session.command_counter(), 0);
  EXPECT_TRUE(f.transport.Finished());
}

TEST(Ev2Test, WrongRndAPrimeFails) {
  Fixture f({{"90 71 00 00 02 00 00 00", "A04C124213C186F22399D33AC2A30215 91AF"},
             {"90 AF 00 00 20 35C3E05A752E0144BAC0DE51C1F22C56B34408A23D8AEA266CAB947EA8E0118D 00",
              "3FA64DB5446D1F34CD6EA311167F5E4A85B89690C04A05F17FA7AB2F08120663 9100"}},
            {H("13C5DB8A5930439FC3DEF9A4C675360F")});
  absl::Status s = f.session.Authenticate(AuthScheme::kEv2, 0, KeyType::kAes128, Bytes(16));
  EXPECT_EQ(ReasonOf(s), "AUTHENTICATION_FAILED");
  EXPECT_FALSE(f.session.authenticated());
}

// §3.2 AN12196 §6.10 (test_auth2), then §3.6 the enciphered WriteData of AN12196 §6.12
// (test_full2) in that session: TI 7614281A, CmdCtr 0.
TEST(Ev2Test, AuthenticateThenFullWriteData_An12196_6_10_And_6_12) {
  Fixture f({{"90 71 00 00 02 00 00 00", "B875CEB0E66A6C5CD00898DC371F92D1 91AF"},
             {"90AF000020 FF0306E47DFBC50087C4D8A78E88E62DE1E8BE457AA477C707E2F0874916A8B1 00",
              "0CC9A8094A8EEA683ECAAC5C7BF20584206D0608D477110FC6B3D5D3F65C3A6A 9100"},
             {"90 8D 00 00 1F 03 000000 0A0000 6B5E6804909962FC4E3FF5522CF0F843 "
              "6C0C53315B9C73AA 00",
              "C26D236E4A7C046D 9100"}},
            {H("B98F4C50CF1C2E084FD150E33992B048")});
  ASSERT_TRUE(f.session.Authenticate(AuthScheme::kEv2, 0, KeyType::kAes128, Bytes(16)).ok());
  EXPECT_EQ(HexEncode(f.session.transaction_id()), "7614281a");
  absl::StatusOr<Bytes> r = f.session.Execute({.ins = Ins::kWriteDataIsoChaining,
                                               .header = H("03 000000 0A0000"),
                                               .data = H("0102030405060708090A"),
                                               .command_mode = CommMode::kFull,
                                               .response_mode = CommMode::kMac});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->empty());
  EXPECT_EQ(f.session.command_counter(), 1);
  EXPECT_TRUE(f.transport.Finished()) << f.transport.Remaining();
}

// §3.4 AN12196 §5.3 (test_mac1): GetFileSettings(02) MACed both ways.
std::vector<ScriptedTransport::HexExchange> GetFileSettings_5_3(absl::string_view mac) {
  return {{"90 F5 00 00 09 02 6597A457C8CD442C 00",
           std::string("0040EEEE000100D1FE001F00004400004400002000006A0000 ") + std::string(mac) +
               " 9100"}};
}

// GetFileSettings(02) MACed both ways in the EV2 session of §5.3 (key 00×16, CmdCtr 0).
absl::StatusOr<Bytes> MacedGetFileSettings_5_3(Fixture& f) {
  SessionTestPeer::StartEv2(f.session, Bytes(16), H("8248134A386E86EB7FAF54A52E536CB6"),
                            H("7A21085E"), 0);
  return f.session.Execute({.ins = Ins::kGetFileSettings,
                            .header = {0x02},
                            .command_mode = CommMode::kMac,
                            .response_mode = CommMode::kMac});
}

TEST(Ev2Test, MacedCommandAndResponse_An12196_5_3) {
  Fixture f(GetFileSettings_5_3("2A474282E7A47986"), {});
  absl::StatusOr<Bytes> r = MacedGetFileSettings_5_3(f);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(HexEncode(*r), "0040eeee000100d1fe001f00004400004400002000006a0000");
  EXPECT_EQ(f.session.command_counter(), 1);
  EXPECT_TRUE(f.transport.Finished());
}

TEST(Ev2Test, ForgedResponseMacIsRefused) {
  Fixture f(GetFileSettings_5_3("2A474282E7A47987"), {});
  absl::StatusOr<Bytes> r = MacedGetFileSettings_5_3(f);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(ReasonOf(r.status()), "INTEGRITY_ERROR");
  EXPECT_FALSE(f.session.authenticated());
}

TEST(Ev2Test, MissingResponseMacIsRefused) {
  Fixture f({{"90 F5 00 00 09 02 6597A457C8CD442C 00", "91 00"}}, {});
  absl::StatusOr<Bytes> r = MacedGetFileSettings_5_3(f);
  EXPECT_EQ(ReasonOf(r.status()), "INTEGRITY_ERROR");
}

// §3.5 AN12343 p. 54 (proxmark3 desfiretest.c TestEV2MAC): MACed WriteData / ReadData with
// the command counter advancing.
TEST(Ev2Test, MacedWriteAndReadWithCounter_An12343_p54) {
  const std::string data25 = HexEncode(Bytes(25, 0x22));
  Fixture f({{"90 8D 00 00 28 00 000000 190000 " + data25 + " 68F2C28C575A1628 00",
              "0820F68898C2A7F1 9100"},
             {"90 AD 00 00 0F 00 000000 300000 0D9BE191D5960834 00",
              data25 + HexEncode(Bytes(23)) + " A49A44222D926666 9100"}},
            {});
  SessionTestPeer::StartEv2(f.session, Bytes(16), H("9366FA195EB566F5BD2BAD4020B83002"),
                            H("E2D3AF69"), 0);
  absl::StatusOr<Bytes> w = f.session.Execute({.ins = Ins::kWriteDataIsoChaining,
                                               .header = H("00 000000 190000"),
                                               .data = Bytes(25, 0x22),
                                               .command_mode = CommMode::kMac,
                                               .response_mode = CommMode::kMac});
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(f.session.command_counter(), 1);
  absl::StatusOr<Bytes> r = f.session.Execute({.ins = Ins::kReadDataIsoChaining,
                                               .header = H("00 000000 300000"),
                                               .command_mode = CommMode::kMac,
                                               .response_mode = CommMode::kMac});
  ASSERT_TRUE(r.ok()) << r.status();
  Bytes expected(25, 0x22);
  expected.resize(48);
  EXPECT_EQ(HexEncode(*r), HexEncode(expected));
  EXPECT_EQ(f.session.command_counter(), 2);
  EXPECT_TRUE(f.transport.Finished());
}

// §3.6 AN12196 §7.3 (test_full3): GetCardUID with an enciphered response.
TEST(Ev2Test, FullResponseGetCardUid_An12196_7_3) {
  Fixture f({{"90 51 00 00 08 8E2C155ADDA99BE3 00",
              "70756055688505B52A5E26E59E329CD6 595F672298EA41B7 9100"}},
            {});
  SessionTestPeer::StartEv2(f.session, H("2B4D963C014DC36F24F69A50A394F875"),
                            H("379D32130CE61705DD5FD8C36B95D764"), H("DF055522"), 0);
  EXPECT_EQ(SessionTestPeer::Iv(f.session, /*command=*/false, 1),
            "7f6bb0b278ea054cbd238c5d9e9e342b");
  absl::StatusOr<Bytes> r = f.session.Execute({.ins = Ins::kGetCardUid,
                                               .command_mode = CommMode::kMac,
                                               .response_mode = CommMode::kFull,
                                               .response_length = 7});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(HexEncode(*r), "04958caa5c5e80");
  EXPECT_TRUE(f.transport.Finished());
}

// §3.7 proxmark3 TestEV2IVEncode, and the command IV derived for §3.6 §6.12.
TEST(Ev2Test, IvPerCommand) {
  ScriptedTransport t({});
  Channel channel(t);
  Session s(channel);
  SessionTestPeer::StartEv2(s, H("66A8CB93269DC9BC2885B7A91B9C697B"), Bytes(16), H("ED56F6E6"), 0);
  EXPECT_EQ(SessionTestPeer::Iv(s, true, 0), "da0f644a4986275957cf1ec3af4cce53");
  SessionTestPeer::StartEv2(s, H("445A8626B3338459321232FADF6ADE2B"), Bytes(16), H("11223344"), 5);
  EXPECT_EQ(SessionTestPeer::Iv(s, true, 5), "177494fcc4f1dab2afbe8fae2057a9d2");
  SessionTestPeer::StartEv2(s, H("7A93D6571E4B180FCA6AC90C9A7488D4"), Bytes(16), H("7614281A"), 0);
  EXPECT_EQ(SessionTestPeer::Iv(s, true, 0), "4c651a64261a90307b6c293f611c7f7b");
}

// §3.8 CommitReaderID's TMRI response decryption (AN12343 p. 64, quoted in
// MichaelsPlayground/TalkToYourDESFireCard DesfireEv3.java). The vector's "CmdCtr 2" is the
// counter that goes into IV_resp (the already incremented one).
TEST(Ev2Test, ResponseIvWithCounter_An12343_p64) {
  ScriptedTransport t({});
  Channel channel(t);
  Session s(channel);
  const Bytes key = H("78240CC5596B751D90023827B0B7E73D");
  SessionTestPeer::StartEv2(s, key, Bytes(16), H("2D0611EC"), 1);
  const std::string iv_hex = SessionTestPeer::Iv(s, false, 2);
  EXPECT_EQ(iv_hex, "c6565e51ddb5d2a519954ce24e93f3b7");
  Bytes iv = H(iv_hex);
  Bytes data = H("A1963F1BB9FC916A8B15B2DC58002531");
  absl::StatusOr<crypto::BlockCipher> aes = crypto::BlockCipher::Create(KeyType::kAes128, key);
  ASSERT_TRUE(aes.ok());
  ASSERT_TRUE(aes->CbcDecrypt(absl::MakeSpan(iv), absl::MakeSpan(data)).ok());
  EXPECT_EQ(HexEncode(data), "bdd40ed9f434f9ddcbf5821299cd2119");
}

}  // namespace
}  // namespace desfired::desfire
