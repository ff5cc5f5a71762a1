// Authentication replayed against published transcripts (vectors §1), with RndA injected.
// Each transcript is real-card or reference-implementation traffic; ScriptedTransport fails
// the test if the host sends a single different byte (so the tokens are checked exactly).
#include <gtest/gtest.h>

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

// §1.1 legacy 0A, DES key d10023456789abcd, key no 01 —
// MichaelsPlayground/TalkToYourDESFireCard docs/auth1d_d40.html.
TEST(AuthenticateTest, LegacyDes_1_1) {
  Fixture f({{"90 0a 00 00 01 01 00", "eb0533b4bc89afcf 91af"},
             {"90 af 00 00 10 88e199b02da83367557208d962ae4b4f 00", "6ccc27d21352c5ee 9100"}},
            {H("45cc39928713e1c0")});
  ASSERT_TRUE(
      f.session.Authenticate(AuthScheme::kLegacy, 1, KeyType::kDes, H("d10023456789abcd")).ok());
  EXPECT_TRUE(f.session.authenticated());
  EXPECT_TRUE(f.transport.Finished());
}

// §1.3 legacy 0A, DES 00×8 on a real EV1 through an ACR122 (pokusew/nfc-pcsc#17); the
// following ReadData is refused by the card with 91 9D.
TEST(AuthenticateTest, LegacyDesRealCard_1_3) {
  Fixture f({{"90 0a 00 00 01 00 00", "6b 58 43 85 e0 ad 5d 80 91 af"},
             {"90 af 00 00 10 d5 f5 58 dd 18 23 28 47 50 c0 b9 ec 75 ea 8d 6c 00",
              "bd 52 c8 3c f3 59 ac eb 91 00"},
             {"90 bd 00 00 07 02 00 00 00 0e 00 00 00", "91 9d"}},
            {H("17d383f632dee67f")});
  ASSERT_TRUE(f.session.Authenticate(AuthScheme::kLegacy, 0, KeyType::kDes, Bytes(8)).ok());
  absl::StatusOr<Bytes> r =
      f.session.Execute({.ins = Ins::kReadData, .header = H("02 000000 0e0000")});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(apdu::GetDesfireStatus(r.status()), 0x9D);
  EXPECT_FALSE(f.session.authenticated());  // the card drops the session on errors
  EXPECT_TRUE(f.transport.Finished());
}

// §1.3b legacy 0A with a 2K3DES key 00×16 (K1 = K2) and RndA 00×8 — NXP MIFARE forum
// reply 28755.
TEST(AuthenticateTest, Legacy2k3desEqualHalves_1_3b) {
  Fixture f({{"90 0a 00 00 01 00 00", "a4 83 00 fb 5e 29 fd 78 91 af"},
             {"90 af 00 00 10 8c a6 4d e9 c1 b1 23 a7 ed bf ce 53 48 6b 6d 00 00",
              "8c a6 4d e9 c1 b1 23 a7 91 00"}},
            {Bytes(8)});
  ASSERT_TRUE(f.session.Authenticate(AuthScheme::kLegacy, 0, KeyType::k2Tdea, Bytes(16)).ok());
  EXPECT_TRUE(f.transport.Finished());
}

// §1.4 ISO 1A, DES 00×8 — Elmü (patsys/desfire-python test.py Test_DES), followed by
// §2.2: GetVersion in the DES session, three reply frames, 3DES-CMAC over all 28 bytes ‖ 00.
TEST(AuthenticateTest, IsoDesThenGetVersion_1_4_And_2_2) {
  Fixture f({{"90 1a 00 00 01 00 00", "5D994CE085F24089 91af"},
             {"90 af 00 00 10 21D0AD5F2FD97454A746CC80567F1B1C 00", "913C6DED84221C41 9100"},
             {"90 60 00 00 00", "04 01 01 01 00 1A 05 91 AF"},
             {"90 af 00 00 00", "04 01 01 01 04 1A 05 91 AF"},
             {"90 af 00 00 00",
              "04 06 3F 72 63 34 80 BA 45 19 E3 20 49 13 CD C8 10 BA FA 40 17 59 91 00"}},
            {H("849B36C5F8BF4A09")});
  ASSERT_TRUE(f.session.Authenticate(AuthScheme::kIso, 0, KeyType::kDes, Bytes(8)).ok());
  absl::StatusOr<Bytes> version = f.session.Execute({.ins = Ins::kGetVersion});
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_EQ(HexEncode(*version),
            "04010101001a05"
            "04010101041a05"
            "04063f72633480ba4519e3204913");
  EXPECT_TRUE(f.transport.Finished());
}

// §1.5 ISO 1A, DES 00×8, proxmark3 on a real card (RfidResearchGroup/proxmark3#2961), then
// FormatPICC whose reply CMAC is chained from the CMAC of the command.
TEST(AuthenticateTest, IsoDesRealCardThenFormat_1_5) {
  Fixture f({{"90 1A 00 00 01 00 00", "83 B8 79 40 92 32 72 59 91 AF"},
             {"90 AF 00 00 10 CC 45 06 66 5C 22 9B 49 BB D7 B6 71 13 A9 42 F3 00",
              "03 FB 11 80 0B 82 04 95 91 00"},
             {"90 FC 00 00 00", "0A 28 19 F8 0B A0 56 A0 91 00"}},
            {H("0102030405060708")});
  ASSERT_TRUE(f.session.Authenticate(AuthScheme::kIso, 0, KeyType::kDes, Bytes(8)).ok());
  absl::StatusOr<Bytes> r = f.session.Execute({.ins = Ins::kFormatPicc});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->empty());
  EXPECT_TRUE(f.transport.Finished());
}

// §1.6 ISO 1A, 2K3DES key 00 10 20 31 ... — Elmü (skelsec/pydesfire AuthTest_2DES).
TEST(AuthenticateTest, Iso2k3des_1_6) {
  Fixture f({{"90 1a 00 00 01 00 00", "B2 95 57 99 26 15 5A E3 91 AF"},
             {"90 af 00 00 10 70F349740C945DAE159BA9FEDBCC461A 00", "B8FD7FE56B241FC4 9100"}},
            {H("530E3D90F7A201C4")});
  ASSERT_TRUE(f.session
                  .Authenticate(AuthScheme::kIso, 0, KeyType::k2Tdea,
                                H("00 10 20 31 40 50 60 70 80 90 A0 B0 B0 A0 90 80"))
                  .ok());
  EXPECT_TRUE(f.transport.Finished());
}

// §1.7 ISO 1A, 3K3DES 00×24 — Elmü (AuthTest_3DES).
TEST(AuthenticateTest, Iso3k3des_1_7) {
  Fixture f({{"90 1a 00 00 01 00 00", "BC1C570BC948156187132364E4DCE176 91AF"},
             {"90 af 00 00 20 DDDC9A77597F03A40C7FAA362F45A8EADBE46A115D98198CBF36A6E51B39D87C 00",
              "7244D935ED9A1306CD8C841A7C1DE39A 9100"}},
            {H("36C5F8BF4A09AC239E8DA0C73251D4AB")});
  ASSERT_TRUE(f.session.Authenticate(AuthScheme::kIso, 0, KeyType::k3Tdea, Bytes(24)).ok());
  EXPECT_TRUE(f.transport.Finished());
}

// §1.8 AES AA, 00×16 — Elmü (AuthTest_AES).
std::vector<ScriptedTransport::HexExchange> Aes_1_8(absl::string_view reply) {
  return {{"90 aa 00 00 01 00 00", "B969FDFE56FD91FC9DE6F6F213B8FD1E 91AF"},
          {"90 af 00 00 20 36AAD7DF6E436BA08D18613830A70D5AD43E3D3F4A8D47541EEE623A934E4774 00",
           std::string(reply)}};
}

TEST(AuthenticateTest, Aes_1_8) {
  Fixture f(Aes_1_8("800DB680BC146BD121D6578F2D2E2059 9100"),
            {H("F44B26F5686F3A391CD38EBD10772281")});
  ASSERT_TRUE(f.session.Authenticate(AuthScheme::kAes, 0, KeyType::kAes128, Bytes(16)).ok());
  EXPECT_EQ(f.session.scheme(), AuthScheme::kAes);
  EXPECT_TRUE(f.transport.Finished());
}

TEST(AuthenticateTest, WrongRndAPrimeFailsAuthentication) {
  // The last byte of the card's ek(RndA') changed: decrypts to something else.
  Fixture f(Aes_1_8("800DB680BC146BD121D6578F2D2E205A 9100"),
            {H("F44B26F5686F3A391CD38EBD10772281")});
  absl::Status s = f.session.Authenticate(AuthScheme::kAes, 0, KeyType::kAes128, Bytes(16));
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(ReasonOf(s), "AUTHENTICATION_FAILED");
  EXPECT_FALSE(f.session.authenticated());
}

TEST(AuthenticateTest, CardRejectingTheTokenFailsAuthentication) {
  Fixture f(Aes_1_8("91 AE"), {H("F44B26F5686F3A391CD38EBD10772281")});
  absl::Status s = f.session.Authenticate(AuthScheme::kAes, 0, KeyType::kAes128, Bytes(16));
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(apdu::GetDesfireStatus(s), 0xAE);
  EXPECT_FALSE(f.session.authenticated());
}

TEST(AuthenticateTest, CardRemovedDuringAuthentication) {
  Fixture f(Aes_1_8(""), {H("F44B26F5686F3A391CD38EBD10772281")});
  absl::Status s = f.session.Authenticate(AuthScheme::kAes, 0, KeyType::kAes128, Bytes(16));
  EXPECT_EQ(ReasonOf(s), "CARD_REMOVED");
  EXPECT_FALSE(f.session.authenticated());
}

TEST(AuthenticateTest, WrongKeyForTheCardFails) {
  // Same transcript, but the host holds key 01×16: its token differs from the recorded one,
  // so the script refuses it (a card would answer 91 AE).
  Fixture f(Aes_1_8("800DB680BC146BD121D6578F2D2E2059 9100"),
            {H("F44B26F5686F3A391CD38EBD10772281")});
  absl::Status s = f.session.Authenticate(AuthScheme::kAes, 0, KeyType::kAes128, Bytes(16, 0x01));
  EXPECT_FALSE(s.ok());
  EXPECT_FALSE(f.session.authenticated());
}

TEST(AuthenticateTest, RejectsKeyTypesTheCommandCannotUse) {
  ScriptedTransport t({});
  Channel channel(t);
  Session session(channel);
  EXPECT_EQ(session.Authenticate(AuthScheme::kAes, 0, KeyType::kDes, Bytes(8)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(session.Authenticate(AuthScheme::kLegacy, 0, KeyType::k3Tdea, Bytes(24)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(session.Authenticate(AuthScheme::kIso, 0, KeyType::kAes128, Bytes(16)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(session.Authenticate(AuthScheme::kAes, 0, KeyType::kAes128, Bytes(15)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(t.position(), 0u);
}

TEST(AuthenticateTest, DefaultRandomSourceIsUsed) {
  // With OpenSSL's RNG the token cannot match the recording: the script refuses it, and the
  // session is not authenticated. (Guards against a constant RndA, as in a public tool.)
  ScriptedTransport t =
      *ScriptedTransport::FromHex(Aes_1_8("800DB680BC146BD121D6578F2D2E2059 9100"));
  Channel channel(t);
  Session session(channel);
  EXPECT_FALSE(session.Authenticate(AuthScheme::kAes, 0, KeyType::kAes128, Bytes(16)).ok());
  EXPECT_EQ(t.position(), 1u);
}

}  // namespace
}  // namespace desfired::desfire
