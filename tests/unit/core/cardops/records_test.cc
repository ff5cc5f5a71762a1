// ReadRecords, WriteRecord, ClearRecordFile (records.h) and ReadTapLog (tap_log.h) over the
// emulated transit card's cyclic tap log (file 3: 32-byte records, six of them).
#include "core/cardops/records.h"

#include <deque>
#include <string>

#include "core/cardops/tap_log.h"
#include "core/desfire/card.h"
#include "gtest/gtest.h"
#include "tests/unit/core/cardops/fixture.h"

namespace desfired::cardops {
namespace {

TEST_F(CardOpsTest, ReadRecordsNewestFirstWithPaging) {
  const std::deque<Bytes> records = SimFile(kTransitAid, 3).records;  // oldest first
  ASSERT_EQ(records.size(), 6u);
  auto first = ReadTaps(4, "");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->total_records, 6u);
  ASSERT_EQ(first->records.size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(first->records[i].offset, static_cast<uint32_t>(i));
    EXPECT_EQ(first->records[i].data, records[5 - i]) << i;
  }
  ASSERT_FALSE(first->next_page_token.empty());
  auto second = ReadTaps(4, first->next_page_token);
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_EQ(second->records.size(), 2u);
  EXPECT_EQ(second->records[0].offset, 4u);
  EXPECT_EQ(second->records[0].data, records[1]);
  EXPECT_EQ(second->records[1].offset, 5u);
  EXPECT_EQ(second->records[1].data, records[0]);
  EXPECT_TRUE(second->next_page_token.empty());
  // Past the end: an empty last page.
  auto past = ReadTaps(4, "6");
  ASSERT_TRUE(past.ok()) << past.status();
  EXPECT_TRUE(past->records.empty());
  EXPECT_TRUE(past->next_page_token.empty());
}

TEST_F(CardOpsTest, WriteRecordThenClearRecordFile) {
  auto write = OnFile<WriteRecordRequest>(3, Key("app_debit", 2));
  write.data = Pattern(32, 7);
  auto written = WriteRecord(ctx_, write);
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_TRUE(written->committed);
  auto newest = ReadTaps(1, "");
  ASSERT_TRUE(newest.ok()) << newest.status();
  EXPECT_EQ(newest->total_records, 7u);
  ASSERT_EQ(newest->records.size(), 1u);
  EXPECT_EQ(newest->records[0].data, Pattern(32, 7));
  EXPECT_EQ(newest->next_page_token, "1");

  auto clear = OnFile<ClearRecordFileRequest>(3, Key("app_credit", 3));
  auto cleared = ClearRecordFile(ctx_, clear);
  ASSERT_TRUE(cleared.ok()) << cleared.status();
  EXPECT_TRUE(cleared->committed);
  auto empty = ReadTaps(10, "");
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(empty->total_records, 0u);
  EXPECT_TRUE(empty->records.empty());
  EXPECT_TRUE(empty->next_page_token.empty());
}

TEST_F(CardOpsTest, ReadTapLogParsesTransitTapsAsValid) {
  const std::deque<Bytes> records = SimFile(kTransitAid, 3).records;
  auto request = OnFile<ReadTapLogRequest>(3, Key("app_read", 1));
  auto log = ReadTapLog(ctx_, request);
  ASSERT_TRUE(log.ok()) << log.status();
  ASSERT_EQ(log->results.size(), 6u);
  for (size_t i = 0; i < 6; ++i) {
    const tap::TapResult& r = log->results[i];
    EXPECT_EQ(r.status, tap::TapStatus::kValid) << i;
    EXPECT_EQ(r.index, static_cast<uint64_t>(i));
    EXPECT_EQ(HexEncode(r.raw), HexEncode(records[i]));
    ASSERT_NE(r.key_name, nullptr);
    EXPECT_EQ(*r.key_name, "tap");
    EXPECT_EQ(HexEncode(ByteSpan(r.fields.uid, tap::kUidLength)), "04a1b2c3d4e5f680");
  }
  EXPECT_EQ(log->results[0].fields.terminal_id, 0x001234u);
  EXPECT_EQ(log->summary.total, 6u);
  EXPECT_EQ(log->summary.valid, 6u);

  request.max_records = 2;
  auto newest = ReadTapLog(ctx_, request);
  ASSERT_TRUE(newest.ok()) << newest.status();
  ASSERT_EQ(newest->results.size(), 2u);
  EXPECT_EQ(HexEncode(newest->results[0].raw), HexEncode(records[4]));
  EXPECT_EQ(HexEncode(newest->results[1].raw), HexEncode(records[5]));
}

TEST_F(CardOpsTest, ReadTapLogWithoutTapKeyFlagsRecords) {
  tap::TapPipelineConfig no_keys;
  ctx_.taps = &no_keys;
  auto request = OnFile<ReadTapLogRequest>(3, Key("app_read", 1));
  auto log = ReadTapLog(ctx_, request);
  ASSERT_TRUE(log.ok()) << log.status();
  ASSERT_EQ(log->results.size(), 6u);
  EXPECT_EQ(log->results[0].status, tap::TapStatus::kFlagged);
  EXPECT_EQ(log->summary.flagged, 6u);
}

TEST_F(CardOpsTest, ReadTapLogAndReadRecordsOnValueFileAreWrongFileType) {
  auto request = OnFile<ReadTapLogRequest>(1, Key("app_read", 1));
  auto log = ReadTapLog(ctx_, request);
  EXPECT_EQ(log.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Reason(log.status()), desfire::kReasonWrongFileType);

  auto records = OnFile<ReadRecordsRequest>(1, Key("app_read", 1));
  auto read = ReadRecords(ctx_, records);
  EXPECT_EQ(Reason(read.status()), desfire::kReasonWrongFileType);
}

}  // namespace
}  // namespace desfired::cardops
