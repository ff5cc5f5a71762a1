// The Ledger on real SQLite files in a temporary directory: appending (seq, time, the chain),
// the chain across reopening, Latest / Unresolved / Count, what Append refuses, failed appends
// and concurrent appends.
#include "core/ledger/ledger.h"

#include <signal.h>
#include <sys/resource.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/util/status_reason.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/core/ledger/ledger_test_fixture.h"

namespace desfired::ledger {
namespace {

using ::testing::HasSubstr;
using ::testing::SizeIs;

// ---- Appending and reopening --------------------------------------------------------------------

TEST_F(LedgerTest, AppendFillsSeqTimeAndChain) {
  std::unique_ptr<Ledger> l = OpenOrDie();
  const absl::Time before = absl::Now();
  absl::StatusOr<Row> a = l->Append(SampleRow(1));
  absl::StatusOr<Row> b = l->Append(SampleRow(2));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->seq, 1);
  EXPECT_EQ(b->seq, 2);
  EXPECT_EQ(a->prev_hash, kZeroHash);
  EXPECT_EQ(b->prev_hash, a->hash);
  EXPECT_THAT(a->hash, ::testing::MatchesRegex("[0-9a-f]{64}"));
  EXPECT_NE(a->hash, b->hash);
  EXPECT_GE(a->time, before - absl::Microseconds(1));
  EXPECT_LE(b->time, absl::Now());
  EXPECT_EQ(absl::ToUnixNanos(a->time) % 1000, 0);  // microseconds, as stored
  EXPECT_EQ(*l->Count(), 2);
}

TEST_F(LedgerTest, RowsAndChainSurviveReopening) {
  Row first, second;
  {
    std::unique_ptr<Ledger> l = OpenOrDie();
    Row r = SampleRow(1);
    r.request_id = "first";
    r.caller = "cert:CN=ops";
    r.request_hash = std::string(64, 'f');
    r.payload = std::string("\x00serialized\x00", 12);
    r.detail = "tab\there";
    r.value_before = 0;
    absl::StatusOr<Row> s = l->Append(r);
    ASSERT_TRUE(s.ok()) << s.status();
    first = *s;
    second = *l->Append(SampleRow(2));
  }
  std::unique_ptr<Ledger> l = OpenOrDie();
  EXPECT_EQ(*l->Count(), 2);
  // Every field of the first row as read back equals the row Append returned.
  absl::StatusOr<std::optional<Row>> got = l->Latest("first");
  ASSERT_TRUE(got.ok() && got->has_value());
  const Row& r = **got;
  EXPECT_EQ(r.seq, 1);
  EXPECT_EQ(r.time, first.time);
  EXPECT_EQ(r.event, Event::kPending);
  EXPECT_EQ(r.request_hash, first.request_hash);
  EXPECT_EQ(r.caller, "cert:CN=ops");
  EXPECT_EQ(r.method, "Debit");
  EXPECT_EQ(r.uid, first.uid);
  EXPECT_EQ(r.reader, first.reader);
  EXPECT_EQ(r.aid, 0xF51001);
  EXPECT_EQ(r.file_no, 1);
  EXPECT_EQ(r.amount, std::optional<int64_t>(10));
  EXPECT_EQ(r.value_before, std::optional<int64_t>(0));
  EXPECT_EQ(r.value_after, std::nullopt);
  EXPECT_EQ(r.outcome, "");
  EXPECT_EQ(r.detail, "tab\there");
  EXPECT_EQ(r.payload, first.payload);
  EXPECT_EQ(r.pending_seq, 0);
  EXPECT_EQ(r.prev_hash, kZeroHash);
  EXPECT_EQ(r.hash, first.hash);

  // The second Open continues the chain from the stored head.
  absl::StatusOr<Row> third = l->Append(SampleRow(3));
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ(third->seq, 3);
  EXPECT_EQ(third->prev_hash, second.hash);
  l.reset();
  Ledger::VerifyResult v = VerifyFileOrDie();
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.rows, 3);
  EXPECT_EQ(v.head_hash, third->hash);
}

// ---- Reading ------------------------------------------------------------------------------------

TEST_F(LedgerTest, LatestUnresolvedAndCount) {
  std::unique_ptr<Ledger> l = OpenOrDie();
  auto append = [&](Event e, const std::string& id, int64_t pending_seq) {
    Row r;
    r.event = e;
    r.request_id = id;
    r.pending_seq = pending_seq;
    absl::StatusOr<Row> s = l->Append(r);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? s->seq : 0;
  };
  EXPECT_EQ(*l->Count(), 0);
  EXPECT_THAT(*l->Unresolved(), SizeIs(0));
  EXPECT_FALSE(l->Latest("r-1")->has_value());

  const int64_t p1 = append(Event::kPending, "r-1", 0);  // 1: settled by 3
  const int64_t p2 = append(Event::kPending, "r-2", 0);  // 2: never settled
  append(Event::kDone, "r-1", p1);                       // 3
  const int64_t p4 = append(Event::kPending, "r-3", 0);  // 4: reconciled by 5
  append(Event::kReconciled, "r-3", p4);                 // 5
  const int64_t p6 = append(Event::kPending, "r-4", 0);  // 6: a DONE without
  append(Event::kDone, "r-4", 0);                        // 7: pending_seq
  append(Event::kTaps, "", 0);                           // 8
  const int64_t p9 = append(Event::kPending, "r-1", 0);  // 9: r-1 again

  EXPECT_EQ(*l->Count(), 9);
  absl::StatusOr<std::vector<Row>> open = l->Unresolved();
  ASSERT_TRUE(open.ok());
  std::vector<int64_t> seqs;
  for (const Row& r : *open) seqs.push_back(r.seq);
  EXPECT_THAT(seqs, ::testing::ElementsAre(p2, p6, p9));
  EXPECT_EQ((*open)[0].request_id, "r-2");

  EXPECT_EQ((*l->Latest("r-1"))->seq, p9);
  EXPECT_EQ((*l->Latest("r-3"))->event, Event::kReconciled);
  EXPECT_EQ((*l->Latest("r-3"))->pending_seq, p4);
  EXPECT_FALSE(l->Latest("r-9")->has_value());
  EXPECT_FALSE(l->Latest("R-1")->has_value());  // exact match
  EXPECT_FALSE(l->Latest("")->has_value());     // not the TAPS row without a request id
}

TEST_F(LedgerTest, AppendRejectsBadReferencesAndAppendsNothing) {
  std::unique_ptr<Ledger> l = OpenOrDie();
  ASSERT_TRUE(l->Append(SampleRow(1)).ok());
  Row r = SampleRow(2);
  r.pending_seq = 2;  // the row itself
  EXPECT_EQ(l->Append(r).status().code(), absl::StatusCode::kInvalidArgument);
  r.pending_seq = -1;
  EXPECT_EQ(l->Append(r).status().code(), absl::StatusCode::kInvalidArgument);
  r.pending_seq = 1;
  r.aid = -2;
  EXPECT_EQ(l->Append(r).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(*l->Count(), 1);
  EXPECT_EQ(l->Append(SampleRow(2))->seq, 2);
  EXPECT_TRUE(l->Verify().ok);
}

// ---- Failures -----------------------------------------------------------------------------------

// The disk refuses the write (RLIMIT_FSIZE: writes past the limit fail with EFBIG, as on a full
// disk): UNAVAILABLE, nothing appended, and the chain goes on when the disk is back.
TEST_F(LedgerTest, AFailedWriteAppendsNothingAndTheChainGoesOn) {
  std::unique_ptr<Ledger> l = OpenOrDie();
  for (int i = 1; i <= 3; ++i) ASSERT_TRUE(l->Append(SampleRow(i)).ok());
  struct rlimit old {};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
  void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
  struct rlimit lim = old;
  lim.rlim_cur = static_cast<rlim_t>(std::filesystem::file_size(path_ + "-wal"));
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &lim), 0);
  Row big = SampleRow(4);
  big.payload = std::string(8192, 'x');
  absl::StatusOr<Row> failed = l->Append(big);
  setrlimit(RLIMIT_FSIZE, &old);
  signal(SIGXFSZ, old_handler);
  ASSERT_EQ(failed.status().code(), absl::StatusCode::kUnavailable) << failed.status();
  EXPECT_THAT(failed.status().message(), HasSubstr(path_));
  EXPECT_EQ(GetReason(failed.status()), "LEDGER_UNAVAILABLE");
  EXPECT_EQ(*l->Count(), 3);

  absl::StatusOr<Row> next = l->Append(big);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->seq, 4);
  Ledger::VerifyResult v = l->Verify();
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.rows, 4);
  l.reset();
  Ledger::VerifyResult f = VerifyFileOrDie();
  EXPECT_TRUE(f.ok) << f.problem;
  EXPECT_EQ(f.rows, 4);
}

TEST_F(LedgerTest, ConcurrentAppendsKeepTheChain) {
  std::unique_ptr<Ledger> l = OpenOrDie();
  constexpr int kThreads = 4, kEach = 25;
  std::vector<std::thread> threads;
  std::vector<std::vector<int64_t>> seqs(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        Row r;
        r.event = Event::kTaps;
        r.caller = absl::StrCat("thread-", t);
        absl::StatusOr<Row> s = l->Append(r);
        if (s.ok()) seqs[t].push_back(s->seq);
        // Readers alongside the writers.
        (void)l->Latest("none");
      }
    });
  }
  for (auto& th : threads) th.join();
  std::vector<int64_t> all;
  for (const auto& v : seqs) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  ASSERT_THAT(all, SizeIs(kThreads * kEach));
  for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i], static_cast<int64_t>(i) + 1);
  Ledger::VerifyResult v = l->Verify();
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.rows, kThreads * kEach);
}

}  // namespace
}  // namespace desfired::ledger
