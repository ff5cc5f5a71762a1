// The export formats (docs/ledger.md): JSON lines that parse back with every field, CSV with
// a header and RFC 4180 quoting.
#include "core/ledger/export.h"

#include <algorithm>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/unit/core/ledger/ledger_test_fixture.h"

namespace desfired::ledger {
namespace {

using ::testing::HasSubstr;
using ::testing::SizeIs;

TEST_F(LedgerTest, ExportJsonLinesParsesBackWithEveryField) {
  std::unique_ptr<Ledger> l = OpenOrDie();
  ASSERT_TRUE(l->Append(SampleRow(1)).ok());
  Row r = SampleRow(2);
  r.detail = "quote \" backslash \\ newline \n control \x01 caf\xc3\xa9 bad \xff end";
  r.payload = std::string("\x00\x7f\x80", 3);
  r.tmc = 4;
  r.tmv = "0011223344556677";
  r.reader_id = "28bf1982be086fbc60a22daeb66613ee";
  ASSERT_TRUE(l->Append(r).ok());
  std::ostringstream out;
  ASSERT_TRUE(l->Export(out, Ledger::ExportFormat::kJsonLines).ok());
  std::vector<std::string> lines = absl::StrSplit(out.str(), '\n', absl::SkipEmpty());
  ASSERT_THAT(lines, SizeIs(2));
  std::vector<google::protobuf::Struct> objs(2);
  for (size_t i = 0; i < 2; ++i) {
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(lines[i], &objs[i]).ok()) << lines[i];
  }
  const auto& f0 = objs[0].fields();
  const auto& f1 = objs[1].fields();
  for (const char* name :
       {"seq",       "time",         "event",        "request_id",  "request_hash",
        "caller",    "method",       "uid",          "reader",      "aid",
        "file_no",   "amount",       "value_before", "value_after", "outcome",
        "reason",    "commit_state", "detail",       "payload",     "pending_seq",
        "prev_hash", "hash",         "tmc",          "tmv",         "reader_id"}) {
    EXPECT_EQ(f1.count(name), 1u) << name;
  }
  EXPECT_EQ(f1.size(), 25);
  EXPECT_TRUE(f0.at("tmc").has_null_value());
  EXPECT_EQ(f0.at("tmv").string_value(), "");
  EXPECT_EQ(f1.at("tmc").number_value(), 4);
  EXPECT_EQ(f1.at("tmv").string_value(), "0011223344556677");
  EXPECT_EQ(f1.at("reader_id").string_value(), "28bf1982be086fbc60a22daeb66613ee");
  EXPECT_EQ(f0.at("seq").number_value(), 1);
  EXPECT_EQ(f0.at("event").string_value(), "PENDING");
  EXPECT_EQ(f0.at("aid").number_value(), 0xF51001);
  EXPECT_TRUE(f0.at("value_after").has_null_value());
  EXPECT_EQ(f0.at("amount").number_value(), 10);
  EXPECT_EQ(f1.at("value_after").number_value(), 998);
  EXPECT_EQ(f1.at("pending_seq").number_value(), 1);
  EXPECT_EQ(f1.at("payload").string_value(), "007f80");
  EXPECT_EQ(f1.at("detail").string_value(),
            "quote \" backslash \\ newline \n control \x01 caf\xc3\xa9 bad \xef\xbf\xbd end");
  EXPECT_EQ(f1.at("prev_hash").string_value(), f0.at("hash").string_value());
}

TEST_F(LedgerTest, ExportNewestIsTheExportsTailNewestFirst) {
  std::unique_ptr<Ledger> l = OpenOrDie();
  for (int i = 1; i <= 5; ++i) ASSERT_TRUE(l->Append(SampleRow(i)).ok());
  for (Ledger::ExportFormat format :
       {Ledger::ExportFormat::kJsonLines, Ledger::ExportFormat::kCsv}) {
    const bool csv = format == Ledger::ExportFormat::kCsv;
    std::ostringstream all;
    ASSERT_TRUE(l->Export(all, format).ok());
    std::vector<std::string> lines = absl::StrSplit(all.str(), '\n', absl::SkipEmpty());
    ASSERT_THAT(lines, SizeIs(csv ? 6 : 5));
    std::ostringstream newest;
    ASSERT_TRUE(l->ExportNewest(newest, format, 3).ok());
    std::vector<std::string> want;
    if (csv) want.push_back(lines[0]);  // the header
    for (size_t i = lines.size(); i > lines.size() - 3; --i) want.push_back(lines[i - 1]);
    EXPECT_EQ(std::vector<std::string>(absl::StrSplit(newest.str(), '\n', absl::SkipEmpty())),
              want);
    // More than there are: every row, newest first.
    std::ostringstream every;
    ASSERT_TRUE(l->ExportNewest(every, format, 100).ok());
    std::vector<std::string> got = absl::StrSplit(every.str(), '\n', absl::SkipEmpty());
    ASSERT_THAT(got, SizeIs(lines.size()));
    EXPECT_EQ(got.back(), lines[csv ? 1 : 0]);
  }
  std::ostringstream none;
  EXPECT_EQ(l->ExportNewest(none, Ledger::ExportFormat::kJsonLines, 0).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(LedgerTest, ExportCsvHasAHeaderAndOneRecordPerRow) {
  MakeLedger(3);
  {
    std::unique_ptr<Ledger> l = OpenOrDie();
    Row r = SampleRow(4);
    r.detail = "a, \"b\"";
    r.pending_seq = 3;
    r.tmc = 5;
    r.tmv = "abcdef0123456789";
    ASSERT_TRUE(l->Append(r).ok());
  }
  std::ostringstream out;
  ASSERT_TRUE(Ledger::ExportFile(path_, out, Ledger::ExportFormat::kCsv).ok());
  std::vector<std::string> lines = absl::StrSplit(out.str(), '\n', absl::SkipEmpty());
  ASSERT_THAT(lines, SizeIs(5));
  EXPECT_EQ(lines[0],
            "seq,time,event,request_id,request_hash,caller,method,uid,reader,aid,file_no,amount,"
            "value_before,value_after,outcome,reason,commit_state,detail,payload,pending_seq,"
            "prev_hash,hash,tmc,tmv,reader_id");
  EXPECT_THAT(lines[1], ::testing::StartsWith("1,"));
  EXPECT_THAT(lines[1], HasSubstr(",PENDING,req-1,,,Debit,04a1b2c3d4e5f6,Test PCD 00 00,"
                                  "16060417,1,10,,,,,,,,0,"));
  EXPECT_THAT(lines[4], HasSubstr(",\"a, \"\"b\"\"\","));
  EXPECT_EQ(std::count(lines[2].begin(), lines[2].end(), ','), 24);
  EXPECT_THAT(lines[4], ::testing::EndsWith(",5,abcdef0123456789,"));
}

}  // namespace
}  // namespace desfired::ledger
