#include "core/tap/reconciler.h"

#include <sstream>

#include "core/tap/parser.h"
#include "core/tap/summary.h"
#include "gtest/gtest.h"
#include "tests/unit/core/tap/test_records.h"

namespace desfired::tap {
namespace {

using testing::MakeRecord;
using testing::RecordSpec;

class ReconcilerTest : public ::testing::Test {
 protected:
  TapResult Run(TapReconciler& rec, const RecordSpec& s, std::optional<int64_t> backend) {
    raw_ = MakeRecord(s);
    TapResult r;
    parser_.Parse(0, raw_, &r);
    rec.Apply(backend, &r);
    return r;
  }
  TapParser parser_{ParserOptions{}, nullptr};
  Bytes raw_;
};

TEST_F(ReconcilerTest, BackendToleranceBoundary) {
  TapReconciler rec(ReconcilerOptions{}, nullptr, nullptr);
  RecordSpec s;
  EXPECT_FALSE(Run(rec, s, s.timestamp - 5).has(TapWarning::kClockDriftDetected));
  s.terminal = 2;
  EXPECT_TRUE(Run(rec, s, s.timestamp - 6).has(TapWarning::kClockDriftDetected));
  s.terminal = 3;
  EXPECT_TRUE(Run(rec, s, s.timestamp + 6).has(TapWarning::kClockDriftDetected));
  s.terminal = 4;
  EXPECT_FALSE(Run(rec, s, std::nullopt).has(TapWarning::kClockDriftDetected));
}

TEST_F(ReconcilerTest, ClockOffsetIsMedianOfSlidingWindow) {
  ReconcilerOptions o;
  o.offset_window = 5;
  TapReconciler rec(o, nullptr, nullptr);
  RecordSpec s;
  // Offsets (tap - backend): 30, 31, 29, 400 (an outlier), 30 -> median 30.
  const int64_t offsets[] = {30, 31, 29, 400, 30};
  TapResult r;
  for (int64_t off : offsets) {
    s.timestamp += 100;
    r = Run(rec, s, static_cast<int64_t>(s.timestamp) - off);
  }
  EXPECT_TRUE(r.has_clock_offset);
  EXPECT_EQ(r.clock_offset, 30);
  EXPECT_EQ(r.corrected_time, static_cast<int64_t>(s.timestamp) - 30);
  // A later record without backend time still gets the terminal's correction.
  s.timestamp += 100;
  r = Run(rec, s, std::nullopt);
  EXPECT_EQ(r.clock_offset, 30);
  EXPECT_EQ(r.corrected_time, static_cast<int64_t>(s.timestamp) - 30);
  // The window slides: five offsets of -10 replace the old ones.
  for (int i = 0; i < 5; ++i) {
    s.timestamp += 100;
    r = Run(rec, s, static_cast<int64_t>(s.timestamp) + 10);
  }
  EXPECT_EQ(r.clock_offset, -10);
  // Another terminal has no estimate.
  s.terminal = 99;
  r = Run(rec, s, std::nullopt);
  EXPECT_FALSE(r.has_clock_offset);
}

TEST_F(ReconcilerTest, EvenWindowTakesMeanOfMiddlePair) {
  TapReconciler rec(ReconcilerOptions{}, nullptr, nullptr);
  RecordSpec s;
  Run(rec, s, s.timestamp - 10);
  s.timestamp += 1;
  TapResult r = Run(rec, s, static_cast<int64_t>(s.timestamp) - 20);
  EXPECT_EQ(r.clock_offset, 15);
}

TEST_F(ReconcilerTest, DuplicateWithinBatch) {
  TapReconciler rec(ReconcilerOptions{}, nullptr, nullptr);
  RecordSpec s;
  EXPECT_FALSE(Run(rec, s, std::nullopt).has(TapWarning::kDuplicateTap));
  TapResult dup = Run(rec, s, std::nullopt);
  EXPECT_TRUE(dup.has(TapWarning::kDuplicateTap));
  EXPECT_EQ(dup.status, TapStatus::kFlagged);  // unchanged by the duplicate (no key here)
  // Differs in any of UID, time, terminal: not a duplicate.
  RecordSpec t = s;
  t.terminal += 1;
  EXPECT_FALSE(Run(rec, t, std::nullopt).has(TapWarning::kDuplicateTap));
  t = s;
  t.timestamp += 1;
  EXPECT_FALSE(Run(rec, t, std::nullopt).has(TapWarning::kDuplicateTap));
  t = s;
  t.uid[7] ^= 1;
  EXPECT_FALSE(Run(rec, t, std::nullopt).has(TapWarning::kDuplicateTap));
  // Fare and zone are not part of the key.
  t = s;
  t.fare += 1;
  EXPECT_TRUE(Run(rec, t, std::nullopt).has(TapWarning::kDuplicateTap));
}

TEST_F(ReconcilerTest, DuplicateWindowForgetsOldKeys) {
  ReconcilerOptions o;
  o.dedup_window_seconds = 3600;
  TapReconciler rec(o, nullptr, nullptr);
  RecordSpec old;
  Run(rec, old, std::nullopt);
  RecordSpec newer = old;
  newer.terminal = 5;
  newer.timestamp = old.timestamp + 3601;  // pushes `old` out of the window
  Run(rec, newer, std::nullopt);
  EXPECT_FALSE(Run(rec, old, std::nullopt).has(TapWarning::kDuplicateTap));
  EXPECT_EQ(rec.dedup_evictions(), 0u);  // leaving the window is no eviction

  // Within the window it is remembered.
  TapReconciler rec2(o, nullptr, nullptr);
  Run(rec2, old, std::nullopt);
  newer.timestamp = old.timestamp + 3599;
  Run(rec2, newer, std::nullopt);
  EXPECT_TRUE(Run(rec2, old, std::nullopt).has(TapWarning::kDuplicateTap));
}

TEST_F(ReconcilerTest, DuplicateCapacityBoundsMemory) {
  ReconcilerOptions o;
  o.dedup_capacity = 3;
  TapReconciler rec(o, nullptr, nullptr);
  RecordSpec s;
  for (int i = 0; i < 4; ++i) {
    s.terminal = static_cast<uint32_t>(i);
    Run(rec, s, std::nullopt);
    EXPECT_EQ(rec.dedup_evictions(), i < 3 ? 0u : 1u) << i;  // not silent: counted
  }
  s.terminal = 0;  // the oldest was dropped
  EXPECT_FALSE(Run(rec, s, std::nullopt).has(TapWarning::kDuplicateTap));
  s.terminal = 3;
  EXPECT_TRUE(Run(rec, s, std::nullopt).has(TapWarning::kDuplicateTap));
}

TEST_F(ReconcilerTest, RegistryAndTariffWarningsAndCounts) {
  std::istringstream terms("terminal_id,name\n0x001234,Central\n# comment\n4661,North\n");
  std::istringstream fares("fare_product,name\n7,Adult single\n");
  IdTable terminals = *IdTable::LoadCsv(terms, "t.csv", "terminal_id", 0xFFFFFF);
  IdTable tariffs = *IdTable::LoadCsv(fares, "f.csv", "fare_product", 0xFFFF);
  TapReconciler rec(ReconcilerOptions{}, &terminals, &tariffs);
  TapSummary summary;
  RecordSpec s;
  TapResult r = Run(rec, s, std::nullopt);
  summary.Add(r);
  EXPECT_FALSE(r.has(TapWarning::kUnknownTerminal));
  EXPECT_FALSE(r.has(TapWarning::kUnknownFareProduct));
  EXPECT_EQ(*r.terminal_name, "Central");
  EXPECT_EQ(*r.fare_product_name, "Adult single");
  s.terminal = 0x777777;
  s.fare = 99;
  s.timestamp += 1;
  r = Run(rec, s, std::nullopt);
  summary.Add(r);
  EXPECT_TRUE(r.has(TapWarning::kUnknownTerminal));
  EXPECT_TRUE(r.has(TapWarning::kUnknownFareProduct));
  EXPECT_EQ(r.status, TapStatus::kFlagged);  // from MAC_NOT_VERIFIED only
  s.timestamp += 1;
  summary.Add(Run(rec, s, std::nullopt));
  EXPECT_EQ(summary.unknown_terminals.at(0x777777), 2u);
  EXPECT_EQ(summary.unknown_fare_products.at(99), 2u);
  EXPECT_EQ(summary.warnings[static_cast<int>(TapWarning::kUnknownTerminal)], 2u);
}

TEST_F(ReconcilerTest, NoRegistryMeansNoRegistryWarnings) {
  TapReconciler rec(ReconcilerOptions{}, nullptr, nullptr);
  TapResult r = Run(rec, RecordSpec{}, std::nullopt);
  EXPECT_FALSE(r.has(TapWarning::kUnknownTerminal));
  EXPECT_FALSE(r.has(TapWarning::kUnknownFareProduct));
}

TEST(IdTableTest, Errors) {
  struct Case {
    const char* csv;
    const char* expect;
  };
  for (const Case& c : {Case{"", "empty"}, Case{"id,name\n1,a\n", "no 'terminal_id' column"},
                        Case{"terminal_id,name\nxyz,a\n", "t.csv:2"},
                        Case{"terminal_id,name\n0x1000000,a\n", "from 0 to 16777215"},
                        Case{"terminal_id,name\n1,a\n1,b\n", "listed twice"},
                        Case{"terminal_id,name\n1\n", "expected 2 columns"},
                        Case{"terminal_id,name\n\"1,a\n", "unterminated quote"}}) {
    std::istringstream in(c.csv);
    absl::StatusOr<IdTable> t = IdTable::LoadCsv(in, "t.csv", "terminal_id", 0xFFFFFF);
    ASSERT_FALSE(t.ok()) << c.csv;
    EXPECT_NE(t.status().message().find(c.expect), absl::string_view::npos) << t.status().message();
  }
}

TEST(SummaryTest, CountsAndText) {
  TapSummary a, b;
  TapResult r;
  r.status = TapStatus::kValid;
  a.Add(r);
  r.status = TapStatus::kFlagged;
  r.add(TapWarning::kCrc8Mismatch);
  b.Add(r);
  r.status = TapStatus::kRejected;
  r.warnings = 0;
  b.Add(r);
  a.Merge(b);
  EXPECT_EQ(a.total, 3u);
  EXPECT_EQ(a.valid, 1u);
  EXPECT_EQ(a.flagged, 1u);
  EXPECT_EQ(a.rejected, 1u);
  EXPECT_EQ(a.ToText(), "3 records: 1 valid, 1 flagged, 1 rejected; warnings: CRC8_MISMATCH 1");
}

}  // namespace
}  // namespace desfired::tap
