// ToProto for tap results (proto/convert/tap_convert.h): the strings it writes in place equal
// the core's own formatters, and a message filled again (reused, or on an arena) equals a
// fresh one.
#include "proto/convert/tap_convert.h"

#include <optional>
#include <string>
#include <vector>

#include "core/keys/key_store.h"
#include "core/tap/pipeline.h"
#include "google/protobuf/arena.h"
#include "gtest/gtest.h"
#include "tests/unit/core/tap/test_records.h"

namespace desfired {
namespace {

using tap::testing::FixCrc;
using tap::testing::MakeRecord;
using tap::testing::RecordSpec;

constexpr char kKeys[] =
    "key tap AES128 2b7e151628aed2a6abf7158809cf4f3c\n"
    "tap static key=tap\n";

struct Input {
  Bytes raw;
  std::optional<int64_t> backend_time;
};

// Valid, FLAGGED (MAC, CRC), REJECTED (short, bad type), truncated, with a clock offset, and
// the largest time and terminal id.
std::vector<Input> Inputs() {
  std::vector<Input> in;
  in.push_back({MakeRecord({}), std::nullopt});
  Bytes bad_mac = MakeRecord({.timestamp = 1700000100});
  bad_mac[tap::kMacOffset] ^= 1;
  FixCrc(&bad_mac);
  in.push_back({bad_mac, std::nullopt});
  Bytes bad_crc = MakeRecord({.timestamp = 1700000200});
  bad_crc[tap::kCrcOffset] ^= 1;
  in.push_back({bad_crc, std::nullopt});
  in.push_back({Bytes(20, 0x01), std::nullopt});
  Bytes bad_type = MakeRecord({.type = 0x07, .timestamp = 1700000300});
  in.push_back({bad_type, std::nullopt});
  Bytes truncated = MakeRecord({.timestamp = 1700000400});
  truncated.resize(29);
  in.push_back({truncated, std::nullopt});
  in.push_back({MakeRecord({.timestamp = 1700000500}), int64_t{1700000490}});
  in.push_back({MakeRecord({.timestamp = 0xFFFFFFFF, .terminal = 0xFFFFFF}), std::nullopt});
  return in;
}

class TapConvertTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = *keys::KeyStore::Parse(kKeys, "test");
    tap::TapPipelineConfig config;
    config.keys = &store_;
    pipeline_ = *tap::TapPipeline::Create(config);
    inputs_ = Inputs();
    results_.resize(inputs_.size());
    for (size_t i = 0; i < inputs_.size(); ++i) {
      pipeline_->Process(i, inputs_[i].raw, inputs_[i].backend_time, &results_[i]);
    }
  }

  keys::KeyStore store_;
  std::unique_ptr<tap::TapPipeline> pipeline_;
  std::vector<Input> inputs_;
  std::vector<tap::TapResult> results_;
};

TEST_F(TapConvertTest, KnownRecord) {
  v1::TapResult p;
  ToProto(results_[0], &p);
  EXPECT_EQ(p.status(), v1::TapResult::VALID);
  EXPECT_EQ(p.record_id(), "04a1b2c3_1700000000");
  EXPECT_EQ(p.dedup_key(), "04a1b2c3d4e5f680:1700000000:4660");
  EXPECT_EQ(p.record().card_uid(), "04a1b2c3d4e5f680");
  EXPECT_EQ(p.raw_hex(), HexEncode(inputs_[0].raw));
  EXPECT_EQ(p.key_name(), "tap");
}

TEST_F(TapConvertTest, StringsEqualTheCoreFormatters) {
  for (size_t i = 0; i < results_.size(); ++i) {
    SCOPED_TRACE(i);
    const tap::TapResult& r = results_[i];
    v1::TapResult p;
    ToProto(r, &p);
    EXPECT_EQ(p.raw_hex(), HexEncode(r.raw));
    if (r.status == tap::TapStatus::kRejected) {
      EXPECT_EQ(p.error(), r.ErrorText());
      EXPECT_FALSE(p.has_record());
      EXPECT_EQ(p.record_id(), "");
      EXPECT_EQ(p.dedup_key(), "");
      continue;
    }
    EXPECT_EQ(p.record_id(), r.RecordId());
    EXPECT_EQ(p.dedup_key(), r.DedupKey());
    EXPECT_EQ(p.record().card_uid(), HexEncode(ByteSpan(r.fields.uid, tap::kUidLength)));
    EXPECT_EQ(p.record().mac(), HexEncode(ByteSpan(r.fields.mac, tap::kMacLength)));
    EXPECT_EQ(p.record().tap_time().seconds(), r.fields.timestamp);
    EXPECT_EQ(p.has_corrected_tap_time(), r.has_clock_offset);
  }
  EXPECT_EQ(results_[1].status, tap::TapStatus::kFlagged);
  EXPECT_EQ(results_[3].status, tap::TapStatus::kRejected);
  EXPECT_TRUE(results_[6].has_clock_offset);
}

TEST_F(TapConvertTest, MessageFilledAgainEqualsAFreshOne) {
  google::protobuf::Arena arena;
  for (size_t a = 0; a < results_.size(); ++a) {
    for (size_t b = 0; b < results_.size(); ++b) {
      SCOPED_TRACE(::testing::Message() << a << " then " << b);
      v1::TapResult fresh;
      ToProto(results_[b], &fresh);
      v1::TapResult reused;
      ToProto(results_[a], &reused);
      ToProto(results_[b], &reused);
      EXPECT_EQ(reused.SerializeAsString(), fresh.SerializeAsString());
      auto* on_arena = google::protobuf::Arena::CreateMessage<v1::TapResult>(&arena);
      ToProto(results_[a], on_arena);
      ToProto(results_[b], on_arena);
      EXPECT_EQ(on_arena->SerializeAsString(), fresh.SerializeAsString());
    }
  }
}

}  // namespace
}  // namespace desfired
