// SUN / SDM verification (core/tap/sun.h, sun_verifier.h): the vectors of ev3_vectors.md §4
// (the whole messages in sun_vectors.txt, the others here), each citing its source as the file
// gives it, and the refusals of bad input.
#include "core/tap/sun.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "core/crypto/cmac.h"
#include "core/crypto/key_type.h"
#include "core/keys/key_store.h"
#include "core/tap/sun_verifier.h"
#include "tests/unit/hex_testing.h"
#include "tests/unit/vector_file.h"

namespace desfired::tap {
namespace {

constexpr char kZero[] = "00000000000000000000000000000000";

Bytes H(absl::string_view hex) { return test_util::Hex(hex); }

std::string Hex(ByteSpan b) { return absl::AsciiStrToUpper(HexEncode(b)); }

// Every message of sun_vectors.txt through the whole path: parse, decrypt the PICC data with
// K_SDMMetaRead, verify with K_SDMFileRead.
TEST(SunTest, EveryPublishedMessage) {
  int valid = 0;
  int negative = 0;
  for (const test_util::VectorRow& row : test_util::ReadVectorFile(
           std::string(SOURCE_DIR) + "/tests/unit/core/tap/sun_vectors.txt")) {
    const std::vector<std::string>& w = row.words;
    ASSERT_EQ(w.size(), 14u) << row.source;
    SCOPED_TRACE(w[0] + " — " + row.source);
    const SunInput in{.cipher = w[1] == "lrp" ? SunCipher::kLrp : SunCipher::kAes,
                      .picc_data = w[4],
                      .uid = w[5],
                      .counter = w[6],
                      .enc_file_data = w[7],
                      .mac_input = w[8],
                      .mac = w[9]};
    absl::StatusOr<SunMessage> msg = ParseSunInput(in);
    ASSERT_TRUE(msg.ok()) << msg.status();
    ASSERT_TRUE(DecryptPiccData(*msg, H(w[2])).ok());
    SunResult r = VerifySunMac(*msg, H(w[3]));
    EXPECT_EQ(r.uid.has_value() ? Hex(*r.uid) : "", w[11]);
    EXPECT_EQ(r.counter.has_value() ? std::to_string(*r.counter) : "", w[12]);
    if (w[10] == "1") {
      ++valid;
      EXPECT_EQ(r.status, SunStatus::kValid) << r.error;
      EXPECT_EQ(r.warnings, 0);
      EXPECT_EQ(Hex(r.file_data), w[13]);
    } else {
      ++negative;
      EXPECT_EQ(r.status, SunStatus::kFlagged);
      EXPECT_TRUE(r.has(SunWarning::kMacVerificationFailed));
      EXPECT_TRUE(r.file_data.empty());
    }
  }
  EXPECT_EQ(valid, 14);
  EXPECT_EQ(negative, 3);
}

// sdm-an12196-t1-seskeys: Amperstrand/ntag424-crypto@76c42e32 test/an12196-vectors.test.ts
// (AN12196 §3.3 Table 1).
TEST(SunTest, AesSessionKeysOfAn12196Table1) {
  auto keys =
      DeriveSunAesSessionKeys(H("5ACE7E50AB65D5D51FD5BF5A16B8205B"), H("04C767F2066180"), 1);
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_EQ(Hex(keys->enc.v), "66DA61797E23DECA5D8ECA13BBADF7A9");
  EXPECT_EQ(Hex(keys->mac.v), "3A3E8110E05311F7A3FCF0D969BF2B48");
}

// Intermediates printed by the sources: sdm-an12196-p12 (ses_mac; Amperstrand/ntag424-crypto
// @76c42e32 Tables 2+4), sdm-bolt-* (ses_mac; Amperstrand/ntag424-vectors@3c35b1ea) and
// sdm-lrp-ev2c-url (ses_master; icedevml/nfc-ev2-crypto@2667cc32 test_lrp_sdm.py).
TEST(SunTest, SessionKeyIntermediates) {
  struct Row {
    const char* id;
    const char* k_file;
    const char* uid;
    uint32_t counter;
    const char* ses_mac;
  };
  const Row rows[] = {
      {"sdm-an12196-p12", kZero, "04DE5F1EACC040", 61, "3FB5F6E3A807A03D5E3570ACE393776F"},
      {"sdm-bolt-ctr0", "2AB74ABC1273FB43CAE97553A36D4D08", "0425607A8F6980", 0,
       "85F6155E3414E60874534940A44703A2"},
      {"sdm-bolt-le-1", "F0E1D2C3B4A5968778695A4B3C2D1E0F", "04A39493CC8680", 1,
       "42DA6EEC114A39375D61A6C795FBA6A4"},
      {"sdm-bolt-nonzero-tail", "F0E1D2C3B4A5968778695A4B3C2D1E0F", "041065FA967380", 42,
       "803F53EA653CDEF828457A0E65F60E4C"},
      {"sdm-bolt-uid-ff", kZero, "FFFFFFFFFFFFFF", 0, "17F432A3D9CB92DC46C3A9BE69B34B57"},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.id);
    auto keys = DeriveSunAesSessionKeys(H(row.k_file), H(row.uid), row.counter);
    ASSERT_TRUE(keys.ok());
    EXPECT_EQ(Hex(keys->mac.v), row.ses_mac);
  }
  auto master = DeriveSunLrpMasterKey(H(kZero), H("042E1D222A6380"), 0x6A);
  ASSERT_TRUE(master.ok());
  EXPECT_EQ(Hex(master->v), "99C2FD9C885C2CA3C9089C20057310C0");
}

// sdm-an12196-p14-file: johnnyb/ntag424-java@04db0fca SdmTest.java
// testFileEncryptionAESFromFeaturesHints ('Pg. 14 AN12196'): no MAC, the file data alone.
TEST(SunTest, FileDataOfAn12196Page14) {
  auto file = DecryptSunFileData(SunCipher::kAes, H(kZero), H("04958CAA5C5E80"), 1,
                                 H("94592FDE69FA06E8E3B6CA686A22842B"));
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(Hex(*file), "78787878787878787878787878787878");
}

// sdm-backend's own key derivation (not NXP's; ev3_vectors.md §4 includes it for its non-zero,
// UID-diversified keys), written here from its description for the two vectors that use it:
// HMAC16(k, m) = HMAC-SHA256(k, m)[0..16); K_meta = HMAC16(M, "PICCDataKey"); K_file =
// AES-CMAC(HMAC16(M, "SlotMasterKey" ‖ key_no); 01 ‖ HMAC16(HMAC-SHA256(M, "DivBaseKey"), UID));
// an all-zero 16-byte master gives zero keys.
Bytes HmacSha256(ByteSpan key, ByteSpan msg, size_t keep) {
  Bytes out(32);
  size_t n = 0;
  EXPECT_NE(EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key.data(), key.size(),
                      msg.data(), msg.size(), out.data(), out.size(), &n),
            nullptr);
  out.resize(keep);
  return out;
}

Bytes Ascii(absl::string_view s) { return Bytes(s.begin(), s.end()); }

Bytes SdmBackendMetaKey(ByteSpan master) { return HmacSha256(master, Ascii("PICCDataKey"), 16); }

Bytes SdmBackendTagKey(ByteSpan master, ByteSpan uid, uint8_t key_no) {
  Bytes slot = Ascii("SlotMasterKey");
  slot.push_back(key_no);
  auto cmac = crypto::Cmac::Create(crypto::KeyType::kAes128, HmacSha256(master, slot, 16));
  EXPECT_TRUE(cmac.ok());
  Bytes msg = {0x01};
  const Bytes div = HmacSha256(HmacSha256(master, Ascii("DivBaseKey"), 32), uid, 16);
  msg.insert(msg.end(), div.begin(), div.end());
  Bytes out(16);
  cmac->Compute(msg, out.data());
  return out;
}

// sdm-kdf-k1: nfc-developer/sdm-backend@b459ca19 tests/test_kdf.py test_kdf_k1 (not an NXP
// scheme); sdm-kdf2-bulk's derived keys: tests/test_libsdm.py test_decrypt_with_kdf2 (the
// message itself is in sun_vectors.txt with these keys).
TEST(SunTest, SdmBackendKeyDerivation) {
  const Bytes k1 = H("C9EB67DF090AFF47C3B19A2516680B9D");
  EXPECT_EQ(Hex(SdmBackendMetaKey(k1)), "A13086F194D7BDFD108DD11716EA2BDF");
  EXPECT_EQ(Hex(SdmBackendTagKey(k1, H("010203040506AB"), 1)), "F18CDD9389D47AE7AB381E80E5AB6FE3");
  const Bytes bulk = H("47BBB68AFA73F31310BEEFCE5DDA692DBAD671A03FEAD5A9BBDBCF3CD6D4C521");
  EXPECT_EQ(Hex(SdmBackendMetaKey(bulk)), "C3B653D8484D82FD9D5DC48840E1F94E");
  EXPECT_EQ(Hex(SdmBackendTagKey(bulk, H("047D5F2AAA6180"), 2)),
            "97D1C3D765BC22AB707E80723E17B126");
}

TEST(SunTest, BadInputIsRefusedNamingTheField) {
  const std::string mac = "94EED9EE65337086";
  struct Case {
    SunInput in;
    const char* needle;
  };
  const Case cases[] = {
      {{.picc_data = "EF963FF7828658A599F3041510671E8", .mac = mac}, "picc_data"},  // 31 digits
      {{.picc_data = "EF963FF7828658A599F3041510671E88AA", .mac = mac}, "picc_data: 34"},
      {{.picc_data = "EF963FF7828658A599F3041510671EXX", .mac = mac}, "picc_data: not hex"},
      {{.picc_data = "EF963FF7828658A5 9F3041510671E88", .mac = mac}, "not hex"},
      {{.cipher = SunCipher::kLrp, .picc_data = "EF963FF7828658A599F3041510671E88", .mac = mac},
       "48 with LRP"},
      {{.picc_data = "EF963FF7828658A599F3041510671E88", .mac = "94EED9EE653370"}, "mac: 14"},
      {{.picc_data = "EF963FF7828658A599F3041510671E88", .mac = "94EED9EE6533708600"}, "mac"},
      {{.picc_data = "EF963FF7828658A599F3041510671E88", .mac = "94EED9EE6533708G"}, "not hex"},
      {{.uid = "041E3C8A2D6B80", .counter = "1000000", .mac = mac}, "overflow"},
      {{.uid = "041E3C8A2D6B80", .counter = "0006", .mac = mac}, "counter: 4"},
      {{.uid = "041E3C8A2D6B", .counter = "000006", .mac = mac}, "uid: 12"},
      {{.picc_data = "EF963FF7828658A599F3041510671E88", .uid = "041E3C8A2D6B80", .mac = mac},
       "either"},
      {{.mac = mac}, "picc_data or uid"},
      {{.uid = "041E3C8A2D6B80", .enc_file_data = "0011", .mac = mac}, "multiple of 32"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<SunMessage> msg = ParseSunInput(c.in);
    ASSERT_FALSE(msg.ok()) << c.needle;
    EXPECT_EQ(msg.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(msg.status().message().find(c.needle), std::string::npos) << msg.status();
  }
}

// A wrong K_SDMMetaRead (or a C6-style tag) decrypts to a PICCDataTag that is refused.
TEST(SunTest, WrongMetaKeyIsRefused) {
  auto msg =
      ParseSunInput({.picc_data = "EF963FF7828658A599F3041510671E88", .mac = "94EED9EE65337086"});
  ASSERT_TRUE(msg.ok());
  absl::Status s = DecryptPiccData(*msg, H("00000000000000000000000000000001"));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("PICCDataTag"), std::string::npos);
  EXPECT_FALSE(DecryptPiccData(*msg, H("0011")).ok());  // key of the wrong length
}

TEST(SunTest, VerifierWithKeyStoreAndCounterStore) {
  auto store = keys::KeyStore::Parse(
      "key sdm-meta AES128 00000000000000000000000000000000\n"
      "key sdm-file AES128 00000000000000000000000000000000\n"
      "key sdm-div AES128 00000000000000000000000000000000 diversify=an10922\n"
      "key des DES 0000000000000000\n",
      "test");
  ASSERT_TRUE(store.ok()) << store.status();
  SunCounterStore counters;
  SunVerifier v(*store, {.meta_key = "sdm-meta", .file_key = "sdm-file"}, &counters);
  ASSERT_TRUE(v.CheckKeys().ok());
  const SunInput p12{.picc_data = "EF963FF7828658A599F3041510671E88", .mac = "94EED9EE65337086"};
  SunResult first = v.Verify(p12);
  EXPECT_EQ(first.status, SunStatus::kValid) << first.error;
  // The same URL again: the counter is not newer.
  SunResult again = v.Verify(p12);
  EXPECT_EQ(again.status, SunStatus::kFlagged);
  EXPECT_TRUE(again.has(SunWarning::kCounterNotNewer));
  EXPECT_FALSE(again.has(SunWarning::kMacVerificationFailed));
  EXPECT_EQ(counters.size(), 1u);
  // A forged MAC does not move the counter; bad input is REJECTED with the reason.
  SunResult forged =
      v.Verify({.uid = "041E3C8A2D6B80", .counter = "000007", .mac = "0000000000000000"});
  EXPECT_EQ(forged.status, SunStatus::kFlagged);
  EXPECT_EQ(counters.size(), 1u);
  SunResult bad = v.Verify({.picc_data = "zz", .mac = "94EED9EE65337086"});
  EXPECT_EQ(bad.status, SunStatus::kRejected);
  EXPECT_NE(bad.error.find("picc_data"), std::string::npos);

  // A diversified file key: the p12 MAC (made with the undiversified key) does not verify.
  SunVerifier div(*store, {.meta_key = "sdm-meta", .file_key = "sdm-div"}, nullptr);
  EXPECT_EQ(div.Verify(p12).status, SunStatus::kFlagged);
  // Without a mirrored UID a diversified key cannot be derived.
  SunResult no_uid = div.Verify({.cipher = SunCipher::kLrp,
                                 .picc_data = "D99C1B274606743ECE77E01D0D46CCE69F00C0C246363639",
                                 .mac = "15CA6F05740D1AE2"});
  EXPECT_EQ(no_uid.status, SunStatus::kRejected);
  EXPECT_NE(no_uid.error.find("diversified"), std::string::npos);

  EXPECT_EQ(SunVerifier(*store, {.file_key = "nope"}, nullptr).CheckKeys().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(SunVerifier(*store, {.file_key = "des"}, nullptr).CheckKeys().code(),
            absl::StatusCode::kInvalidArgument);
  // Encrypted PICCData without a meta key named.
  EXPECT_EQ(SunVerifier(*store, {.file_key = "sdm-file"}, nullptr).Verify(p12).status,
            SunStatus::kRejected);
}

}  // namespace
}  // namespace desfired::tap
