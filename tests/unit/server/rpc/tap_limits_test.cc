#include "server/rpc/tap_limits.h"

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "core/apdu/status_payload.h"
#include "core/keys/key_store.h"
#include "core/util/status_reason.h"
#include "desfired/v1/taps.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/arena.h"
#include "gtest/gtest.h"
#include "proto/convert/tap_convert.h"
#include "server/rpc/call_budget.h"
#include "server/rpc/request_limits.h"
#include "server/rpc/tap_request_scan.h"
#include "tests/unit/core/tap/test_records.h"

namespace desfired::server {
namespace {

grpc::ByteBuffer Buffer(const std::string& s) {
  grpc::Slice slice(s);
  return grpc::ByteBuffer(&slice, 1);
}

std::string Field(const absl::Status& s) { return apdu::GetErrorMetadata(s, "field").value_or(""); }

// A full record with a backend time (the widest input that decodes).
v1::ParseTapsRequest Batch(int n) {
  Bytes r = tap::testing::MakeRecord(tap::testing::RecordSpec{});
  v1::ParseTapsRequest req;
  for (int i = 0; i < n; ++i) {
    v1::TapInput* in = req.add_records();
    in->set_raw(std::string(r.begin(), r.end()));
    in->mutable_backend_time()->set_seconds(std::numeric_limits<int64_t>::min());
    in->mutable_backend_time()->set_nanos(999999999);
  }
  return req;
}

TEST(ScanTapRequestTest, CountsRecordsWithoutParsing) {
  v1::ParseTapsRequest req = Batch(3);
  grpc::ByteBuffer b = Buffer(req.SerializeAsString());
  absl::StatusOr<size_t> n = ScanTapRequest(&b, 3);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 3u);
  grpc::ByteBuffer empty = Buffer("");
  EXPECT_EQ(*ScanTapRequest(&empty, 3), 0u);
  // The widest decodable input fits the per-record maximum.
  EXPECT_LE(req.records(0).ByteSizeLong(), kMaxTapInputBytes);
}

TEST(ScanTapRequestTest, RefusesTooManyRecordsBeforeParsing) {
  grpc::ByteBuffer b = Buffer(Batch(4).SerializeAsString());
  absl::StatusOr<size_t> n = ScanTapRequest(&b, 3);
  EXPECT_EQ(n.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Field(n.status()), "records");
  // 16 MB of 8 M empty records: refused as soon as the limit is passed.
  std::string empty;
  for (int i = 0; i < 8'000'000; ++i) empty.append("\x0a\x00", 2);
  grpc::ByteBuffer big = Buffer(empty);
  EXPECT_EQ(Field(ScanTapRequest(&big, 50000).status()), "records");
}

TEST(ScanTapRequestTest, RefusesALongRecordByIndexAndBadBytes) {
  v1::ParseTapsRequest req = Batch(2);
  req.mutable_records(1)->set_raw(std::string(kMaxTapInputBytes, 'x'));
  // The widest record given as hex, with a backend time, still fits.
  v1::TapInput hex;
  hex.set_raw_hex(std::string(kMaxTapRecordHexChars, 'a'));
  hex.mutable_backend_time()->set_seconds(-1);
  hex.mutable_backend_time()->set_nanos(-1);
  EXPECT_LE(hex.ByteSizeLong() + 3, kMaxTapInputBytes);
  grpc::ByteBuffer b = Buffer(req.SerializeAsString());
  EXPECT_EQ(Field(ScanTapRequest(&b, 10).status()), "records[1]");
  grpc::ByteBuffer bad = Buffer(std::string("\x0a\x7f\x01", 3));
  EXPECT_EQ(ScanTapRequest(&bad, 10).status().code(), absl::StatusCode::kInvalidArgument);
  grpc::ByteBuffer zero_tag = Buffer(std::string("\x00\x01", 2));
  EXPECT_FALSE(ScanTapRequest(&zero_tag, 10).ok());
}

// Every result ToProto can make stays within WorstTapResultBytes.
// ReadTapRequest reads what protobuf's parser reads, and fails where it fails: on requests
// with every kind of record, the view, unknown fields and repeated fields, and on those bytes
// cut short or with one byte changed.
TEST(ReadTapRequestTest, ReadsWhatTheParserReads) {
  v1::ParseTapsRequest req = Batch(2);
  req.add_records()->set_raw("short");
  req.add_records();  // empty
  req.add_records()->set_raw_hex("01:02");
  req.mutable_records(1)->mutable_backend_time()->set_seconds(1700000000);
  req.set_view(v1::TAP_RESULT_VIEW_BASIC);
  std::string bytes = req.SerializeAsString();
  // A repeated raw (the last wins), an unknown field, a record after the view.
  bytes += std::string(
      "\x0a\x0d\x0a\x02"
      "ab"
      "\x0a\x03"
      "xyz"
      "\x78\x05\x12\x00",
      15);
  bytes += std::string("\x0a\x02\x0a\x00", 4);
  std::vector<std::string> inputs = {bytes, ""};
  for (size_t cut = 0; cut < bytes.size(); ++cut) inputs.push_back(bytes.substr(0, cut));
  for (size_t at = 0; at < bytes.size(); ++at) {
    for (char x : {'\x00', '\x08', '\x0a', '\x12', '\x7f', '\x80', '\xff'}) {
      std::string changed = bytes;
      changed[at] = x;
      inputs.push_back(changed);
    }
  }
  int read = 0;
  for (const std::string& input : inputs) {
    v1::ParseTapsRequest want;
    const bool parses = want.ParseFromString(input);
    grpc::ByteBuffer b = Buffer(input);
    int view = -1;
    absl::StatusOr<size_t> n = ScanTapRequest(&b, 100, &view);
    if (!n.ok()) {
      EXPECT_FALSE(parses && IsMalformedTapRequest(n.status())) << absl::CEscape(input);
      continue;
    }
    std::vector<std::tuple<std::string, std::string, std::optional<int64_t>>> got;
    absl::Status s = ReadTapRequest(&b, [&](size_t i, const WireTapInput& in) {
      EXPECT_EQ(i, got.size());
      got.emplace_back(AsString(in.raw), std::string(in.raw_hex), in.backend_time);
      return absl::OkStatus();
    });
    ASSERT_EQ(s.ok(), parses) << absl::CEscape(input);
    if (!parses) continue;
    ++read;
    EXPECT_EQ(view, want.view());
    ASSERT_EQ(*n, static_cast<size_t>(want.records_size()));
    ASSERT_EQ(got.size(), *n);
    for (int i = 0; i < want.records_size(); ++i) {
      EXPECT_EQ(std::get<0>(got[i]), want.records(i).raw()) << absl::CEscape(input);
      EXPECT_EQ(std::get<1>(got[i]), want.records(i).raw_hex()) << absl::CEscape(input);
      std::optional<int64_t> t;
      if (want.records(i).has_backend_time()) t = want.records(i).backend_time().seconds();
      EXPECT_EQ(std::get<2>(got[i]), t) << absl::CEscape(input);
    }
  }
  EXPECT_GT(read, 100);
}

TEST(TapLimitsTest, WorstResultBoundsRealResults) {
  const size_t worst = WorstTapResultBytes(tap::TapPipelineConfig{});
  EXPECT_GT(worst, 150u);
  EXPECT_LT(worst, 400u);
  keys::KeyStore store;
  ASSERT_TRUE(store
                  .AddKey(std::string(keys::kMaxKeyNameLength, 'k'), crypto::KeyType::kAes128,
                          *HexDecode(tap::testing::kStaticKeyHex))
                  .ok());
  ASSERT_TRUE(store
                  .SetStaticTapRule(std::string(keys::kMaxKeyNameLength, 'k'),
                                    crypto::MacAlgorithm::kAes128Cmac)
                  .ok());
  tap::TapPipelineConfig config;
  config.keys = &store;
  auto pipeline = *tap::TapPipeline::Create(config);
  v1::ParseTapsResponse resp;
  const v1::ParseTapsRequest req = Batch(2);
  tap::TapResult r;
  for (const v1::TapInput& in : req.records()) {
    pipeline->Process(std::numeric_limits<uint64_t>::max(), AsBytes(in.raw()),
                      in.backend_time().seconds(), &r);
    ToProto(r, resp.add_results());
  }
  pipeline->Process(1, AsBytes(std::string(kMaxTapRecordBytes, 'x')), std::nullopt, &r);
  ToProto(r, resp.add_results());
  for (const v1::TapResult& result : resp.results()) {
    EXPECT_LE(result.ByteSizeLong() + 3, worst) << result.ShortDebugString();
  }
  // The default batch limit fits the default message limit.
  EXPECT_GE(MaxTapBatchFor(16 << 20, worst), 50000u);
  std::printf("largest answer per record: %zu bytes\n", worst);
  EXPECT_EQ(MaxTapBatchFor(1000, worst), 0u);
}

// What parsing a batch holds on its arena stays within kTapWorkBytesPerRecord a record.
TEST(TapLimitsTest, WorkingMemoryPerRecordIsBounded) {
  constexpr int kRecords = 10000;
  const std::string bytes = Batch(kRecords).SerializeAsString();
  google::protobuf::Arena arena;
  auto* req = google::protobuf::Arena::CreateMessage<v1::ParseTapsRequest>(&arena);
  ASSERT_TRUE(req->ParseFromString(bytes));
  auto* resp = google::protobuf::Arena::CreateMessage<v1::ParseTapsResponse>(&arena);
  auto pipeline = *tap::TapPipeline::Create(tap::TapPipelineConfig{});
  tap::TapResult r;
  uint64_t i = 0;
  for (const v1::TapInput& in : req->records()) {
    pipeline->Process(i++, AsBytes(in.raw()), in.backend_time().seconds(), &r);
    ToProto(r, resp->add_results());
  }
  const size_t per_record = arena.SpaceAllocated() / kRecords;
  EXPECT_LE(per_record, kTapWorkBytesPerRecord);
  std::printf("arena bytes per record: %zu\n", per_record);
}

TEST(CallBudgetTest, CallsAndBytesPerCallerAndOverall) {
  CallBudget budget(
      {.max_calls = 3, .max_calls_per_caller = 2, .max_bytes = 100, .max_bytes_per_caller = 60});
  EXPECT_TRUE(budget.AddCall("a").ok());
  EXPECT_TRUE(budget.AddCall("a").ok());
  absl::Status s = budget.AddCall("a");
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(GetReason(s), "TOO_MANY_CALLS");
  EXPECT_EQ(apdu::GetErrorMetadata(s, "limit"), "max_tap_calls_per_caller");
  EXPECT_EQ(apdu::GetErrorMetadata(s, "max"), "2");
  EXPECT_TRUE(budget.AddCall("").ok());  // anonymous: a caller of its own
  s = budget.AddCall("b");
  EXPECT_EQ(apdu::GetErrorMetadata(s, "limit"), "max_tap_calls");
  budget.EndCall("a");
  EXPECT_TRUE(budget.AddCall("b").ok());
  EXPECT_EQ(budget.calls(), 3u);

  EXPECT_TRUE(budget.AddBytes("a", 60).ok());
  s = budget.AddBytes("a", 1);
  EXPECT_EQ(GetReason(s), "IN_FLIGHT_BYTES");
  EXPECT_EQ(apdu::GetErrorMetadata(s, "limit"), "max_tap_inflight_bytes_per_caller");
  EXPECT_TRUE(budget.AddBytes("b", 40).ok());
  s = budget.AddBytes("", 1);
  EXPECT_EQ(apdu::GetErrorMetadata(s, "limit"), "max_tap_inflight_bytes");
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("retry"));
  budget.ReleaseBytes("a", 60);
  EXPECT_TRUE(budget.AddBytes("", 50).ok());
  EXPECT_EQ(budget.bytes(), 90u);
}

TEST(CallBudgetTest, AHoldGivesBackWhatItTookWhenDestroyed) {
  CallBudget budget({.max_calls = 1, .max_bytes = 100});
  {
    CallHold hold(&budget);
    ASSERT_TRUE(hold.AddCall("a").ok());
    EXPECT_TRUE(hold.Charge(60).ok());
    EXPECT_TRUE(hold.Charge(80).ok());  // in place of the 60
    EXPECT_EQ(budget.bytes(), 80u);
    CallHold refused(&budget);
    EXPECT_EQ(GetReason(refused.AddCall("b")), "TOO_MANY_CALLS");
    EXPECT_EQ(GetReason(refused.Charge(21)), "IN_FLIGHT_BYTES");
    hold.ReleaseBytes();
    EXPECT_EQ(budget.bytes(), 0u);
    EXPECT_TRUE(hold.Charge(30).ok());
  }  // `refused` counted nothing: nothing to give back
  EXPECT_EQ(budget.calls(), 0u);
  EXPECT_EQ(budget.bytes(), 0u);
  CallHold unlimited(nullptr);
  EXPECT_TRUE(unlimited.AddCall("a").ok());
  EXPECT_TRUE(unlimited.Charge(size_t{1} << 40).ok());
}

}  // namespace
}  // namespace desfired::server
