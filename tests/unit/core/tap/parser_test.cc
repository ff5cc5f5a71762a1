#include "core/tap/parser.h"

#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "core/keys/key_store.h"
#include "core/tap/pipeline.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/core/tap/test_records.h"

namespace desfired::tap {
namespace {

using testing::kStaticKeyHex;
using testing::MakeRecord;
using testing::RecordSpec;

keys::KeyStore StoreFrom(const std::string& text) {
  absl::StatusOr<keys::KeyStore> s = keys::KeyStore::Parse(text, "test");
  EXPECT_TRUE(s.ok()) << s.status();
  return std::move(*s);
}

class ParserTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = StoreFrom(absl::StrCat("key k AES128 ", kStaticKeyHex, "\ntap static key=k\n"));
    verifier_ = std::make_unique<MacVerifier>(*MacVerifier::Create(store_));
    parser_ = std::make_unique<TapParser>(ParserOptions{}, verifier_.get());
  }
  TapResult Parse(const Bytes& raw) {
    TapResult r;
    parser_->Parse(0, raw, &r);
    return r;
  }
  keys::KeyStore store_;
  std::unique_ptr<MacVerifier> verifier_;
  std::unique_ptr<TapParser> parser_;
};

TEST_F(ParserTest, ValidRecordDecodesEveryField) {
  RecordSpec s;
  s.type = 0x02;
  s.timestamp = 1712345678;
  s.terminal = 0xabcdef;
  s.fare = 0xbeef;
  s.zone = 0x7f;
  const Bytes raw = MakeRecord(s);
  TapResult r = Parse(raw);
  EXPECT_EQ(r.status, TapStatus::kValid);
  EXPECT_EQ(r.warnings, 0);
  EXPECT_EQ(r.fields.type, RecordType::kExit);
  EXPECT_EQ(r.fields.timestamp, 1712345678u);
  EXPECT_EQ(r.fields.terminal_id, 0xabcdefu);
  EXPECT_EQ(r.fields.fare_product, 0xbeefu);
  EXPECT_EQ(r.fields.zone_route, 0x7fu);
  EXPECT_EQ(HexEncode(ByteSpan(r.fields.uid, 8)), "04a1b2c3d4e5f680");
  EXPECT_EQ(r.RecordId(), "04a1b2c3_1712345678");
  EXPECT_EQ(r.DedupKey(), "04a1b2c3d4e5f680:1712345678:11259375");
  ASSERT_NE(r.key_name, nullptr);
  EXPECT_EQ(*r.key_name, "k");
  EXPECT_EQ(r.mac_algorithm, crypto::MacAlgorithm::kAes128Cmac);
  EXPECT_EQ(r.raw.data(), raw.data());  // a view, not a copy
}

TEST_F(ParserTest, IndependentlyComputedRecordVerifies) {
  // From docs/examples/taps-sample.hex, generated with python3-cryptography.
  const Bytes raw = *HexDecode("0100f1536534120007000304a1b2c3d4e5f680d5e0afe067b6e46a80ffffffff");
  EXPECT_EQ(Parse(raw).status, TapStatus::kValid);
}

TEST_F(ParserTest, AllThreeRecordTypes) {
  for (uint8_t t : {uint8_t{1}, uint8_t{2}, uint8_t{3}}) {
    RecordSpec s;
    s.type = t;
    EXPECT_EQ(Parse(MakeRecord(s)).status, TapStatus::kValid) << int{t};
  }
}

TEST_F(ParserTest, UnknownRecordTypeIsRejected) {
  for (int t : {0x00, 0x04, 0x7f, 0xff}) {
    RecordSpec s;
    s.type = static_cast<uint8_t>(t);
    TapResult r = Parse(MakeRecord(s));
    EXPECT_EQ(r.status, TapStatus::kRejected);
    EXPECT_EQ(r.reject, RejectReason::kBadRecordType);
    EXPECT_THAT(r.ErrorText(), ::testing::HasSubstr("unknown record type"));
  }
}

TEST_F(ParserTest, LengthTable) {
  const Bytes full = MakeRecord(RecordSpec{});
  for (size_t n = 0; n <= 40; ++n) {
    Bytes raw(full.begin(), full.begin() + std::min(n, full.size()));
    raw.resize(n, 0xff);
    TapResult r = Parse(raw);
    if (n < 28) {
      EXPECT_EQ(r.status, TapStatus::kRejected) << n;
      EXPECT_EQ(r.reject, RejectReason::kTooShort) << n;
      EXPECT_THAT(r.ErrorText(), ::testing::HasSubstr(absl::StrCat(n, " bytes")));
    } else if (n > 32) {
      EXPECT_EQ(r.status, TapStatus::kRejected) << n;
      EXPECT_EQ(r.reject, RejectReason::kTooLong) << n;
    } else {
      EXPECT_EQ(r.status, TapStatus::kValid) << n;
      EXPECT_EQ(r.has(TapWarning::kRecordTruncated), n < 32) << n;
      EXPECT_FALSE(r.has(TapWarning::kPaddingInvalid)) << n;
    }
  }
}

TEST_F(ParserTest, Crc8Mismatch) {
  Bytes raw = MakeRecord(RecordSpec{});
  raw[kCrcOffset] ^= 0x01;
  TapResult r = Parse(raw);
  EXPECT_EQ(r.status, TapStatus::kFlagged);
  EXPECT_EQ(r.warnings, 1u << static_cast<int>(TapWarning::kCrc8Mismatch));
}

TEST_F(ParserTest, MacVerificationFailed) {
  Bytes raw = MakeRecord(RecordSpec{}, "000102030405060708090a0b0c0d0e0f");
  TapResult r = Parse(raw);
  EXPECT_EQ(r.status, TapStatus::kFlagged);
  EXPECT_TRUE(r.has(TapWarning::kMacVerificationFailed));
  EXPECT_FALSE(r.has(TapWarning::kMacNotVerified));
  EXPECT_FALSE(r.has(TapWarning::kCrc8Mismatch));
}

// A record sent as hex in the JSON of TapInput.raw arrives as the base64 decoding of its hex
// digits (64 digits: 48 bytes): the rejection says so, for every decodable length.
TEST_F(ParserTest, HexGivenAsBase64IsNamedInTheError) {
  const std::string hex = HexEncode(MakeRecord(RecordSpec{}));
  for (size_t digits : {56u, 60u, 64u}) {
    std::string bytes;
    ASSERT_TRUE(absl::Base64Unescape(hex.substr(0, digits), &bytes)) << digits;
    const Bytes raw(bytes.begin(), bytes.end());  // outlives r, whose raw points into it
    TapResult r = Parse(raw);
    EXPECT_EQ(r.reject, RejectReason::kTooLong) << digits;
    EXPECT_THAT(r.ErrorText(),
                ::testing::HasSubstr(absl::StrCat("base64 decoding of ", digits,
                                                  " hex digits: the record was "
                                                  "given as hex where base64 is expected")));
  }
  // Other too long records do not get the remark.
  const Bytes ff(48, 0xff);
  TapResult other = Parse(ff);
  EXPECT_EQ(other.reject, RejectReason::kTooLong);
  EXPECT_EQ(other.ErrorText(), "record too long: 48 bytes (maximum 32)");
}

TEST(ParserNoKeyTest, MacNotVerifiedWithoutKey) {
  TapParser parser(ParserOptions{}, nullptr);
  TapResult r;
  const Bytes raw = MakeRecord(RecordSpec{});
  parser.Parse(0, raw, &r);
  EXPECT_EQ(r.status, TapStatus::kFlagged);
  EXPECT_EQ(r.warnings, 1u << static_cast<int>(TapWarning::kMacNotVerified));
  EXPECT_EQ(r.key_name, nullptr);
}

TEST_F(ParserTest, ClockWindow) {
  struct Case {
    uint32_t t;
    bool drift;
  };
  for (const Case& c : {Case{1577836800 - 1, true},  // 2019-12-31T23:59:59Z
                        Case{1577836800, false},     // 2020-01-01T00:00:00Z
                        Case{2082758399, false},     // 2035-12-31T23:59:59Z
                        Case{2082758400, true},      // 2036-01-01
                        Case{0, true}, Case{0xffffffff, true}}) {
    RecordSpec s;
    s.timestamp = c.t;
    TapResult r = Parse(MakeRecord(s));
    EXPECT_EQ(r.has(TapWarning::kClockDriftDetected), c.drift) << c.t;
    EXPECT_EQ(r.status, TapStatus::kValid) << "clock warnings do not change the status";
  }
  EXPECT_EQ(StartOfYearUtc(1970), 0);
  EXPECT_EQ(StartOfYearUtc(2000), 946684800);
  EXPECT_EQ(StartOfYearUtc(2020), 1577836800);
  EXPECT_EQ(StartOfYearUtc(2100), 4102444800);
}

TEST_F(ParserTest, PaddingInvalid) {
  for (size_t i = kPaddingOffset; i < kRecordSize; ++i) {
    Bytes raw = MakeRecord(RecordSpec{});
    raw[i] = 0x00;
    TapResult r = Parse(raw);
    EXPECT_EQ(r.status, TapStatus::kValid) << i;
    EXPECT_EQ(r.warnings, 1u << static_cast<int>(TapWarning::kPaddingInvalid)) << i;
  }
}

// Flip every bit of every byte of a valid record: each flip must be caught by exactly the
// check that covers that byte.
TEST_F(ParserTest, MutationOfEveryByte) {
  const Bytes valid = MakeRecord(RecordSpec{});
  for (size_t i = 0; i < kRecordSize; ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      Bytes raw = valid;
      raw[i] ^= static_cast<uint8_t>(1 << bit);
      TapResult r = Parse(raw);
      const std::string where = absl::StrCat("byte ", i, " bit ", bit);
      if (i == kTypeOffset && (raw[0] < 1 || raw[0] > 3)) {
        EXPECT_EQ(r.status, TapStatus::kRejected) << where;
        continue;
      }
      if (i < kMacCoveredLength) {
        // Covered by CRC and MAC: both fail.
        EXPECT_EQ(r.status, TapStatus::kFlagged) << where;
        EXPECT_TRUE(r.has(TapWarning::kCrc8Mismatch)) << where;
        EXPECT_TRUE(r.has(TapWarning::kMacVerificationFailed)) << where;
      } else if (i < kCrcOffset) {
        // The MAC bytes themselves: the CRC covers them, the MAC compare fails.
        EXPECT_EQ(r.status, TapStatus::kFlagged) << where;
        EXPECT_TRUE(r.has(TapWarning::kCrc8Mismatch)) << where;
        EXPECT_TRUE(r.has(TapWarning::kMacVerificationFailed)) << where;
      } else if (i == kCrcOffset) {
        EXPECT_EQ(r.status, TapStatus::kFlagged) << where;
        EXPECT_EQ(r.warnings, 1u << static_cast<int>(TapWarning::kCrc8Mismatch)) << where;
      } else {
        EXPECT_EQ(r.status, TapStatus::kValid) << where;
        EXPECT_EQ(r.warnings, 1u << static_cast<int>(TapWarning::kPaddingInvalid)) << where;
      }
    }
  }
}

// A field changed and the CRC recomputed (an attacker without the key): only the MAC catches it.
TEST_F(ParserTest, ForgedFieldWithFixedCrcFailsMac) {
  for (size_t i = 0; i < kMacCoveredLength; ++i) {
    Bytes raw = MakeRecord(RecordSpec{});
    if (i == kTypeOffset) {
      raw[i] = raw[i] == 1 ? 2 : 1;
    } else {
      raw[i] ^= 0x01;  // small enough to keep the time inside the clock window
    }
    testing::FixCrc(&raw);
    TapResult r = Parse(raw);
    EXPECT_EQ(r.status, TapStatus::kFlagged) << i;
    EXPECT_EQ(r.warnings, 1u << static_cast<int>(TapWarning::kMacVerificationFailed)) << i;
  }
}

TEST(MacPolicyTest, Ev2TruncationIndependentRecord) {
  keys::KeyStore store = StoreFrom(absl::StrCat("key e AES128 ", testing::kEv2KeyHex,
                                                "\ntap static key=e mac=AES128_CMAC_EV2\n"));
  MacVerifier v = *MacVerifier::Create(store);
  TapParser parser(ParserOptions{}, &v);
  TapResult r;
  const Bytes raw = *HexDecode(testing::kEv2RecordHex);
  parser.Parse(0, raw, &r);
  EXPECT_EQ(r.status, TapStatus::kValid);
  EXPECT_EQ(r.mac_algorithm, crypto::MacAlgorithm::kAes128CmacEv2);

  // The same key with the plain truncation must not verify it.
  keys::KeyStore plain = StoreFrom(
      absl::StrCat("key e AES128 ", testing::kEv2KeyHex, "\ntap static key=e mac=AES128_CMAC\n"));
  MacVerifier v2 = *MacVerifier::Create(plain);
  TapParser parser2(ParserOptions{}, &v2);
  parser2.Parse(0, raw, &r);
  EXPECT_TRUE(r.has(TapWarning::kMacVerificationFailed));
}

TEST(MacPolicyTest, TdesCmacTwoAndThreeKeyIndependentRecords) {
  for (auto [type, key, rec] :
       {std::tuple{"2TDEA", testing::kTdes2KeyHex, testing::kTdes2RecordHex},
        std::tuple{"3TDEA", testing::kTdes3KeyHex, testing::kTdes3RecordHex}}) {
    keys::KeyStore store =
        StoreFrom(absl::StrCat("key t ", type, " ", key, "\ntap static key=t\n"));
    ASSERT_EQ(store.static_rule()->mac, crypto::MacAlgorithm::kTdesCmac);  // the default for TDEA
    MacVerifier v = *MacVerifier::Create(store);
    TapParser parser(ParserOptions{}, &v);
    TapResult r;
    const Bytes raw = *HexDecode(rec);
    parser.Parse(0, raw, &r);
    EXPECT_EQ(r.status, TapStatus::kValid) << type;
  }
}

TEST(MacPolicyTest, PerCardDiversifiedKeyIndependentRecord) {
  keys::KeyStore store =
      StoreFrom(absl::StrCat("key m AES128 ", testing::kCardMasterHex,
                             "\ntap card key=m system=", testing::kCardSystemHex, "\n"));
  MacVerifier v = *MacVerifier::Create(store);
  TapParser parser(ParserOptions{}, &v);
  TapResult r;
  const Bytes raw = *HexDecode(testing::kCardRecordHex);
  for (int i = 0; i < 2; ++i) {  // second time from the cache
    parser.Parse(0, raw, &r);
    EXPECT_EQ(r.status, TapStatus::kValid);
    ASSERT_NE(r.key_name, nullptr);
    EXPECT_EQ(*r.key_name, "m");
  }
  // Another card's UID with the same MAC: a different diversified key, so it fails.
  Bytes other = raw;
  other[kUidOffset + 6] ^= 1;
  testing::FixCrc(&other);
  parser.Parse(1, other, &r);
  EXPECT_EQ(r.status, TapStatus::kFlagged);
  EXPECT_TRUE(r.has(TapWarning::kMacVerificationFailed));
  // The flag byte (UID byte 7) is not part of the diversification input, but the MAC covers
  // it, so changing it fails as well.
  Bytes flag = raw;
  flag[kUidOffset + 7] ^= 1;
  testing::FixCrc(&flag);
  parser.Parse(2, flag, &r);
  EXPECT_TRUE(r.has(TapWarning::kMacVerificationFailed));
}

TEST(MacPolicyTest, TerminalRuleWinsOverCardAndStatic) {
  const Bytes term_key_rec = [] {
    RecordSpec s;
    s.terminal = 0x000010;
    return MakeRecord(s, "000102030405060708090a0b0c0d0e0f");
  }();
  const Bytes static_rec = MakeRecord(RecordSpec{});  // terminal 0x1234, static key
  keys::KeyStore store =
      StoreFrom(absl::StrCat("key t AES128 000102030405060708090a0b0c0d0e0f\n"
                             "key s AES128 ",
                             kStaticKeyHex,
                             "\n"
                             "tap terminal 0x10 key=t\n"
                             "tap static key=s\n"));
  MacVerifier v = *MacVerifier::Create(store);
  TapParser parser(ParserOptions{}, &v);
  TapResult r;
  parser.Parse(0, term_key_rec, &r);
  EXPECT_EQ(r.status, TapStatus::kValid);
  EXPECT_EQ(*r.key_name, "t");
  parser.Parse(1, static_rec, &r);
  EXPECT_EQ(r.status, TapStatus::kValid);
  EXPECT_EQ(*r.key_name, "s");
}

TEST(MacPolicyTest, TerminalOnlyRulesLeaveOtherTerminalsUnverified) {
  keys::KeyStore store = StoreFrom(
      "key t AES128 000102030405060708090a0b0c0d0e0f\n"
      "tap terminal 16 key=t\n");
  MacVerifier v = *MacVerifier::Create(store);
  TapParser parser(ParserOptions{}, &v);
  TapResult r;
  const Bytes raw = MakeRecord(RecordSpec{});
  parser.Parse(0, raw, &r);
  EXPECT_EQ(r.status, TapStatus::kFlagged);
  EXPECT_EQ(r.warnings, 1u << static_cast<int>(TapWarning::kMacNotVerified));
}

TEST(PipelineTest, RejectsEmptyYearWindow) {
  TapPipelineConfig config;
  config.parser.min_year = 2030;
  config.parser.max_year = 2020;
  EXPECT_FALSE(TapPipeline::Create(config).ok());
}

TEST(PipelineTest, UnreadableInputIsRejectedAndCounted) {
  auto p = *TapPipeline::Create(TapPipelineConfig{});
  TapResult r;
  p->ProcessUnreadable(3, {}, "line 4: non-hex character", &r);
  EXPECT_EQ(r.status, TapStatus::kRejected);
  EXPECT_EQ(r.ErrorText(), "line 4: non-hex character");
  EXPECT_EQ(p->summary().rejected, 1u);
}

}  // namespace
}  // namespace desfired::tap
