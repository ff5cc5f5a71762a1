// The host protocol (core/pcsc, core/desfire) against desfire-sim through a real, sandboxed
// pcscd. The two sides are written independently; this is where they meet on the wire.
#include <string>

#include "absl/strings/str_cat.h"
#include "core/apdu/status_payload.h"
#include "core/desfire/channel.h"
#include "core/desfire/session.h"
#include "core/keys/key_store.h"
#include "core/pcsc/pcsc.h"
#include "core/tap/pipeline.h"
#include "gtest/gtest.h"
#include "tests/integration/transit_sandbox_test.h"
#include "tests/unit/hex_testing.h"

namespace desfired {
namespace {

using desfire::AuthScheme;
using desfire::Channel;
using desfire::CommMode;
using desfire::Ins;
using desfire::Session;
using test_util::Hex;

// sim/images/transit.json: application F51001 (sent LSB first), AES key 1 reads, files:
// 1 value (full, 2500), 3 cyclic records of tap records (MACed).
constexpr uint8_t kTransitAid[] = {0x01, 0x10, 0xF5};
constexpr char kReadKeyHex[] = "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf";

class HostSimTest : public testing::TransitSandboxTest {};

TEST_F(HostSimTest, ListConnectAtrUidAndGetVersion) {
  auto readers = context_->ListReaders();
  ASSERT_TRUE(readers.ok()) << readers.status();
  ASSERT_EQ(readers->size(), 2u);
  EXPECT_EQ((*readers)[0], sandbox_->ReaderName(0));
  auto card = context_->Connect(sandbox_->ReaderName(0));
  ASSERT_TRUE(card.ok()) << card.status();
  EXPECT_EQ(HexEncode(*(*card)->Atr()), "3b8180018080");
  EXPECT_EQ(HexEncode(*(*card)->Uid()), "04a1b2c3d4e5f6");
  Channel channel(**card);
  auto version = channel.Transceive(Ins::kGetVersion, {});
  ASSERT_TRUE(version.ok()) << version.status();
  ASSERT_EQ(version->data.size(), 28u);  // 7 hardware + 7 software + 14 (UID, batch, date)
  EXPECT_EQ(version->data[0], 0x04);     // vendor NXP
  EXPECT_EQ(HexEncode(ByteSpan(version->data).subspan(14, 7)), "04a1b2c3d4e5f6");
}

// An empty reader is NO_CARD (present one), not CARD_REMOVED (no card left during a call).
TEST_F(HostSimTest, EmptyReaderIsNoCard) {
  auto card = context_->Connect(sandbox_->ReaderName(1));
  ASSERT_FALSE(card.ok());
  EXPECT_EQ(card.status().code(), absl::StatusCode::kFailedPrecondition) << card.status();
  EXPECT_EQ(apdu::GetReason(card.status()), std::string(pcsc::kReasonNoCard));
}

// AES authentication, an enciphered GetValue and MACed ReadRecords, then the records parsed
// as tap records: the path ReadTapLog will take.
TEST_F(HostSimTest, AesSessionReadsValueAndTapLog) {
  auto card = context_->Connect(sandbox_->ReaderName(0));
  ASSERT_TRUE(card.ok()) << card.status();
  Channel channel(**card);
  Session session(channel);
  ASSERT_TRUE(
      session
          .Execute({.ins = Ins::kSelectApplication, .header = Bytes(kTransitAid, kTransitAid + 3)})
          .ok());
  absl::Status auth =
      session.Authenticate(AuthScheme::kAes, 1, crypto::KeyType::kAes128, Hex(kReadKeyHex));
  ASSERT_TRUE(auth.ok()) << auth;

  auto value = session.Execute({.ins = Ins::kGetValue,
                                .header = {0x01},
                                .response_mode = CommMode::kFull,
                                .response_length = 4});
  ASSERT_TRUE(value.ok()) << value.status();
  ASSERT_EQ(value->size(), 4u);
  EXPECT_EQ(LoadLe32(value->data()), 2500u);

  auto records = session.Execute({.ins = Ins::kReadRecords,
                                  .header = {0x03, 0, 0, 0, 0, 0, 0},
                                  .response_mode = CommMode::kMac});
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_GT(records->size(), 0u);
  ASSERT_EQ(records->size() % 32, 0u);

  keys::KeyStore store = *keys::KeyStore::Parse(
      "key transit AES128 2b7e151628aed2a6abf7158809cf4f3c\ntap static key=transit\n", "test");
  tap::TapPipelineConfig config;
  config.keys = &store;
  auto pipeline = *tap::TapPipeline::Create(config);
  tap::TapResult r;
  for (size_t i = 0; i * 32 < records->size(); ++i) {
    pipeline->Process(i, ByteSpan(*records).subspan(i * 32, 32), std::nullopt, &r);
    EXPECT_EQ(r.status, tap::TapStatus::kValid) << i << ": " << HexEncode(r.raw);
  }
  EXPECT_EQ(pipeline->summary().valid, records->size() / 32);

  // A wrong key is refused by the card (0xAE), and reported as such.
  Session other(channel);
  ASSERT_TRUE(
      other.Execute({.ins = Ins::kSelectApplication, .header = Bytes(kTransitAid, kTransitAid + 3)})
          .ok());
  absl::Status wrong = other.Authenticate(AuthScheme::kAes, 1, crypto::KeyType::kAes128,
                                          Hex("000102030405060708090a0b0c0d0e0f"));
  EXPECT_EQ(wrong.code(), absl::StatusCode::kPermissionDenied) << wrong;
}

// The card torn away in the middle of an exchange: CARD_REMOVED, never a success.
TEST_F(HostSimTest, TornCardIsCardRemoved) {
  auto card = context_->Connect(sandbox_->ReaderName(0));
  ASSERT_TRUE(card.ok()) << card.status();
  ASSERT_TRUE(sandbox_->Control(0, "tear 1").ok());
  Channel channel(**card);
  auto version = channel.Transceive(Ins::kGetVersion, {});
  ASSERT_FALSE(version.ok());
  EXPECT_EQ(version.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(apdu::GetReason(version.status()), std::string(apdu::kReasonCardRemoved))
      << version.status();
}

}  // namespace
}  // namespace desfired
