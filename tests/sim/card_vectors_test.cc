// Card-side tests against published DESFire exchanges. The host's half of every exchange
// (tokens, commands) is replayed from the vectors; the card gets the published RndB (and TI)
// through an injected random source and must produce the published replies byte for byte.
// Section numbers refer to shared/vectors/desfire_vectors.md, which gives the primary
// source of each vector.
#include <initializer_list>
#include <string>
#include <utility>

#include "absl/strings/string_view.h"
#include "core/crypto/block_cipher.h"
#include "core/crypto/cmac.h"
#include "gtest/gtest.h"
#include "sim/card/card.h"
#include "sim/card/model.h"
#include "tests/sim/sim_test_util.h"

namespace desfired::sim {
namespace {

using crypto::KeyType;
using testing::H;
using testing::RunTranscript;
using testing::ScriptedRandom;

Application MakeApp(uint32_t aid, KeyType family, std::vector<Key> keys,
                    uint8_t key_settings = 0x0F) {
  Application app;
  app.aid = aid;
  app.key_family = family;
  app.key_settings = key_settings;
  app.keys = std::move(keys);
  return app;
}

// The card's random source: the published RndB (and TI) of a vector, in the order drawn.
RandomSource RandomOf(std::initializer_list<absl::string_view> hex) {
  ScriptedRandom rnd;
  for (absl::string_view h : hex) rnd.Push(H(h));
  return rnd.Source();
}

// A blank card whose PICC key is `key`.
CardState WithPiccKey(Key key) {
  CardState state;
  state.picc_key = std::move(key);
  return state;
}

// RndB from the published E_K(RndB) (AES, IV 0): a derived value, as in the vectors file.
Bytes AesDecryptBlock(const Bytes& key, const Bytes& block) {
  auto c = crypto::BlockCipher::Create(KeyType::kAes128, key);
  EXPECT_TRUE(c.ok());
  Bytes out(16);
  c->DecryptBlock(block.data(), out.data());
  return out;
}

// §1.9 (skelsec/pydesfire:tests.py AuthTest_AES2, Elmü's trace) followed by §2.1
// (patsys/desfire-python:test.py File(), responses recorded from a real card): AES key
// 10 18 20 .. 88, then CMAC chaining over plain commands and responses with one IV.
TEST(CardVectorsTest, AesNonZeroKeyAuthThenCmacChaining) {
  CardState state;
  state.applications.push_back(
      MakeApp(0x000001, KeyType::kAes128,
              {Key{KeyType::kAes128, H("10182028303840485058606870788088"), 0}}));
  Card card(std::move(state), RandomOf({"626FFBD45CAF334ACCA45599304F5B17"}));
  RunTranscript(card, {
                          {"905a00000301000000", "9100"},
                          {"90aa0000010000", "b351cb2465d4f33ac627fd6e87a168f291af"},
                          {"90af000020044b6cac343a08658951"
                           "49649ca8dde1f5ac4ec67bd208900af02f049e05f0b000",
                           "a2ee144b1012fbeb7b2f11132d95a4549100"},
                          // CreateStdDataFile(5, plain, rights 11 00, 80 bytes)
                          {"90cd000007050011005000 0000", "a75316ad1596b9539100"},
                          {"906f000000", "052d5ff67ffec9d2d39100"},
                          {"90f500000105"
                           "00",
                           "000011005000002aac7517024e09dc9100"},
                      });
  std::string frame1 = "903d00003b05000000340000";
  for (int i = 0; i < 0x34; ++i) frame1 += HexEncode(Bytes{static_cast<uint8_t>(i)});
  frame1 += "00";
  // Lc = 7 + 52 = 59 = 0x3b.
  EXPECT_EQ(HexEncode(card.Transmit(H(frame1))), "765c9daa50ecb62f9100");
  std::string frame2 =
      "903d0000230534000"
      "01c0000";
  for (int i = 0x34; i < 0x50; ++i) frame2 += HexEncode(Bytes{static_cast<uint8_t>(i)});
  frame2 += "00";
  EXPECT_EQ(HexEncode(card.Transmit(H(frame2))), "3e0aed986b8b0f379100");
  std::string read1;
  for (int i = 0; i < 0x30; ++i) read1 += HexEncode(Bytes{static_cast<uint8_t>(i)});
  EXPECT_EQ(HexEncode(card.Transmit(H("90bd0000070500000030000000"))),
            read1 + "4c65f1f842262bac9100");
  std::string read2;
  for (int i = 0x30; i < 0x50; ++i) read2 += HexEncode(Bytes{static_cast<uint8_t>(i)});
  EXPECT_EQ(HexEncode(card.Transmit(H("90bd0000070530000020000000"))),
            read2 + "f02205cf913c03c99100");
  EXPECT_EQ(HexEncode(card.Transmit(H("90df0000010500"))), "1bef0d32b6d1d7f99100");
}

// §1.8 (skelsec/pydesfire:tests.py AuthTest_AES): AES key 00×16.
TEST(CardVectorsTest, AesZeroKeyAuth) {
  Card card(WithPiccKey(Key{KeyType::kAes128, Bytes(16, 0), 0}),
            RandomOf({"C05DDD714FD788A6B7B754F3C4D066E8"}));
  RunTranscript(card,
                {
                    {"90aa0000010000", "b969fdfe56fd91fc9de6f6f213b8fd1e91af"},
                    {"90af00002036aad7df6e436ba08d18613830a70d5ad43e3d3f4a8d47541eee623a934e477400",
                     "800db680bc146bd121d6578f2d2e20599100"},
                });
  EXPECT_EQ(card.channel().scheme(), AuthScheme::kEv1);
}

// §2.3 (skjolber/desfire-tools-for-android AESEncryptionTest.testAES2) with the four
// authentications of §1.10: a full EV1 AES session — ChangeKeySettings and ChangeKey
// enciphered, FormatPICC, CreateApplication, ChangeKey of another key (XOR + two CRCs),
// enciphered WriteData with input chaining, enciphered ReadData with output chaining and
// both paddings (00.. for an explicit length, 80 00.. for the whole file).
TEST(CardVectorsTest, AesFullSessionSkjolber) {
  const Bytes zero(16, 0);
  ScriptedRandom rnd;
  for (const char* ek : {"707a8a39fa7ca75871deb4ab9d6d3e33", "a0f08eb0dec8ef454e1b7c2daef14827",
                         "e726d1cc04af0b346a4aef1d16ef336c", "7a4fbe87792e6ff13df9b5304c65f484"}) {
    rnd.Push(AesDecryptBlock(zero, H(ek)));
  }
  CardState state;
  state.picc_key = Key{KeyType::kAes128, zero, 0x42};
  Card card(std::move(state), rnd.Source());
  RunTranscript(
      card,
      {
          // 1.10 a
          {"90aa0000010000", "707a8a39fa7ca75871deb4ab9d6d3e3391af"},
          {"90af000020461b4dcee9d6c6d6a0b6aa2de2d7445b3b3cdcf6886b6518ec11186bf97a3a0400",
           "c377d8475443ae5d19624083289210f99100"},
          {"90540000105d83dfe56649f405dfb6f3b93da719fe00", "f06d308b21c890d99100"},
          {"90c4000021800a9697920f1a2fc65e393257610ec40d9627821b75cd9bb3500dde5eabe48fdb00",
           "9100"},
          // 1.10 b
          {"90aa0000010000", "a0f08eb0dec8ef454e1b7c2daef1482791af"},
          {"90af000020c26ac5150c7de2e4be7f2817272b3c07404deeb02e83c703e604fbf59c04709000",
           "f1b4a0bb8bbd5a97878d4ec4b74d5d199100"},
          {"90fc000000", "8e20683cf45250909100"},
          {"90ca000005aaaaaa028e00", "155fff8b3cf54fe59100"},
          {"905a000003aaaaaa00", "9100"},
          // 1.10 c
          {"90aa0000010000", "e726d1cc04af0b346a4aef1d16ef336c91af"},
          {"90af00002065878443ec6f40cd9516a102b62c3d08b58a07144add007992da9a2591522239"
           "00",
           "7501b90c87148cbbe8369fafa927167a9100"},
          {"90c4000021054828c671fb090a024ae0a511aee8dbccb191229cb8e935150da476cd11acec4f00",
           "bd5299e695afee079100"},
          {"90cd0000070f03541264000000", "d5ece1d1e0aa978a9100"},
          {"90640000010500", "42eb5849477bae905a9100"},
          // 1.10 d
          {"90aa0000010500", "7a4fbe87792e6ff13df9b5304c65f48491af"},
          {"90af000020bdebf8b514a2c0bf2b8b9892c2f23b5b1aaf139446182dedc9863f6b67b15b9000",
           "bdf43383ac379687f93f3577b935b8ef9100"},
          {"90f50000010f00", "000354126400007efde2c2c81ad2369100"},
          {"903d0000360f0000001e000081995df0a75cf39bf6591bbf982a9efa055b94d4f688b08c2b7ec71863"
           "148d282120659772536e33d3507e071ded1400",
           "91af"},
          {"90af0000016400", "d51c9dc812428d409100"},
          {"90f50000010f00", "00035412640000cca208ab50d8bc879100"},
          {"903d0000270f2200001600 00df04331a737e431c7548d0c358ac15 82578a960b5ee51bd450b7c74d04"
           "79c0de00",
           "86cdc76282299caf9100"},
          {"90f50000010f00", "00035412640000e1683ba6067a09a29100"},
          {"90bd0000070f0a0000320000 00",
           "99ee41fccc299f4d7f2aefaf54b1480faf0dccf7932b020aa5a21e34a38a30f367325a5b82eaf8f4a845"
           "f5f2ca9e0d2491af"},
          {"90af000000", "6be1296b82193c71d0c85eb443ec003c9100"},
          {"90bd0000070f00000000000000",
           "9c3e977ad9f257b76bd66821d30bc9a5a4cd23ad7ed4fe9ee0580656cb609d06eb261a0d7b842d25e212"
           "3bc6195371d591af"},
          {"90af000000",
           "d9d05186afad6bc9ae5ca0557106a224c79aab27f8dfab7215f7ed936cf1b7f831e589806939b2becfb6"
           "3c9464a8c12c91af"},
          {"90af000000", "cd9e4132ef54a8c6c3a136835559d6dd9100"},
      });
  Application* app = card.mutable_state().FindApplication(0xAAAAAA);
  ASSERT_NE(app, nullptr);
  const std::string text(app->files[0].data.begin(), app->files[0].data.begin() + 56);
  EXPECT_EQ(text.substr(0, 30), "Some data to write to the card");
  EXPECT_EQ(text.substr(34, 22), "Another block of data.");
  EXPECT_EQ(app->keys[5].version, 0x42);
}

// §1.4 (patsys/desfire-python:test.py Test_DES, Elmü's PN532 trace) + §2.2: ISO 1A with a
// DES key 00×8, then GetVersion with the 3DES-CMAC over all three frames.
TEST(CardVectorsTest, IsoDesAuthThenGetVersionCmac) {
  Card card(CardState::Blank(), RandomOf({"4FD1B75942A8B8E1"}));
  RunTranscript(card, {
                          {"901a0000010000", "5d994ce085f2408991af"},
                          {"90af00001021d0ad5f2fd97454a746cc80567f1b1c00", "913c6ded84221c419100"},
                          {"9060000000", "0401010100 1a0591af"},
                          {"90af000000", "04010101041a0591af"},
                          {"90af000000", "04063f72633480ba4519e32049 13cdc810bafa4017599100"},
                      });
}

// §1.6 (skelsec/pydesfire:tests.py AuthTest_2DES): ISO 1A with a true 2K3DES key.
TEST(CardVectorsTest, Iso2k3desAuth) {
  Card card(WithPiccKey(Key{KeyType::k2Tdea, H("00102031405060708090A0B0B0A09080"), 0}),
            RandomOf({"BCD8299747332DAF"}));
  RunTranscript(card, {
                          {"901a0000010000", "b295579926155ae391af"},
                          {"90af00001070f349740c945dae159ba9fedbcc461a00", "b8fd7fe56b241fc49100"},
                      });
}

// §1.7 (skelsec/pydesfire:tests.py AuthTest_3DES): ISO 1A with a 3K3DES key 00×24.
TEST(CardVectorsTest, Iso3k3desAuth) {
  Card card(WithPiccKey(Key{KeyType::k3Tdea, Bytes(24, 0), 0}),
            RandomOf({"316E6D76A449F925BA304FB2653656A2"}));
  RunTranscript(card,
                {
                    {"901a0000010000", "bc1c570bc9481561871323 64e4dce17691af"},
                    {"90af000020dddc9a77597f03a40c7faa362f45a8eadbe46a115d98198cbf36a6e51b39d87c00",
                     "7244d935ed9a1306cd8c841a7c1de39a9100"},
                });
}

// §1.1 (MichaelsPlayground/TalkToYourDESFireCard docs/auth1d_d40.html): legacy 0A with
// the non-zero DES key d10023456789abcd as key 1 of an application.
TEST(CardVectorsTest, LegacyDesNonZeroKeyAuth) {
  CardState state;
  state.applications.push_back(
      MakeApp(0x000001, KeyType::kDes,
              {Key{KeyType::kDes, Bytes(8, 0), 0}, Key{KeyType::kDes, H("d10023456789abcd"), 0}}));
  Card card(std::move(state), RandomOf({"c4a3468fb0d87e74"}));
  RunTranscript(card, {
                          {"905a00000301000000", "9100"},
                          {"900a0000010100", "eb0533b4bc89afcf91af"},
                          {"90af00001088e199b02da83367557208d962ae4b4f00", "6ccc27d21352c5ee9100"},
                      });
  EXPECT_EQ(card.channel().scheme(), AuthScheme::kLegacy);
  EXPECT_EQ(card.channel().key_no(), 1);
}

// §1.2 (skjolber/desfire-tools-for-android DESEncryptionTest.testDES1): legacy 0A with DES
// 00×8, then legacy secure messaging: ChangeKeySettings and ChangeKey (PICC key to AES,
// version 0x42) enciphered in send mode with CRC16.
TEST(CardVectorsTest, LegacyDesSessionChangeKeyToAes) {
  Card card(CardState::Blank(), RandomOf({"afa2c147cfae67a4"}));
  RunTranscript(card,
                {
                    {"900a0000010000", "c93693a0cd32ac3991af"},
                    {"90af000010e96a7e6d790310e8c0b36ed97078240600", "89b5d38c7603dab29100"},
                    {"90540000087340528 6c5c8a14100", "9100"},
                    {"90c4000019800b74925d1b187177bdaf1c2c0a1a3629f6c1335b8fe6b16600", "9100"},
                });
  EXPECT_EQ(card.state().picc_key.type, KeyType::kAes128);
  EXPECT_EQ(HexEncode(card.state().picc_key.value), std::string(32, '0'));
  EXPECT_EQ(card.state().picc_key.version, 0x42);
  EXPECT_FALSE(card.channel().authenticated());  // the session key changed
}

// §3.1 (NXP AN12196 §6.6 via icedevml/nfc-ev2-crypto test_ev2.py test_auth1): EV2First.
// The session keys are checked through a MACed GetKeyVersion built in the test with the
// published SesAuthMACKey and TI.
TEST(CardVectorsTest, Ev2FirstAn12196Section66) {
  Card card(WithPiccKey(Key{KeyType::kAes128, Bytes(16, 0), 0}),
            RandomOf({"B9E2FC789B64BF237CCCAA20EC7E6E48", "9D00C4DF"}));
  RunTranscript(card,
                {
                    {"9071000002000000", "a04c124213c186f22399d33ac2a3021591af"},
                    {"90af00002035c3e05a752e0144bac0de51c1f22c56b34408a23d8aea266cab947ea8e0118d00",
                     "3fa64db5446d1f34cd6ea311167f5e4985b89690c04a05f17fa7ab2f081206639100"},
                });
  ASSERT_EQ(card.channel().scheme(), AuthScheme::kEv2);
  EXPECT_EQ(HexEncode(card.channel().ti()), "9d00c4df");
  // GetKeyVersion(0), MACed with SesAuthMACKey 4C6626F5E72EA694202139295C7A7FC7.
  auto cmac = crypto::Cmac::Create(KeyType::kAes128, H("4C6626F5E72EA694202139295C7A7FC7"));
  ASSERT_TRUE(cmac.ok());
  auto odd = [](const uint8_t* full) {
    Bytes m;
    for (int i = 1; i < 16; i += 2) m.push_back(full[i]);
    return m;
  };
  uint8_t full[16];
  cmac->Compute(H("6400009d00c4df00"), full);
  Bytes apdu = H("906400000900");
  const Bytes mac = odd(full);
  apdu.insert(apdu.end(), mac.begin(), mac.end());
  apdu.push_back(0);
  const Bytes resp = card.Transmit(apdu);
  cmac->Compute(H("0001009d00c4df00"), full);  // RC ‖ CmdCtr 1 ‖ TI ‖ version 00
  Bytes expected = {0x00};
  const Bytes rmac = odd(full);
  expected.insert(expected.end(), rmac.begin(), rmac.end());
  expected.push_back(0x91);
  expected.push_back(0x00);
  EXPECT_EQ(HexEncode(resp), HexEncode(expected));
}

// §3.2 (AN12196 §6.10 via icedevml test_auth2) then §3.6 WriteData (AN12196 §6.12,
// icedevml test_full2): EV2 enciphered WriteData with CmdCtr 0 and the MACt answer.
TEST(CardVectorsTest, Ev2FirstThenFullWriteDataAn12196) {
  CardState state;
  Application app = MakeApp(0x000001, KeyType::kAes128, {Key{KeyType::kAes128, Bytes(16, 0), 0}});
  File f;
  f.id = 3;
  f.type = FileType::kStandard;
  f.comm = kCommFull;
  f.access = AccessRights{0xE, 0x0, 0x0, 0x0};
  f.data.assign(128, 0);
  app.files.push_back(f);
  state.applications.push_back(app);
  Card card(std::move(state), RandomOf({"91517975190DCEA6104948EFA3085C1B", "7614281A"}));
  RunTranscript(card,
                {
                    {"905a00000301000000", "9100"},
                    {"9071000002000000", "b875ceb0e66a6c5cd00898dc371f92d191af"},
                    {"90af000020ff0306e47dfbc50087c4d8a78e88e62de1e8be457aa477c707e2f0874916a8b100",
                     "0cc9a8094a8eea683ecaac5c7bf20584206d0608d477110fc6b3d5d3f65c3a6a9100"},
                    {"908d00001f030000000a00006b5e6804909962fc4e3ff5522cf0f8436c0c53315b9c73aa00",
                     "c26d236e4a7c046d9100"},
                });
  EXPECT_EQ(HexEncode(ByteSpan(card.state().applications[0].files[0].data).subspan(0, 10)),
            "0102030405060708090a");
}

// §3.4 (AN12196 §5.3 via icedevml test_mac1): EV2 MACed command and response, checked
// directly on the channel with the published SesAuthMACKey and TI.
TEST(SecureChannelVectorsTest, Ev2MacGetFileSettings) {
  SecureChannel ch;
  ASSERT_TRUE(
      ch.StartEv2(Bytes(16, 0x11), H("8248134A386E86EB7FAF54A52E536CB6"), H("7A21085E"), 0).ok());
  Bytes body = H("02 6597A457C8CD442C");
  EXPECT_EQ(ch.UnwrapCommand(0xF5, CmdProtection::kMacEv2, {}, body), Sw::kOk);
  EXPECT_EQ(HexEncode(body), "02");
  const Bytes data = H("0040EEEE000100D1FE001F00004400004400002000006A0000");
  Bytes out = ch.WrapResponse(RespProtection::kMacEv2, Sw::kOk, data);
  EXPECT_EQ(HexEncode(out), HexEncode(data) + "2a474282e7a47986");
  EXPECT_EQ(ch.command_counter(), 1);
}

// §3.5 (AN12343 p. 54 via RfidResearchGroup/proxmark3 desfiretest.c TestEV2MAC): MACed
// WriteData and ReadData with the command counter running 0 -> 1 -> 2.
TEST(SecureChannelVectorsTest, Ev2MacWriteReadCounter) {
  SecureChannel ch;
  ASSERT_TRUE(
      ch.StartEv2(Bytes(16, 0x11), H("9366FA195EB566F5BD2BAD4020B83002"), H("E2D3AF69"), 0).ok());
  const Bytes header = H("00000000190000");
  Bytes body(25, 0x22);
  const Bytes mac = H("68F2C28C575A1628");
  body.insert(body.end(), mac.begin(), mac.end());
  EXPECT_EQ(ch.UnwrapCommand(0x8D, CmdProtection::kMac, header, body, 25), Sw::kOk);
  EXPECT_EQ(body.size(), 25u);
  EXPECT_EQ(HexEncode(ch.WrapResponse(RespProtection::kMacEv2, Sw::kOk, {})), "0820f68898c2a7f1");
  Bytes read = H("00000000300000 0D9BE191D5960834");
  EXPECT_EQ(ch.UnwrapCommand(0xAD, CmdProtection::kMacEv2, {}, read), Sw::kOk);
  Bytes content(25, 0x22);
  content.resize(48, 0);
  EXPECT_EQ(HexEncode(ch.WrapResponse(RespProtection::kMac, Sw::kOk, content)),
            HexEncode(content) + "a49a44222d926666");
}

// A wrong MAC is an integrity error, never accepted.
TEST(SecureChannelVectorsTest, Ev2WrongMacIsIntegrityError) {
  SecureChannel ch;
  ASSERT_TRUE(
      ch.StartEv2(Bytes(16, 0x11), H("8248134A386E86EB7FAF54A52E536CB6"), H("7A21085E"), 0).ok());
  Bytes body = H("02 6597A457C8CD442D");
  EXPECT_EQ(ch.UnwrapCommand(0xF5, CmdProtection::kMacEv2, {}, body), Sw::kIntegrityError);
}

}  // namespace
}  // namespace desfired::sim

namespace desfired::sim {
namespace {

using crypto::KeyType;
using testing::H;
using testing::RunTranscript;
using testing::ScriptedRandom;

// §1.5 (RfidResearchGroup/proxmark3 issue #2961, a real card): ISO 1A with DES 00×8 and the
// constant RndA 01..08, then FormatPICC answered with the 3DES-CMAC over 00.
TEST(CardVectorsTest, IsoDesAuthThenFormatPiccProxmark) {
  Card card(CardState::Blank(), RandomOf({"99d2f4ff53ef2d54"}));
  RunTranscript(card, {
                          {"901a0000010000", "83b8794092327259 91af"},
                          {"90af000010cc4506665c229b49bbd7b67113a942f300", "03fb11800b820495 9100"},
                          {"90fc000000", "0a2819f80ba056a0 9100"},
                      });
}

// §1.3 (pokusew/nfc-pcsc issue #17, a real card through an ACR122): legacy 0A with DES
// 00×8, then a ReadData the key may not do: 91 9D.
TEST(CardVectorsTest, LegacyDesAuthThenPermissionDeniedNfcPcsc) {
  Card card(CardState::Blank(), RandomOf({"0ee3a52720e81364"}));
  RunTranscript(card, {
                          {"900a0000010000", "6b584385e0ad5d80 91af"},
                          {"90af000010d5f558dd1823284750c0b9ec75ea8d6c00", "bd52c83cf359aceb 9100"},
                          {"90bd000007 02 000000 0e0000 00", "919d"},
                      });
}

// §2.4 (skelsec/pydesfire:tests.py ChangeKeyTest_*, Elmü): ChangeKey cryptograms with IV 0,
// unwrapped by the card's channel: DES session -> new 2K3DES key; 3K3DES session -> new
// 3K3DES key; AES session -> new AES key 0 (v 0x10); AES key 1 (XOR + two CRCs) and the
// card's answer CMAC.
TEST(SecureChannelVectorsTest, ChangeKeyCryptogramsElmu) {
  {
    SecureChannel ch;
    ASSERT_TRUE(ch.StartEv1(KeyType::kDes, H("C86CE25E4C647E56"), 0).ok());
    Bytes body = H("BEDE0FC6ED347DCF0D51C717DF75D97D2C5A2BA6CAC7479D");
    ASSERT_EQ(ch.UnwrapCommand(0xC4, CmdProtection::kFull, H("00"), body, 16), Sw::kOk);
    EXPECT_EQ(HexEncode(body), "00102031405060708090a0b0b0a09080");
  }
  {
    SecureChannel ch;
    ASSERT_TRUE(
        ch.StartEv1(KeyType::k3Tdea, H("36C4F8BE306E6C76AC229E8CF824BA303250D4AA643656A2"), 0)
            .ok());
    Bytes body = H("F4F865F318CB9DE80B2B165145021F4F3AFEF1244FEA42FC997726FDE750741D");
    ASSERT_EQ(ch.UnwrapCommand(0xC4, CmdProtection::kFull, H("00"), body, 24), Sw::kOk);
    EXPECT_EQ(HexEncode(body), "00102031405060708090a0b0b0a090807060504030201000");
  }
  {
    SecureChannel ch;
    ASSERT_TRUE(ch.StartEv1(KeyType::kAes128, H("F44B26F5C05DDD71107722 81C4D066E8"), 0).ok());
    Bytes body = H("E9F85E219496C2B58C1090DC3935FAE9E840CF61B383D9531946256B1F110C10");
    ASSERT_EQ(ch.UnwrapCommand(0xC4, CmdProtection::kFull, H("00"), body, 17), Sw::kOk);
    EXPECT_EQ(HexEncode(body), "00102030405060708090a0b0b0a0908010");
  }
  {
    SecureChannel ch;
    ASSERT_TRUE(ch.StartEv1(KeyType::kAes128, H("C2A1E47BD8100044FE6D00A74D7AB17C"), 0).ok());
    Bytes body = H("E7ECCB6BD1CA64BC161A12B1C024F71430337408C8A87EACAB7A1FF18951FCA3");
    ASSERT_EQ(ch.UnwrapCommand(0xC4, CmdProtection::kFull, H("01"), body, 17, 4), Sw::kOk);
    // XOR with the old key 00×16 is the new key; then version 10 and CRC32(new key).
    EXPECT_EQ(HexEncode(body), "00102030405060708090a0b0b0a0908010bfe37919");
    EXPECT_EQ(HexEncode(ch.CrcOfKey(H("00102030405060708090a0b0b0a09080"))), "bfe37919");
    EXPECT_EQ(HexEncode(ch.WrapResponse(RespProtection::kMacEv2, Sw::kOk, {})), "2128d3cd9c9acfff");
  }
}

// §2.5 (RfidResearchGroup/proxmark3 desfiretest.c TestCRC32): the CRC32 of an enciphered
// answer covers data ‖ status: UID 04440F32763180 gets 99 CE 1A D4.
TEST(SecureChannelVectorsTest, EncipheredAnswerCrcCoversStatus) {
  const Bytes key = H("00112233445566778899aabbccddeeff");
  SecureChannel ch;
  ASSERT_TRUE(ch.StartEv1(KeyType::kAes128, key, 0).ok());
  Bytes ct = ch.WrapResponse(RespProtection::kFull, Sw::kOk, H("04440F32763180"));
  ASSERT_EQ(ct.size(), 16u);
  auto aes = crypto::BlockCipher::Create(KeyType::kAes128, key);
  ASSERT_TRUE(aes.ok());
  Bytes iv(16, 0);
  ASSERT_TRUE(aes->CbcDecrypt(MutableByteSpan(iv), MutableByteSpan(ct)).ok());
  EXPECT_EQ(HexEncode(ct), "04440f3276318099ce1ad40000000000");
}

}  // namespace
}  // namespace desfired::sim
