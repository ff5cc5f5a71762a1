// End-to-end card-side sessions driven by small test hosts written here on core/crypto only
// (never the card's SecureChannel): EV2First / EV2NonFirst, ChangeKey in an EV2 session,
// SetConfiguration options 0 (format disable, random UID), 1 (default key) and 2 (ATS) in
// EV2 and EV1 AES sessions.
#include <string>

#include "core/crypto/block_cipher.h"
#include "core/crypto/cmac.h"
#include "core/crypto/crc.h"
#include "gtest/gtest.h"
#include "sim/card/card.h"
#include "sim/card/model.h"
#include "sim/card/protocol.h"
#include "tests/sim/sim_test_util.h"

namespace desfired::sim {
namespace {

using crypto::BlockCipher;
using crypto::Cmac;
using crypto::KeyType;
using testing::H;
using testing::ScriptedRandom;

constexpr size_t kAes = 16;

Bytes Cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}
Bytes Rol(const Bytes& b) {
  Bytes r(b.begin() + 1, b.end());
  r.push_back(b[0]);
  return r;
}
Bytes Crc32(const Bytes& b) {
  const uint32_t c = crypto::Crc32Desfire(b);
  return {uint8_t(c), uint8_t(c >> 8), uint8_t(c >> 16), uint8_t(c >> 24)};
}
BlockCipher Aes(const Bytes& key) {
  auto c = BlockCipher::Create(KeyType::kAes128, key);
  EXPECT_TRUE(c.ok());
  return std::move(*c);
}
Cmac AesCmac(const Bytes& key) {
  auto c = Cmac::Create(KeyType::kAes128, key);
  EXPECT_TRUE(c.ok());
  return std::move(*c);
}
Bytes CbcEncrypt(const Bytes& key, Bytes iv, Bytes data) {
  EXPECT_TRUE(Aes(key).CbcEncrypt(MutableByteSpan(iv), MutableByteSpan(data)).ok());
  return data;
}
Bytes CbcDecrypt(const Bytes& key, Bytes iv, Bytes data) {
  EXPECT_TRUE(Aes(key).CbcDecrypt(MutableByteSpan(iv), MutableByteSpan(data)).ok());
  return data;
}
Bytes Pad80(Bytes data, size_t bs) {
  data.push_back(0x80);
  while (data.size() % bs != 0) data.push_back(0);
  return data;
}

// Sends 90 INS 00 00 [Lc data] 00; returns the data, `sw` the status byte.
Bytes Wrapped(Card& card, uint8_t ins, const Bytes& data, Sw& sw) {
  return testing::SendWrapped(card, ins, data, &sw);
}

// The host half of EV2 (AN12196 / AN12343 formulas, shared/vectors §3).
class Ev2Host {
 public:
  explicit Ev2Host(Card& card) : card_(card) {}

  // AuthenticateEV2First (first) or EV2NonFirst with `key`; RndA is fixed by the test.
  Sw Authenticate(bool first, uint8_t key_no, const Bytes& key, const Bytes& rnd_a) {
    Sw sw;
    const Bytes ek =
        Wrapped(card_, first ? 0x71 : 0x77, first ? Bytes{key_no, 0x00} : Bytes{key_no}, sw);
    if (sw != Sw::kAdditionalFrame) return sw;
    const Bytes rnd_b = CbcDecrypt(key, Bytes(kAes, 0), ek);
    const Bytes token = CbcEncrypt(key, Bytes(kAes, 0), Cat({rnd_a, Rol(rnd_b)}));
    const Bytes reply = Wrapped(card_, 0xAF, token, sw);
    if (sw != Sw::kOk) return sw;
    const Bytes plain = CbcDecrypt(key, Bytes(kAes, 0), reply);
    EXPECT_EQ(plain.size(), first ? 32u : 16u);
    const size_t at = first ? 4 : 0;
    EXPECT_EQ(HexEncode(ByteSpan(plain).subspan(at, kAes)), HexEncode(Rol(rnd_a)));
    if (first) {
      ti_.assign(plain.begin(), plain.begin() + 4);
      ctr_ = 0;
    }
    // SV1/SV2 = label ‖ 00 01 00 80 ‖ RndA[0..1] ‖ RndA[2..7]^RndB[0..5] ‖ RndB[6..15] ‖
    // RndA[8..15]
    Bytes sv = {0xA5, 0x5A, 0x00, 0x01, 0x00, 0x80, rnd_a[0], rnd_a[1]};
    for (size_t i = 0; i < 6; ++i) sv.push_back(rnd_a[2 + i] ^ rnd_b[i]);
    sv.insert(sv.end(), rnd_b.begin() + 6, rnd_b.end());
    sv.insert(sv.end(), rnd_a.begin() + 8, rnd_a.end());
    enc_key_.assign(kAes, 0);
    mac_key_.assign(kAes, 0);
    AesCmac(key).Compute(sv, enc_key_.data());
    sv[0] = 0x5A;
    sv[1] = 0xA5;
    AesCmac(key).Compute(sv, mac_key_.data());
    return Sw::kOk;
  }

  // A command with `header` in clear, `data` enciphered when `enc`, MACt appended. A
  // successful answer's MACt is checked; `resp_enc` deciphers its data. `expect_mac` false:
  // an answer without MAC (ChangeKey of the session key).
  Bytes Command(uint8_t ins, const Bytes& header, const Bytes& data, bool enc, Sw& sw,
                bool resp_enc = false, bool expect_mac = true) {
    Bytes body = header;
    if (enc && !data.empty()) {
      const Bytes ct = CbcEncrypt(enc_key_, Iv(0xA5, 0x5A, ctr_), Pad80(data, kAes));
      body.insert(body.end(), ct.begin(), ct.end());
    } else {
      body.insert(body.end(), data.begin(), data.end());
    }
    Bytes msg = Cat({{ins, uint8_t(ctr_), uint8_t(ctr_ >> 8)}, ti_, body});
    const Bytes mact = MacT(msg);
    Bytes r = Wrapped(card_, ins, Cat({body, mact}), sw);
    if (sw != Sw::kOk) return r;
    ++ctr_;
    if (!expect_mac) return r;
    EXPECT_GE(r.size(), 8u);
    if (r.size() < 8) return r;
    Bytes rdata(r.begin(), r.end() - 8);
    const Bytes rmac(r.end() - 8, r.end());
    EXPECT_EQ(HexEncode(rmac),
              HexEncode(MacT(Cat({{0x00, uint8_t(ctr_), uint8_t(ctr_ >> 8)}, ti_, rdata}))))
        << "response MAC of INS " << int{ins};
    if (resp_enc && !rdata.empty()) {
      rdata = CbcDecrypt(enc_key_, Iv(0x5A, 0xA5, ctr_), rdata);
      while (!rdata.empty() && rdata.back() == 0) rdata.pop_back();
      EXPECT_FALSE(rdata.empty());
      if (!rdata.empty()) rdata.pop_back();  // the 80 marker
    }
    return rdata;
  }

  const Bytes& ti() const { return ti_; }
  uint16_t ctr() const { return ctr_; }
  const Bytes& mac_key() const { return mac_key_; }
  void set_mac_key(Bytes k) { mac_key_ = std::move(k); }

 private:
  Bytes Iv(uint8_t a, uint8_t b, uint16_t ctr) const {
    Bytes in = Cat({{a, b}, ti_, {uint8_t(ctr), uint8_t(ctr >> 8)}, Bytes(8, 0)});
    Bytes out(kAes);
    Aes(enc_key_).EncryptBlock(in.data(), out.data());
    return out;
  }
  Bytes MacT(const Bytes& msg) const {
    uint8_t full[16];
    AesCmac(mac_key_).Compute(msg, full);
    Bytes m;
    for (size_t i = 1; i < 16; i += 2) m.push_back(full[i]);
    return m;
  }

  Card& card_;
  Bytes ti_;
  uint16_t ctr_ = 0;
  Bytes enc_key_;
  Bytes mac_key_;
};

// The host half of an EV1 AES session (0xAA): one IV for the session, CMAC over every
// command and answer, enciphered data with CRC32 over INS ‖ header ‖ data.
class Ev1AesHost {
 public:
  explicit Ev1AesHost(Card& card) : card_(card) {}

  Sw Authenticate(uint8_t key_no, const Bytes& key, const Bytes& rnd_a) {
    Sw sw;
    const Bytes ek = Wrapped(card_, 0xAA, {key_no}, sw);
    if (sw != Sw::kAdditionalFrame) return sw;
    const Bytes rnd_b = CbcDecrypt(key, Bytes(kAes, 0), ek);
    const Bytes token = CbcEncrypt(key, ek, Cat({rnd_a, Rol(rnd_b)}));
    const Bytes reply = Wrapped(card_, 0xAF, token, sw);
    if (sw != Sw::kOk) return sw;
    const Bytes last(token.end() - kAes, token.end());
    EXPECT_EQ(HexEncode(CbcDecrypt(key, last, reply)), HexEncode(Rol(rnd_a)));
    session_ =
        Cat({Bytes(rnd_a.begin(), rnd_a.begin() + 4), Bytes(rnd_b.begin(), rnd_b.begin() + 4),
             Bytes(rnd_a.begin() + 12, rnd_a.end()), Bytes(rnd_b.begin() + 12, rnd_b.end())});
    iv_.assign(kAes, 0);
    return Sw::kOk;
  }

  // An enciphered command: header ‖ E(data ‖ CRC32(INS ‖ header ‖ data) ‖ padding), the
  // padding 00.. or (pad80) 80 00.. as libfreefare's SetATS sends it. Checks the CMAC.
  Sw Enciphered(uint8_t ins, const Bytes& header, const Bytes& data, bool pad80) {
    Bytes plain = Cat({data, Crc32(Cat({{ins}, header, data}))});
    if (pad80) plain.push_back(0x80);
    while (plain.size() % kAes != 0) plain.push_back(0);
    const Bytes ct = CbcEncrypt(session_, iv_, plain);
    iv_.assign(ct.end() - kAes, ct.end());
    Sw sw;
    const Bytes r = Wrapped(card_, ins, Cat({header, ct}), sw);
    if (sw != Sw::kOk) return sw;
    EXPECT_EQ(r.size(), 8u);
    uint8_t mac[16];
    AesCmac(session_).ComputeWithIv(iv_.data(), Bytes{0x00}, mac);
    iv_.assign(mac, mac + kAes);
    EXPECT_EQ(HexEncode(r), HexEncode(ByteSpan(mac, 8)));
    return sw;
  }

 private:
  Card& card_;
  Bytes session_;
  Bytes iv_;
};

const Bytes kRndA1 = H("13C5DB8A5930439FC3DEF9A4C675360F");
const Bytes kRndA2 = H("B98F4C50CF1C2E084FD150E33992B048");
const Bytes kKey0 = H("00112233445566778899AABBCCDDEEFF");
const Bytes kKey1 = H("A0A1A2A3A4A5A6A7A8A9AAABACADAEAF");
const Bytes kKey2 = H("B0B1B2B3B4B5B6B7B8B9BABBBCBDBEBF");

// Application 000001 with three AES keys (versions 1, 2, 3), key settings 0x0F (the master
// key changes every key).
CardState AesAppCard() {
  CardState s;
  s.picc_key = Key{KeyType::kAes128, Bytes(16, 0), 0};
  Application app;
  app.aid = 0x000001;
  app.key_family = KeyType::kAes128;
  app.key_settings = 0x0F;
  app.keys = {Key{KeyType::kAes128, kKey0, 1}, Key{KeyType::kAes128, kKey1, 2},
              Key{KeyType::kAes128, kKey2, 3}};
  s.applications.push_back(std::move(app));
  return s;
}

Sw SelectApp(Card& card, const Bytes& aid) {
  Sw sw;
  Wrapped(card, 0x5A, aid, sw);
  return sw;
}

TEST(Ev2SessionTest, NonFirstNeedsAnEv2Session) {
  ScriptedRandom rnd;
  Card card(AesAppCard(), rnd.Source());
  ASSERT_EQ(SelectApp(card, H("010000")), Sw::kOk);
  Ev2Host host(card);
  EXPECT_EQ(host.Authenticate(/*first=*/false, 0, kKey0, kRndA1), Sw::kAuthenticationError);
}

// EV2First with key 0, two MACed commands, then EV2NonFirst with key 1: the TI stays, the
// command counter goes on from where it was (MF2DLHX0: "TI is not reset", "CmdCtr is not
// reset"), and the session keys are new: a command MACed with the old key is rejected.
TEST(Ev2SessionTest, NonFirstKeepsTiAndCounterWithNewSessionKeys) {
  ScriptedRandom rnd;
  rnd.Push(H("B9E2FC789B64BF237CCCAA20EC7E6E48"));  // RndB for 71
  rnd.Push(H("9D00C4DF"));                          // TI
  rnd.Push(H("FA659AD0DCA738DD65DC7DC38612AD81"));  // RndB for 77
  Card card(AesAppCard(), rnd.Source());
  ASSERT_EQ(SelectApp(card, H("010000")), Sw::kOk);
  Ev2Host host(card);
  ASSERT_EQ(host.Authenticate(/*first=*/true, 0, kKey0, kRndA1), Sw::kOk);
  EXPECT_EQ(HexEncode(host.ti()), "9d00c4df");
  EXPECT_EQ(HexEncode(card.channel().ti()), "9d00c4df");
  Sw sw;
  EXPECT_EQ(HexEncode(host.Command(0x64, {}, {0x01}, false, sw)), "02");
  EXPECT_EQ(sw, Sw::kOk);
  EXPECT_EQ(HexEncode(host.Command(0x64, {}, {0x02}, false, sw)), "03");
  EXPECT_EQ(card.channel().command_counter(), 2);
  const Bytes old_mac_key = host.mac_key();

  ASSERT_EQ(host.Authenticate(/*first=*/false, 1, kKey1, kRndA2), Sw::kOk);
  EXPECT_EQ(card.channel().scheme(), AuthScheme::kEv2);
  EXPECT_EQ(card.channel().key_no(), 1);
  EXPECT_EQ(HexEncode(card.channel().ti()), "9d00c4df");
  EXPECT_EQ(card.channel().command_counter(), 2);
  EXPECT_NE(HexEncode(host.mac_key()), HexEncode(old_mac_key));
  // The new keys work at counter 2 (MACed both ways) ...
  EXPECT_EQ(HexEncode(host.Command(0x64, {}, {0x00}, false, sw)), "01");
  EXPECT_EQ(sw, Sw::kOk);
  EXPECT_EQ(card.channel().command_counter(), 3);
  // ... and the old MAC key does not.
  host.set_mac_key(old_mac_key);
  host.Command(0x64, {}, {0x00}, false, sw);
  EXPECT_EQ(sw, Sw::kIntegrityError);
  EXPECT_FALSE(card.channel().authenticated());
}

// ChangeKey in an EV2 session (AN12196 §6.16 layout): another key gets
// E((new ^ old) ‖ version ‖ CRC32(new) ‖ 80..) ‖ MACt and a MACed answer; the session key
// itself gets E(new ‖ version ‖ 80..) and an answer without MAC that ends the session.
TEST(Ev2SessionTest, ChangeKeyOtherKeyThenOwnKey) {
  ScriptedRandom rnd;
  rnd.Push(H("B9E2FC789B64BF237CCCAA20EC7E6E48"));
  rnd.Push(H("7614281A"));
  rnd.Push(H("FA659AD0DCA738DD65DC7DC38612AD81"));
  rnd.Push(H("91517975190DCEA6104948EFA3085C1B"));
  rnd.Push(H("626FFBD45CAF334ACCA45599304F5B17"));
  rnd.Push(H("0BADCAFE"));
  Card card(AesAppCard(), rnd.Source());
  ASSERT_EQ(SelectApp(card, H("010000")), Sw::kOk);
  Ev2Host host(card);
  ASSERT_EQ(host.Authenticate(true, 0, kKey0, kRndA1), Sw::kOk);

  const Bytes new1 = H("C0C1C2C3C4C5C6C7C8C9CACBCCCDCECF");
  Bytes xored = new1;
  for (size_t i = 0; i < kAes; ++i) xored[i] ^= kKey1[i];
  Sw sw;
  const Bytes r = host.Command(0xC4, {0x01}, Cat({xored, {0x07}, Crc32(new1)}), true, sw);
  ASSERT_EQ(sw, Sw::kOk);
  EXPECT_TRUE(r.empty());
  EXPECT_EQ(HexEncode(card.state().applications[0].keys[1].value), HexEncode(new1));
  EXPECT_EQ(card.state().applications[0].keys[1].version, 0x07);
  EXPECT_EQ(card.channel().command_counter(), 1);
  // The changed key authenticates (EV2NonFirst in the same transaction).
  ASSERT_EQ(host.Authenticate(false, 1, new1, kRndA2), Sw::kOk);
  EXPECT_EQ(HexEncode(host.Command(0x64, {}, {0x01}, false, sw)), "07");

  // A wrong CRC of the new key is an integrity error.
  ASSERT_EQ(host.Authenticate(false, 0, kKey0, kRndA1), Sw::kOk);
  host.Command(0xC4, {0x02}, Cat({xored, {0x07}, Bytes(4, 0)}), true, sw);
  EXPECT_EQ(sw, Sw::kIntegrityError);
  EXPECT_EQ(HexEncode(card.state().applications[0].keys[2].value), HexEncode(kKey2));

  // The session key itself: no XOR, no CRC of the new key; the answer has no MAC.
  ASSERT_EQ(host.Authenticate(true, 0, kKey0, kRndA2), Sw::kOk);
  const Bytes new0 = H("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF");
  const Bytes r0 =
      host.Command(0xC4, {0x00}, Cat({new0, {0x09}}), true, sw, false, /*expect_mac=*/false);
  ASSERT_EQ(sw, Sw::kOk);
  EXPECT_TRUE(r0.empty());
  EXPECT_FALSE(card.channel().authenticated());
  EXPECT_EQ(HexEncode(card.state().applications[0].keys[0].value), HexEncode(new0));
  EXPECT_EQ(card.state().applications[0].keys[0].version, 0x09);
}

// ---------------------------------------------------------------------------------------
// SetConfiguration.

CardState AesPiccCard() {
  CardState s;
  s.uid = H("04958CAA5C5E80");
  s.picc_key = Key{KeyType::kAes128, kKey0, 0};
  s.picc_key_settings = 0x0F;
  return s;
}

class SetConfigurationTest : public ::testing::Test {
 protected:
  SetConfigurationTest() : card_(AesPiccCard(), rnd_.Source()), host_(card_) {}
  void AuthEv2() {
    rnd_.Push(H("B9E2FC789B64BF237CCCAA20EC7E6E48"));
    rnd_.Push(H("01020304"));
    ASSERT_EQ(host_.Authenticate(true, 0, kKey0, kRndA1), Sw::kOk);
  }
  Sw SetConfig(uint8_t option, const Bytes& data) {
    Sw sw;
    host_.Command(0x5C, {option}, data, /*enc=*/true, sw);
    return sw;
  }
  ScriptedRandom rnd_;
  Card card_;
  Ev2Host host_;
};

TEST_F(SetConfigurationTest, NeedsPiccMasterKeyAndChangeableConfiguration) {
  Sw sw;
  Wrapped(card_, 0x5C, H("00 00112233445566778899AABBCCDDEEFF"), sw);
  EXPECT_EQ(sw, Sw::kAuthenticationError);
  card_.mutable_state().picc_key_settings = 0x07;  // configuration frozen
  AuthEv2();
  EXPECT_EQ(SetConfig(0x00, {0x01}), Sw::kPermissionDenied);
  EXPECT_EQ(card_.state().configuration, 0);
}

TEST_F(SetConfigurationTest, Option0FormatDisableIsOneWay) {
  AuthEv2();
  EXPECT_EQ(SetConfig(0x00, {0x04}), Sw::kParameterError);  // RFU bit
  AuthEv2();
  EXPECT_EQ(SetConfig(0x00, {0x01}), Sw::kOk);
  EXPECT_EQ(card_.state().configuration, kConfigFormatDisabled);
  Sw sw;
  host_.Command(0xFC, {}, {}, false, sw);
  EXPECT_EQ(sw, Sw::kPermissionDenied);
  AuthEv2();
  EXPECT_EQ(SetConfig(0x00, {0x00}), Sw::kOk);  // accepted, but the bit stays
  EXPECT_EQ(card_.state().configuration, kConfigFormatDisabled);
  host_.Command(0xFC, {}, {}, false, sw);
  EXPECT_EQ(sw, Sw::kPermissionDenied);
  EXPECT_FALSE(card_.state().random_uid);
}

// Random UID: from the next activation the reader sees 08 xx xx xx and GetVersion 00s; only
// GetCardUID after an authentication gives the real UID.
TEST_F(SetConfigurationTest, Option0RandomUid) {
  EXPECT_EQ(HexEncode(card_.Transmit(H("FFCA000000"))), "04958caa5c5e809000");
  AuthEv2();
  ASSERT_EQ(SetConfig(0x00, {0x02}), Sw::kOk);
  EXPECT_TRUE(card_.state().random_uid);
  rnd_.Push(H("A1B2C3"));
  card_.PowerOff();  // the card leaves the field and comes back
  EXPECT_EQ(HexEncode(card_.Transmit(H("FFCA000000"))), "08a1b2c39000");
  Sw sw;
  Bytes version = Wrapped(card_, 0x60, {}, sw);
  while (sw == Sw::kAdditionalFrame) {
    const Bytes more = Wrapped(card_, 0xAF, {}, sw);
    version.insert(version.end(), more.begin(), more.end());
  }
  ASSERT_EQ(version.size(), 28u);
  EXPECT_EQ(HexEncode(ByteSpan(version).subspan(14, 7)), "00000000000000");
  Wrapped(card_, 0x51, {}, sw);
  EXPECT_EQ(sw, Sw::kAuthenticationError);
  AuthEv2();
  EXPECT_EQ(HexEncode(host_.Command(0x51, {}, {}, false, sw, /*resp_enc=*/true)), "04958caa5c5e80");
  EXPECT_EQ(sw, Sw::kOk);
  // A new activation draws a new random id.
  rnd_.Push(H("0D0E0F"));
  card_.PowerOff();
  EXPECT_EQ(HexEncode(card_.Transmit(H("FFCA000000"))), "080d0e0f9000");
}

// Option 1: the keys of applications created afterwards start as the default key.
TEST_F(SetConfigurationTest, Option1DefaultKeyForNewApplications) {
  const Bytes dk = H("2B7E151628AED2A6ABF7158809CF4F3C");
  AuthEv2();
  EXPECT_EQ(SetConfig(0x01, Cat({dk, Bytes(8, 0)})), Sw::kLengthError);  // version missing
  AuthEv2();
  ASSERT_EQ(SetConfig(0x01, Cat({dk, Bytes(8, 0), {0x21}})), Sw::kOk);
  EXPECT_EQ(HexEncode(card_.state().default_key), HexEncode(dk) + std::string(16, '0'));
  EXPECT_EQ(card_.state().default_key_version, 0x21);
  Sw sw;
  host_.Command(0xCA, {}, H("010203 0F 82"), false, sw);  // AES, 2 keys
  ASSERT_EQ(sw, Sw::kOk);
  host_.Command(0xCA, {}, H("040506 0F 01"), false, sw);  // DES family, 1 key
  ASSERT_EQ(sw, Sw::kOk);
  const Application* des = card_.mutable_state().FindApplication(0x060504);
  ASSERT_NE(des, nullptr);
  EXPECT_EQ(des->keys[0].type, KeyType::k2Tdea);
  EXPECT_EQ(HexEncode(des->keys[0].value), HexEncode(dk));
  // Key 1 of the AES application authenticates with the default key and has its version.
  ASSERT_EQ(SelectApp(card_, H("010203")), Sw::kOk);
  rnd_.Push(H("FA659AD0DCA738DD65DC7DC38612AD81"));
  rnd_.Push(H("0A0B0C0D"));
  ASSERT_EQ(host_.Authenticate(true, 1, dk, kRndA2), Sw::kOk);
  EXPECT_EQ(HexEncode(host_.Command(0x64, {}, {0x01}, false, sw)), "21");
}

// Option 2: the ATS (TL first) is sent from the next activation; a PC/SC reader shows its
// historical bytes in the ATR and answers FF CA 01 00 with them.
TEST_F(SetConfigurationTest, Option2AtsChangesAtrAtNextActivation) {
  EXPECT_EQ(HexEncode(card_.atr()), "3b8180018080");
  EXPECT_EQ(HexEncode(card_.Transmit(H("FFCA010000"))), "809000");
  AuthEv2();
  EXPECT_EQ(SetConfig(0x02, H("09 75 77 81 02 80 01 02")), Sw::kLengthError);  // TL 9 of 8
  AuthEv2();
  EXPECT_EQ(SetConfig(0x02, H("03 75 77")), Sw::kParameterError);  // TB1, TC1 missing
  AuthEv2();
  ASSERT_EQ(SetConfig(0x02, H("08 75 77 81 02 80 01 02")), Sw::kOk);
  EXPECT_EQ(HexEncode(card_.atr()), "3b8180018080");  // this activation keeps its ATS
  card_.PowerOff();
  EXPECT_EQ(HexEncode(card_.ats()), "0875778102800102");
  EXPECT_EQ(HexEncode(card_.atr()), "3b83800180010281");
  EXPECT_EQ(HexEncode(card_.Transmit(H("FFCA010000"))), "8001029000");
  EXPECT_EQ(HexEncode(card_.Transmit(H("FFCA020000"))), "6a81");
}

// The EV1 layouts as libfreefare sends them (mifare_desfire_set_default_key: 24 bytes of
// key data ‖ version, CRC32, zero padding; mifare_desfire_set_ats: ATS, CRC32 over
// 5C 02 ‖ ATS, then 80 00..).
TEST(SetConfigurationEv1Test, DefaultKeyAndAtsInAnAesSession) {
  ScriptedRandom rnd;
  Card card(AesPiccCard(), rnd.Source());
  Ev1AesHost host(card);
  const Bytes dk = H("000102030405060708090A0B0C0D0E0F");
  rnd.Push(H("C05DDD714FD788A6B7B754F3C4D066E8"));
  ASSERT_EQ(host.Authenticate(0, kKey0, kRndA1), Sw::kOk);
  EXPECT_EQ(host.Enciphered(0x5C, {0x01}, Cat({dk, Bytes(8, 0), {0x05}}), false), Sw::kOk);
  EXPECT_EQ(HexEncode(ByteSpan(card.state().default_key).subspan(0, 16)), HexEncode(dk));
  EXPECT_EQ(card.state().default_key_version, 0x05);
  // 13-byte ATS: 13 + 4 + 80 = 18 -> two blocks.
  const Bytes ats = H("0D 78 77 91 02 80 73 C8 21 10 AA BB CC");
  EXPECT_EQ(host.Enciphered(0x5C, {0x02}, ats, /*pad80=*/true), Sw::kOk);
  EXPECT_EQ(HexEncode(card.state().ats), HexEncode(ats));
  // 11-byte ATS: 11 + 4 + 80 = exactly one block.
  const Bytes ats11 = H("0B 75 77 81 02 80 01 02 03 04 05");
  EXPECT_EQ(host.Enciphered(0x5C, {0x02}, ats11, /*pad80=*/true), Sw::kOk);
  EXPECT_EQ(HexEncode(card.state().ats), HexEncode(ats11));
  card.PowerOff();
  EXPECT_EQ(HexEncode(card.atr()), "3b86800180010203040586");
  // Without the 80 marker the ATS command is not accepted.
  rnd.Push(H("C05DDD714FD788A6B7B754F3C4D066E8"));
  ASSERT_EQ(host.Authenticate(0, kKey0, kRndA1), Sw::kOk);
  EXPECT_EQ(host.Enciphered(0x5C, {0x02}, ats, /*pad80=*/false), Sw::kIntegrityError);
  EXPECT_EQ(HexEncode(card.state().ats), HexEncode(ats11));
}

// desfire-sim --fixed-random: every draw repeats the pattern from its first byte, so an
// AES authentication with a fixed RndA is the same exchange every time (bench/ replays it).
TEST(RepeatingRandomTest, EveryDrawRepeatsThePattern) {
  const RandomSource random = RepeatingRandom(H("01 02 03"));
  Bytes seven(7, 0);
  random(MutableByteSpan(seven));
  EXPECT_EQ(HexEncode(seven), "01020301020301");
  Bytes two(2, 0);
  random(MutableByteSpan(two));
  EXPECT_EQ(HexEncode(two), "0102");
}

TEST(RepeatingRandomTest, AesAuthenticationRepeatsByteForByte) {
  const Bytes rnd_b = H("C05DDD714FD788A6B7B754F3C4D066E8");
  Card card(AesAppCard(), RepeatingRandom(rnd_b));
  ASSERT_EQ(SelectApp(card, H("010000")), Sw::kOk);
  Sw sw;
  const Bytes first = Wrapped(card, 0xAA, {0x01}, sw);
  ASSERT_EQ(sw, Sw::kAdditionalFrame);
  EXPECT_EQ(HexEncode(CbcDecrypt(kKey1, Bytes(kAes, 0), first)), HexEncode(rnd_b));
  const Bytes again = Wrapped(card, 0xAA, {0x01}, sw);
  ASSERT_EQ(sw, Sw::kAdditionalFrame);
  EXPECT_EQ(HexEncode(again), HexEncode(first));
  // Complete authentications succeed, with the same RndB each time.
  Ev1AesHost host(card);
  EXPECT_EQ(host.Authenticate(1, kKey1, kRndA1), Sw::kOk);
  EXPECT_EQ(host.Authenticate(1, kKey1, kRndA1), Sw::kOk);
}

}  // namespace
}  // namespace desfired::sim
