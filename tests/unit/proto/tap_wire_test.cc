// The wire form of tap results (proto/convert/tap_wire.h) against protobuf's serializer over
// ToProto: the same bytes in both views, for every status, warning, reject reason and MAC
// algorithm, for texts of any bytes, and for random results (tests/testing/
// tap_result_builder.h); whole ParseTapsResponse and ParseTapStreamResponse messages too.
#include "proto/convert/tap_wire.h"

#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "proto/convert/tap_convert.h"
#include "tests/testing/tap_result_builder.h"

namespace desfired {
namespace {

using testing::ReferenceWire;

constexpr v1::TapResultView kViews[] = {v1::TAP_RESULT_VIEW_UNSPECIFIED, v1::TAP_RESULT_VIEW_FULL,
                                        v1::TAP_RESULT_VIEW_BASIC};

void ExpectSame(const tap::TapResult& r) {
  for (v1::TapResultView view : kViews) {
    TextBuffer buf;
    AppendTapResultField(r, view, 1, &buf);
    EXPECT_EQ(buf.view(), ReferenceWire(r, view)) << "index " << r.index << " view " << view;
  }
}

TEST(TapWireTest, EveryStatusWarningReasonAndAlgorithm) {
  const std::string key = "mac-key", terminal = "Central", product = "Zürich Tag";
  const Bytes raw = *HexDecode("0100f1536534120007000304a1b2c3d4e5f680d5e0afe067b6e46a80ffffffff");
  for (int status = 1; status <= 3; ++status) {
    for (int w = 0; w <= 16; ++w) {
      tap::TapResult r;
      r.index = w == 16 ? UINT64_MAX : static_cast<uint64_t>(w);
      r.status = static_cast<tap::TapStatus>(status);
      r.warnings = static_cast<uint16_t>(w == 16 ? 0xFFFF : 1u << w);
      r.raw = ByteSpan(raw).subspan(0, w % 2 ? raw.size() : 0);
      r.reject = static_cast<tap::RejectReason>(w % 5);
      r.reject_detail = static_cast<uint32_t>(w * 7);
      r.input_error = "line 3: not hex";
      r.fields.type = static_cast<tap::RecordType>(1 + w % 3);
      r.fields.timestamp = w == 3 ? 0 : 0xFFFFFFF0u + static_cast<uint32_t>(w % 16);
      r.fields.terminal_id = static_cast<uint32_t>(w % 2 ? 0xFFFFFF : 0);
      r.fields.crc8 = static_cast<uint8_t>(w * 17);
      r.mac_algorithm = static_cast<crypto::MacAlgorithm>(w % 4);
      r.key_name = w % 2 ? &key : nullptr;
      r.terminal_name = w % 3 ? &terminal : nullptr;
      r.fare_product_name = w % 4 ? &product : nullptr;
      r.has_clock_offset = w % 3 == 0;
      r.clock_offset = w == 6 ? INT64_MIN : w - 8;
      r.corrected_time = w == 9 ? INT64_MAX : int64_t{r.fields.timestamp} - r.clock_offset;
      ExpectSame(r);
    }
  }
}

TEST(TapWireTest, LongTextsTakeLongerLengthPrefixes) {
  for (size_t length : {size_t{127}, size_t{128}, size_t{300}, size_t{70000}}) {
    testing::ForResultsWithText(std::string(length, 'n'), ExpectSame);
  }
}

TEST(TapWireTest, RandomResults) {
  testing::ForRandomResults(16, 20000, [](const tap::TapResult& r) {
    ExpectSame(r);
    return !::testing::Test::HasFailure();
  });
}

TEST(TapWireTest, WholeResponses) {
  google::protobuf::LogSilencer quiet;  // about the random texts that are not UTF-8
  std::mt19937_64 rng(7);
  std::vector<uint8_t> bytes(256);
  std::vector<testing::BuiltResult> built(50);
  v1::ParseTapsResponse batch;
  v1::ParseTapStreamResponse chunk;
  TextBuffer batch_wire, chunk_wire;
  for (testing::BuiltResult& b : built) {
    for (uint8_t& x : bytes) x = static_cast<uint8_t>(rng());
    testing::ByteSource in(bytes.data(), bytes.size());
    testing::BuildResult(in, &b);
    ToProto(b.result, batch.add_results());
    ToProto(b.result, chunk.add_results());
    AppendTapResultField(b.result, v1::TAP_RESULT_VIEW_FULL, 1, &batch_wire);
    AppendTapResultField(b.result, v1::TAP_RESULT_VIEW_FULL, 1, &chunk_wire);
  }
  tap::TapSummary summary;
  summary.total = 50;
  summary.valid = 20;
  summary.warnings[3] = 7;
  summary.unknown_terminals[0x1234] = 2;
  ToProto(summary, batch.mutable_summary());
  AppendMessageField(batch.summary(), 2, &batch_wire);
  EXPECT_EQ(batch_wire.view(), batch.SerializeAsString());

  chunk.set_records_processed(1234567);
  AppendVarintField(1234567, 2, &chunk_wire);
  EXPECT_EQ(chunk_wire.view(), chunk.SerializeAsString());

  // The last message of a stream: no results, records_processed, the summary.
  v1::ParseTapStreamResponse last;
  last.set_records_processed(0);  // an empty stream: 0 is not written
  ToProto(summary, last.mutable_summary());
  TextBuffer last_wire;
  AppendVarintField(0, 2, &last_wire);
  AppendMessageField(last.summary(), 3, &last_wire);
  EXPECT_EQ(last_wire.view(), last.SerializeAsString());
}

}  // namespace
}  // namespace desfired
