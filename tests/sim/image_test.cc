// Card images: the JSON reader/writer, the image mapping, the shipped images, and a full EV1
// AES session against the transit image (MACed and enciphered files).
#include "sim/image/image.h"

#include <string>

#include "core/crypto/block_cipher.h"
#include "core/crypto/cmac.h"
#include "core/crypto/crc.h"
#include "gtest/gtest.h"
#include "sim/card/card.h"
#include "sim/card/protocol.h"
#include "sim/image/json.h"
#include "tests/sim/sim_test_util.h"

namespace desfired::sim {
namespace {

using crypto::KeyType;
using testing::H;

const std::string kImages = std::string(SOURCE_DIR) + "/sim/images/";

TEST(JsonTest, ParsesAndWritesRoundTrip) {
  auto doc = ParseJson(R"({"a": [1, -2, true, null, "x\"y\n"], "b": {"c": {}}, "d": []})");
  ASSERT_TRUE(doc.ok()) << doc.status();
  EXPECT_EQ(doc->Find("a")->array()[1].int_value(), -2);
  EXPECT_EQ(doc->Find("a")->array()[4].string_value(), "x\"y\n");
  auto again = ParseJson(WriteJson(*doc));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(WriteJson(*again), WriteJson(*doc));
}

TEST(JsonTest, RejectsBadInput) {
  for (const char* bad : {"", "{", "[1,]", "{\"a\":1,\"a\":2}", "1.5", "[1] x", "\"\\q\"",
                          "99999999999999999999", "{a:1}", "\"\x01\""}) {
    EXPECT_FALSE(ParseJson(bad).ok()) << bad;
  }
  EXPECT_FALSE(ParseJson(std::string(100, '[') + std::string(100, ']')).ok());
  EXPECT_TRUE(ParseJson("-9223372036854775808").ok());
}

TEST(ImageTest, BlankImageIsFactoryCard) {
  auto state = LoadImage(kImages + "blank.json");
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(state->picc_key.type, KeyType::kDes);
  EXPECT_EQ(HexEncode(state->picc_key.value), "0000000000000000");
  EXPECT_TRUE(state->applications.empty());
  EXPECT_EQ(state->FreeMemory(), 7936u);
}

TEST(ImageTest, TransitImageRoundTrips) {
  auto state = LoadImage(kImages + "transit.json");
  ASSERT_TRUE(state.ok()) << state.status();
  const std::string once = SerializeImage(*state);
  auto again = ParseImage(once);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(SerializeImage(*again), once);
}

// The tap records in the transit image carry a valid CRC-8/SMBUS and AES128_CMAC (first 8
// bytes) under the demo key 2b7e1516 28aed2a6 abf71588 09cf4f3c (docs/tap-record-format.md).
TEST(ImageTest, TransitTapRecordsHaveValidCrcAndMac) {
  auto state = LoadImage(kImages + "transit.json");
  ASSERT_TRUE(state.ok());
  Application* app = state->FindApplication(0xF51001);
  ASSERT_NE(app, nullptr);
  File* log = app->FindFile(3);
  ASSERT_NE(log, nullptr);
  ASSERT_EQ(log->type, FileType::kCyclicRecord);
  ASSERT_FALSE(log->records.empty());
  auto cmac = crypto::Cmac::Create(KeyType::kAes128, H("2b7e151628aed2a6abf7158809cf4f3c"));
  ASSERT_TRUE(cmac.ok());
  for (const Bytes& r : log->records) {
    ASSERT_EQ(r.size(), 32u);
    EXPECT_EQ(crypto::Crc8(ByteSpan(r.data(), 0x1B)), r[0x1B]);
    uint8_t tag[16];
    cmac->Compute(ByteSpan(r.data(), 0x13), tag);
    EXPECT_EQ(HexEncode(ByteSpan(tag, 8)), HexEncode(ByteSpan(r.data() + 0x13, 8)));
    EXPECT_EQ(HexEncode(ByteSpan(r.data() + 0x0B, 8)), "04a1b2c3d4e5f680");
  }
}

TEST(ImageTest, ErrorsNameTheJsonPath) {
  auto state = ParseImage(R"({"format": "desfire-sim-image/1",
    "picc": {"key_settings": 15, "key": {"type": "DES", "value": "0000000000000000"}},
    "applications": [{"aid": "010203", "key_settings": 15, "key_type": "AES",
      "keys": [{"value": "00"}]}]})");
  ASSERT_FALSE(state.ok());
  EXPECT_NE(std::string(state.status().message()).find("applications[0].keys[0].value"),
            std::string::npos)
      << state.status();
  EXPECT_FALSE(ParseImage(R"({"format": "other"})").ok());
}

TEST(ImageTest, SaveKeepsCommittedStateOnly) {
  auto state = LoadImage(kImages + "transit.json");
  ASSERT_TRUE(state.ok());
  File* value = state->FindApplication(0xF51001)->FindFile(1);
  value->pending_value = 1;
  const std::string path = ::testing::TempDir() + "/image_test_save.json";
  ASSERT_TRUE(SaveImage(*state, path).ok());
  auto loaded = LoadImage(path);
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->FindApplication(0xF51001)->FindFile(1)->value, 2500);
  EXPECT_FALSE(loaded->FindApplication(0xF51001)->FindFile(1)->pending_value.has_value());
}

// A minimal EV1 AES host written for this test only (the card must not share protocol code
// with core/desfire, and this test must not depend on it either).
class AesTestHost {
 public:
  explicit AesTestHost(Card& card) : card_(card) {}

  Bytes Raw(uint8_t ins, const Bytes& data, uint8_t& status) {
    Bytes apdu = {0x90, ins, 0, 0};
    if (!data.empty()) {
      apdu.push_back(static_cast<uint8_t>(data.size()));
      apdu.insert(apdu.end(), data.begin(), data.end());
    }
    apdu.push_back(0);
    Bytes r = card_.Transmit(apdu);
    status = r.back();
    r.resize(r.size() - 2);
    return r;
  }

  bool Authenticate(uint8_t key_no, const Bytes& key) {
    auto aes = crypto::BlockCipher::Create(KeyType::kAes128, key);
    if (!aes.ok()) return false;
    uint8_t st;
    Bytes ek = Raw(0xAA, {key_no}, st);
    if (st != 0xAF || ek.size() != 16) return false;
    Bytes rnd_b = ek;
    Bytes iv0(16, 0);
    (void)aes->CbcDecrypt(MutableByteSpan(iv0), MutableByteSpan(rnd_b));
    const Bytes rnd_a = H("0f0e0d0c0b0a09080706050403020100");
    Bytes token = rnd_a;
    token.insert(token.end(), rnd_b.begin() + 1, rnd_b.end());
    token.push_back(rnd_b[0]);
    Bytes iv = ek;
    (void)aes->CbcEncrypt(MutableByteSpan(iv), MutableByteSpan(token));
    Bytes reply = Raw(0xAF, token, st);
    if (st != 0x00 || reply.size() != 16) return false;
    (void)aes->CbcDecrypt(MutableByteSpan(iv), MutableByteSpan(reply));
    Bytes rot(rnd_a.begin() + 1, rnd_a.end());
    rot.push_back(rnd_a[0]);
    if (reply != rot) return false;
    Bytes sk(rnd_a.begin(), rnd_a.begin() + 4);
    sk.insert(sk.end(), rnd_b.begin(), rnd_b.begin() + 4);
    sk.insert(sk.end(), rnd_a.begin() + 12, rnd_a.end());
    sk.insert(sk.end(), rnd_b.begin() + 12, rnd_b.end());
    session_ = std::make_unique<crypto::Cmac>(*crypto::Cmac::Create(KeyType::kAes128, sk));
    std::fill(iv_, iv_ + 16, 0);
    return true;
  }

  // A plain command in the session: the command CMAC'd into the IV, then sent, and the reply's
  // additional frames (AF) fetched; the whole reply, `st` its last status.
  Bytes Exchange(uint8_t ins, const Bytes& data, uint8_t& st) {
    Bytes msg = {ins};
    msg.insert(msg.end(), data.begin(), data.end());
    session_->ComputeWithIv(iv_, msg, iv_);
    Bytes r = Raw(ins, data, st);
    while (st == 0xAF) {
      Bytes more = Raw(0xAF, {}, st);
      r.insert(r.end(), more.begin(), more.end());
    }
    return r;
  }

  // Plain command, CMAC'd response (plain or MAC files): returns the data after checking
  // the MAC, or sets `ok` false.
  Bytes CmacCommand(uint8_t ins, const Bytes& data, bool& ok) {
    uint8_t st;
    Bytes r = Exchange(ins, data, st);
    ok = st == 0x00 && r.size() >= 8;
    if (!ok) return {};
    Bytes covered(r.begin(), r.end() - 8);
    covered.push_back(st);
    session_->ComputeWithIv(iv_, covered, iv_);
    ok = std::equal(iv_, iv_ + 8, r.end() - 8);
    return Bytes(r.begin(), r.end() - 8);
  }

  // Plain command, enciphered response of `len` data bytes.
  Bytes FullRead(uint8_t ins, const Bytes& data, size_t len, bool& ok) {
    uint8_t st;
    Bytes r = Exchange(ins, data, st);
    ok = st == 0x00 && r.size() % 16 == 0 && r.size() >= len + 4;
    if (!ok) return {};
    (void)session_->cipher().CbcDecrypt(MutableByteSpan(iv_, 16), MutableByteSpan(r));
    Bytes covered(r.begin(), r.begin() + static_cast<ptrdiff_t>(len));
    covered.push_back(st);
    ok = LoadLe32(r.data() + len) == crypto::Crc32Desfire(covered);
    return Bytes(r.begin(), r.begin() + static_cast<ptrdiff_t>(len));
  }

 private:
  Card& card_;
  std::unique_ptr<crypto::Cmac> session_;
  uint8_t iv_[16] = {};
};

TEST(TransitCardTest, ReadsTapLogValueAndSecretWithAesSession) {
  auto state = LoadImage(kImages + "transit.json");
  ASSERT_TRUE(state.ok());
  const Bytes first_record = state->FindApplication(0xF51001)->FindFile(3)->records.front();
  Card card(*std::move(state));
  AesTestHost host(card);
  uint8_t st;
  host.Raw(0x5A, H("0110f5"), st);
  ASSERT_EQ(st, 0x00);
  // Free read of the plain issuer file, no session.
  Bytes issuer = host.Raw(0xBD, H("04 000000 000000"), st);
  EXPECT_EQ(st, 0x00);
  EXPECT_EQ(std::string(issuer.begin(), issuer.begin() + 8), "desfired");
  // The tap log needs key 1.
  host.Raw(0xBB, H("03 000000 000000"), st);
  EXPECT_EQ(st, 0xAE);
  ASSERT_TRUE(host.Authenticate(1, H("a0a1a2a3a4a5a6a7a8a9aaabacadaeaf")));
  bool ok = false;
  Bytes records = host.CmacCommand(0xBB, H("03 000000 000000"), ok);
  ASSERT_TRUE(ok);
  ASSERT_EQ(records.size(), 6u * 32);
  EXPECT_EQ(HexEncode(ByteSpan(records.data(), 32)), HexEncode(first_record));
  Bytes value = host.FullRead(0x6C, H("01"), 4, ok);
  ASSERT_TRUE(ok);
  EXPECT_EQ(LoadLe32(value.data()), 2500u);
  Bytes secret = host.FullRead(0xBD, H("05 000000 000000"), 32, ok);
  ASSERT_TRUE(ok);
  EXPECT_EQ(HexEncode(ByteSpan(secret.data(), 8)), "5345435245540000");
  // Key 1 may not credit (read&write is key 3): permission denied, and the session is gone.
  host.Raw(0x0C, H("01 01000000"), st);
  EXPECT_EQ(st, 0x9D);
  EXPECT_FALSE(card.channel().authenticated());
}

// SetConfiguration's state is part of the image: the configuration byte (random_uid is its
// bit 1), the default key and the ATS.
TEST(ImageTest, ConfigurationDefaultKeyAndAtsRoundTrip) {
  CardState s = CardState::Blank();
  s.configuration = kConfigFormatDisabled | kConfigRandomUid;
  s.random_uid = true;
  s.default_key = H("2b7e151628aed2a6abf7158809cf4f3c0000000000000000");
  s.default_key_version = 0x21;
  s.ats = H("0875778102800102");
  auto again = ParseImage(SerializeImage(s));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->configuration, 3);
  EXPECT_TRUE(again->random_uid);
  EXPECT_EQ(HexEncode(again->default_key), HexEncode(s.default_key));
  EXPECT_EQ(again->default_key_version, 0x21);
  EXPECT_EQ(HexEncode(again->ats), "0875778102800102");
  EXPECT_EQ(HexEncode(Card(*again).atr()), "3b83800180010281");

  // "random_uid": true alone turns bit 1 on; a bad ATS or default key names its field.
  const std::string base = R"({"format": "desfire-sim-image/1", "picc": {"key_settings": 15,
      "key": {"type": "DES", "value": "0000000000000000"}})";
  auto r = ParseImage(base + R"(, "random_uid": true})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->configuration, kConfigRandomUid);
  auto bad_ats = ParseImage(base + R"(, "ats": "0775778102"})");
  ASSERT_FALSE(bad_ats.ok());
  EXPECT_NE(bad_ats.status().message().find("$.ats"), absl::string_view::npos);
  auto bad_key = ParseImage(base + R"(, "default_key": {"value": "00"}})");
  ASSERT_FALSE(bad_key.ok());
  EXPECT_NE(bad_key.status().message().find("$.default_key.value"), absl::string_view::npos);
}

}  // namespace
}  // namespace desfired::sim
