// ToProto for tap results (proto/convert/tap_convert.h): the strings it writes in place equal
// the core's own formatters, and a message filled again (reused, or on an arena) equals a
// fresh one. FromProto: the inverse of ToProto (both ways round), and an error for what no
// core result holds.
#include "proto/convert/tap_convert.h"

#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
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
constexpr char kTerminals[] = "terminal_id,name\n0x001234,Central\n";
constexpr char kTariffs[] = "fare_product,name\n7,Day pass\n";

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

  // The inputs once more, and one with a fare product not in the table, through a pipeline
  // with a terminal registry and a tariff table (names, UNKNOWN_* warnings), and an unreadable
  // input line; appended to results_.
  void AddResultsWithTables() {
    std::istringstream terminals(kTerminals), tariffs(kTariffs);
    terminals_ = *tap::IdTable::LoadCsv(terminals, "terminals", "terminal_id", 0xFFFFFF);
    tariffs_ = *tap::IdTable::LoadCsv(tariffs, "tariffs", "fare_product", 0xFFFF);
    tap::TapPipelineConfig config;
    config.keys = &store_;
    config.terminals = &*terminals_;
    config.tariffs = &*tariffs_;
    tables_pipeline_ = *tap::TapPipeline::Create(config);
    table_inputs_ = inputs_;
    table_inputs_.push_back({MakeRecord({.timestamp = 1700000600, .fare = 9}), std::nullopt});
    const size_t first = results_.size();
    results_.resize(first + table_inputs_.size() + 1);
    for (size_t i = 0; i < table_inputs_.size(); ++i) {
      tables_pipeline_->Process(first + i, table_inputs_[i].raw, table_inputs_[i].backend_time,
                                &results_[first + i]);
    }
    tables_pipeline_->ProcessUnreadable(results_.size() - 1, {}, "line 9: non-hex character 'z'",
                                        &results_.back());
  }

  keys::KeyStore store_;
  std::optional<tap::IdTable> terminals_, tariffs_;
  std::unique_ptr<tap::TapPipeline> tables_pipeline_;
  std::unique_ptr<tap::TapPipeline> pipeline_;
  std::vector<Input> inputs_;
  std::vector<Input> table_inputs_;
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

void ExpectSameResult(const tap::TapResult& a, const tap::TapResult& b) {
  EXPECT_EQ(a.index, b.index);
  EXPECT_EQ(a.status, b.status);
  EXPECT_EQ(a.warnings, b.warnings);
  EXPECT_EQ(a.reject, b.reject);
  EXPECT_EQ(a.reject_detail, b.reject_detail);
  EXPECT_EQ(a.ErrorText(), b.ErrorText());
  EXPECT_EQ(HexEncode(a.raw), HexEncode(b.raw));
  if (a.status == tap::TapStatus::kRejected) return;
  EXPECT_EQ(a.fields.type, b.fields.type);
  EXPECT_EQ(a.fields.timestamp, b.fields.timestamp);
  EXPECT_EQ(a.fields.terminal_id, b.fields.terminal_id);
  EXPECT_EQ(a.fields.fare_product, b.fields.fare_product);
  EXPECT_EQ(a.fields.zone_route, b.fields.zone_route);
  EXPECT_EQ(HexEncode(ByteSpan(a.fields.uid, tap::kUidLength)),
            HexEncode(ByteSpan(b.fields.uid, tap::kUidLength)));
  EXPECT_EQ(HexEncode(ByteSpan(a.fields.mac, tap::kMacLength)),
            HexEncode(ByteSpan(b.fields.mac, tap::kMacLength)));
  EXPECT_EQ(a.fields.crc8, b.fields.crc8);
  EXPECT_EQ(a.mac_algorithm, b.mac_algorithm);
  const auto name = [](const std::string* s) { return s == nullptr ? "(none)" : *s; };
  EXPECT_EQ(name(a.key_name), name(b.key_name));
  EXPECT_EQ(a.has_clock_offset, b.has_clock_offset);
  EXPECT_EQ(a.clock_offset, b.clock_offset);
  EXPECT_EQ(a.corrected_time, b.corrected_time);
  EXPECT_EQ(name(a.terminal_name), name(b.terminal_name));
  EXPECT_EQ(name(a.fare_product_name), name(b.fare_product_name));
}

// core -> proto -> core gives the result back, and proto -> core -> proto the message.
TEST_F(TapConvertTest, FromProtoIsTheInverseOfToProto) {
  AddResultsWithTables();
  bool names = false, unknown = false, unreadable = false;
  for (const tap::TapResult& r : results_) {
    SCOPED_TRACE(r.index);
    v1::TapResult p;
    ToProto(r, &p);
    Bytes raw = {0xAA, 0xBB, 0xCC};  // reused: FromProto replaces the bytes
    tap::TapResult back;
    back.add(tap::TapWarning::kDuplicateTap);  // reset: nothing of this stays
    ASSERT_TRUE(FromProto(p, &raw, &back).ok());
    ExpectSameResult(r, back);
    v1::TapResult again;
    ToProto(back, &again);
    EXPECT_EQ(again.SerializeAsString(), p.SerializeAsString());
    names |= r.terminal_name != nullptr && r.fare_product_name != nullptr;
    unknown |= r.has(tap::TapWarning::kUnknownTerminal);
    unreadable |= r.reject == tap::RejectReason::kUnreadableInput;
  }
  EXPECT_TRUE(names && unknown && unreadable);  // the inputs reach every field
}

TEST_F(TapConvertTest, AnErrorTextOfItsOwnIsKept) {
  v1::TapResult p;
  ToProto(results_[3], &p);  // REJECTED: too short
  p.set_error("line 4: odd number of hex digits (41)");
  Bytes raw;
  tap::TapResult back;
  ASSERT_TRUE(FromProto(p, &raw, &back).ok());
  EXPECT_EQ(back.reject, tap::RejectReason::kUnreadableInput);
  EXPECT_EQ(back.ErrorText(), p.error());
  v1::TapResult again;
  ToProto(back, &again);
  EXPECT_EQ(again.SerializeAsString(), p.SerializeAsString());
}

TEST_F(TapConvertTest, FromProtoRefusesWhatNoCoreResultHolds) {
  v1::TapResult valid;
  ToProto(results_[0], &valid);
  v1::TapResult rejected;
  ToProto(results_[3], &rejected);
  const struct {
    const char* field;
    v1::TapResult message;
  } cases[] = {
      {"status",
       [&] {
         v1::TapResult p = valid;
         p.set_status(v1::TapResult::STATUS_UNSPECIFIED);
         return p;
       }()},
      {"warning",
       [&] {
         v1::TapResult p = valid;
         p.add_warnings(static_cast<v1::TapWarning>(tap::kLastWarning + 1));
         return p;
       }()},
      {"raw_hex",
       [&] {
         v1::TapResult p = rejected;
         p.set_raw_hex("ABCD");  // upper case would not come back the same
         return p;
       }()},
      {"raw_hex",
       [&] {
         v1::TapResult p = rejected;
         p.set_raw_hex("abc");
         return p;
       }()},
      {"record_type",
       [&] {
         v1::TapResult p = valid;
         p.mutable_record()->set_record_type(v1::TapRecord::TYPE_UNSPECIFIED);
         return p;
       }()},
      {"tap_time",
       [&] {
         v1::TapResult p = valid;
         p.mutable_record()->mutable_tap_time()->set_seconds(int64_t{1} << 32);
         return p;
       }()},
      {"card_uid",
       [&] {
         v1::TapResult p = valid;
         p.mutable_record()->set_card_uid("04a1b2c3d4e5f6");
         return p;
       }()},
      {"mac",
       [&] {
         v1::TapResult p = valid;
         p.mutable_record()->set_mac("d5e0afe067b6e46g");
         return p;
       }()},
      {"crc8",
       [&] {
         v1::TapResult p = valid;
         p.mutable_record()->set_crc8(256);
         return p;
       }()},
      {"mac_algorithm",
       [&] {
         v1::TapResult p = valid;
         p.set_mac_algorithm(static_cast<v1::TapMacAlgorithm>(4));
         return p;
       }()},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.message.ShortDebugString());
    Bytes raw;
    tap::TapResult back;
    absl::Status s = FromProto(c.message, &raw, &back);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(s.message().find(c.field), absl::string_view::npos) << s.message();
    const std::string index = absl::StrCat("tap result ", c.message.index(), ":");
    EXPECT_NE(s.message().find(index), absl::string_view::npos) << s.message();
  }
}

TEST_F(TapConvertTest, SummaryFromProtoIsTheInverseOfToProto) {
  AddResultsWithTables();
  const tap::TapSummary& summary = tables_pipeline_->summary();
  ASSERT_FALSE(summary.unknown_fare_products.empty());
  v1::TapSummary p;
  ToProto(summary, &p);
  tap::TapSummary back;
  back.total = 99;  // reset: nothing of this stays
  ASSERT_TRUE(FromProto(p, &back).ok());
  EXPECT_EQ(back.ToText(), summary.ToText());
  EXPECT_EQ(back.warnings, summary.warnings);
  EXPECT_EQ(back.unknown_terminals, summary.unknown_terminals);
  EXPECT_EQ(back.unknown_fare_products, summary.unknown_fare_products);
  v1::TapSummary again;
  ToProto(back, &again);
  EXPECT_EQ(again.SerializeAsString(), p.SerializeAsString());

  p.add_warnings()->set_warning(static_cast<v1::TapWarning>(tap::kLastWarning + 1));
  EXPECT_EQ(FromProto(p, &back).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace desfired
