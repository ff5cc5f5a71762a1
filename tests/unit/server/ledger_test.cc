// The audit ledger on real SQLite files in a temporary directory: the chain across reopening,
// permissions, Latest / Unresolved / Count, Verify against files tampered with through the
// SQLite API, the export formats, failed appends, concurrent appends, and the canonical
// encoding of docs/ledger.md recomputed here independently.
#include "server/ledger.h"

#include <openssl/sha.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/apdu/status_payload.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

namespace desfired::server {
namespace {

using ::testing::HasSubstr;
using ::testing::SizeIs;

constexpr char kZeroHash[] = "0000000000000000000000000000000000000000000000000000000000000000";

class LedgerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = absl::StrCat(::testing::TempDir(), "/ledger_test_", getpid(), "_", info->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    path_ = dir_ + "/ledger.sqlite";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<Ledger> OpenOrDie() {
    absl::StatusOr<std::unique_ptr<Ledger>> l = Ledger::Open(path_);
    EXPECT_TRUE(l.ok()) << l.status();
    return l.ok() ? *std::move(l) : nullptr;
  }

  // Runs SQL on the file through a connection of its own (what someone with write access to
  // the file could do).
  void Tamper(const std::string& sql, int extra_flags = 0) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READWRITE | extra_flags, nullptr),
              SQLITE_OK);
    char* err = nullptr;
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
    EXPECT_EQ(rc, SQLITE_OK) << (err ? err : "") << " in: " << sql;
    sqlite3_free(err);
    sqlite3_close(db);
  }

  Ledger::VerifyResult VerifyFileOrDie() {
    absl::StatusOr<Ledger::VerifyResult> v = Ledger::VerifyFile(path_);
    EXPECT_TRUE(v.ok()) << v.status();
    return v.ok() ? *v : Ledger::VerifyResult{};
  }

  // A ledger of `n` rows (a PENDING / DONE pair per change), closed.
  void MakeLedger(int n) {
    std::unique_ptr<Ledger> l = OpenOrDie();
    for (int i = 1; i <= n; ++i) ASSERT_TRUE(l->Append(Row(i)).ok());
  }

  static LedgerRow Row(int i) {
    LedgerRow r;
    r.event = i % 2 == 1 ? LedgerEvent::kPending : LedgerEvent::kDone;
    r.request_id = absl::StrCat("req-", (i + 1) / 2);
    r.method = "Debit";
    r.uid = "04a1b2c3d4e5f6";
    r.reader = "Test PCD 00 00";
    r.aid = 0xF51001;
    r.file_no = 1;
    r.amount = 10 * i;
    if (i % 2 == 0) {
      r.pending_seq = i - 1;
      r.outcome = "OK";
      r.value_after = 1000 - i;
    }
    return r;
  }

  std::string dir_;
  std::string path_;
};

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

// ---- The canonical encoding, written from docs/ledger.md alone --------------------------------

std::string Field(const std::string& bytes) {
  std::string out(8, '\0');
  uint64_t n = bytes.size();
  for (int i = 7; i >= 0; --i, n >>= 8) out[static_cast<size_t>(i)] = static_cast<char>(n & 0xff);
  return out + bytes;
}
std::string IntField(int64_t v) {
  std::string be(8, '\0');
  auto u = static_cast<uint64_t>(v);
  for (int i = 7; i >= 0; --i, u >>= 8) be[static_cast<size_t>(i)] = static_cast<char>(u & 0xff);
  return Field(be);
}
std::string OptField(std::optional<int64_t> v) { return v ? IntField(*v) : Field(""); }
std::string Unhex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}
std::string Hex(const std::string& bytes) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(d[c >> 4]);
    out.push_back(d[c & 15]);
  }
  return out;
}

std::string DocumentedHash(const LedgerRow& r, const std::string& time_text,
                           const std::string& event_text) {
  const std::string prev = Unhex(r.prev_hash);
  const std::string canonical =
      IntField(r.seq) + Field(time_text) + Field(event_text) + Field(r.request_id) +
      Field(r.request_hash) + Field(r.caller) + Field(r.method) + Field(r.uid) + Field(r.reader) +
      IntField(r.aid) + IntField(r.file_no) + OptField(r.amount) + OptField(r.value_before) +
      OptField(r.value_after) + Field(r.outcome) + Field(r.reason) + Field(r.commit_state) +
      Field(r.detail) + Field(r.payload) + IntField(r.pending_seq) + Field(prev);
  const std::string input = prev + canonical;
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(input.data()), input.size(), md);
  return Hex(std::string(reinterpret_cast<char*>(md), sizeof(md)));
}

// The worked example of docs/ledger.md, through this file's encoder.
TEST(LedgerEncodingTest, DocumentedWorkedExample) {
  LedgerRow r;
  r.seq = 1;
  r.request_id = "order-4711";
  r.method = "Debit";
  r.uid = "04a1b2c3d4e5f6";
  r.aid = 0xF51001;
  r.file_no = 1;
  r.amount = 150;
  r.value_after = 2350;
  r.prev_hash = kZeroHash;
  EXPECT_EQ(DocumentedHash(r, "2026-11-21T09:30:00.000000Z", "PENDING"),
            "c3855b33ebac22f1a9b034c9ce706dc6c101a9bc4ebc8fa1d480e10c50c30103");
}

TEST_F(LedgerTest, HashFollowsTheDocumentedCanonicalEncoding) {
  std::unique_ptr<Ledger> l = OpenOrDie();
  ASSERT_TRUE(l->Append(Row(1)).ok());
  LedgerRow r;
  r.event = LedgerEvent::kReconciled;
  r.request_id = "r-\xc3\xa9t\xc3\xa9";  // UTF-8
  r.request_hash = std::string(64, 'a');
  r.caller = "token:ops";
  r.method = "Credit";
  r.uid = "04a1b2c3d4e5f6";
  r.reader = "ACS ACR122U 00 00";
  r.aid = 0;
  r.file_no = -1;
  r.amount = 0;  // present and 0: not the same as absent
  r.value_after = -5;
  r.outcome = "COMMITTED";
  r.detail = "line 1\nline \"2\"";
  r.payload = std::string("\x00\x01\xff", 3);
  r.pending_seq = 1;
  absl::StatusOr<LedgerRow> stored = l->Append(r);
  ASSERT_TRUE(stored.ok()) << stored.status();

  // The time and event as the file has them.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  ASSERT_EQ(
      sqlite3_prepare_v2(db, "SELECT time, event, hash FROM ledger WHERE seq = 2", -1, &s, nullptr),
      SQLITE_OK);
  ASSERT_EQ(sqlite3_step(s), SQLITE_ROW);
  const std::string time_text = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
  const std::string event_text = reinterpret_cast<const char*>(sqlite3_column_text(s, 1));
  const std::string file_hash = reinterpret_cast<const char*>(sqlite3_column_text(s, 2));
  sqlite3_finalize(s);
  sqlite3_close(db);

  EXPECT_EQ(event_text, "RECONCILED");
  EXPECT_THAT(time_text, ::testing::MatchesRegex(
                             "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}Z"));
  EXPECT_EQ(stored->hash, file_hash);
  EXPECT_EQ(DocumentedHash(*stored, time_text, event_text), stored->hash);

  // Absent is encoded differently from 0.
  LedgerRow absent = *stored;
  absent.amount.reset();
  EXPECT_NE(DocumentedHash(absent, time_text, event_text), stored->hash);
}

// ---- Appending and reopening --------------------------------------------------------------------

TEST_F(LedgerTest, AppendFillsSeqTimeAndChain) {
  std::unique_ptr<Ledger> l = OpenOrDie();
  const absl::Time before = absl::Now();
  absl::StatusOr<LedgerRow> a = l->Append(Row(1));
  absl::StatusOr<LedgerRow> b = l->Append(Row(2));
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
  LedgerRow first, second;
  {
    std::unique_ptr<Ledger> l = OpenOrDie();
    LedgerRow r = Row(1);
    r.request_id = "first";
    r.caller = "cert:CN=ops";
    r.request_hash = std::string(64, 'f');
    r.payload = std::string("\x00serialized\x00", 12);
    r.detail = "tab\there";
    r.value_before = 0;
    absl::StatusOr<LedgerRow> s = l->Append(r);
    ASSERT_TRUE(s.ok()) << s.status();
    first = *s;
    second = *l->Append(Row(2));
  }
  std::unique_ptr<Ledger> l = OpenOrDie();
  EXPECT_EQ(*l->Count(), 2);
  // Every field of the first row as read back equals the row Append returned.
  absl::StatusOr<std::optional<LedgerRow>> got = l->Latest("first");
  ASSERT_TRUE(got.ok() && got->has_value());
  const LedgerRow& r = **got;
  EXPECT_EQ(r.seq, 1);
  EXPECT_EQ(r.time, first.time);
  EXPECT_EQ(r.event, LedgerEvent::kPending);
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
  absl::StatusOr<LedgerRow> third = l->Append(Row(3));
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ(third->seq, 3);
  EXPECT_EQ(third->prev_hash, second.hash);
  l.reset();
  Ledger::VerifyResult v = VerifyFileOrDie();
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.rows, 3);
  EXPECT_EQ(v.head_hash, third->hash);
}

TEST_F(LedgerTest, NewFileAndSideFilesAreOwnerOnly) {
  ::umask(022);  // the usual default: SQLite alone would make the file 0644
  std::unique_ptr<Ledger> l = OpenOrDie();
  ASSERT_TRUE(l->Append(Row(1)).ok());
  EXPECT_EQ(ModeOf(path_), 0600);
  ASSERT_TRUE(std::filesystem::exists(path_ + "-wal"));
  EXPECT_EQ(ModeOf(path_ + "-wal"), 0600);
  EXPECT_EQ(ModeOf(path_ + "-shm"), 0600);
}

TEST_F(LedgerTest, RefusesAFileOthersCanRead) {
  MakeLedger(1);
  ASSERT_EQ(::chmod(path_.c_str(), 0644), 0);
  absl::StatusOr<std::unique_ptr<Ledger>> l = Ledger::Open(path_);
  ASSERT_EQ(l.status().code(), absl::StatusCode::kFailedPrecondition) << l.status();
  EXPECT_THAT(l.status().message(), HasSubstr(path_));
  EXPECT_THAT(l.status().message(), HasSubstr("chmod 600"));
  EXPECT_THAT(l.status().message(), HasSubstr("0644"));
  // Without the check it opens (and the rows are there).
  absl::StatusOr<std::unique_ptr<Ledger>> unchecked =
      Ledger::Open(path_, Ledger::Options{.check_permissions = false});
  ASSERT_TRUE(unchecked.ok()) << unchecked.status();
  EXPECT_EQ(*(*unchecked)->Count(), 1);
}

TEST_F(LedgerTest, RefusesAWorldReadableWalFile) {
  MakeLedger(1);
  std::ofstream(path_ + "-wal");  // an empty WAL: harmless to SQLite
  ASSERT_EQ(::chmod((path_ + "-wal").c_str(), 0604), 0);
  absl::StatusOr<std::unique_ptr<Ledger>> l = Ledger::Open(path_);
  ASSERT_EQ(l.status().code(), absl::StatusCode::kFailedPrecondition) << l.status();
  EXPECT_THAT(l.status().message(), HasSubstr(path_ + "-wal"));
}

TEST_F(LedgerTest, RefusesWhatIsNotALedger) {
  // A text file.
  std::ofstream(path_) << "id,amount\n1,2\n";
  ::chmod(path_.c_str(), 0600);
  absl::StatusOr<std::unique_ptr<Ledger>> l = Ledger::Open(path_);
  ASSERT_EQ(l.status().code(), absl::StatusCode::kFailedPrecondition) << l.status();
  EXPECT_THAT(l.status().message(), HasSubstr("not a desfired ledger"));
  EXPECT_THAT(l.status().message(), HasSubstr(path_));
  EXPECT_EQ(Ledger::VerifyFile(path_).status().code(), absl::StatusCode::kFailedPrecondition);

  // Another program's SQLite database: refused, and left as it was (not switched to WAL).
  std::filesystem::remove(path_);
  Tamper("CREATE TABLE accounts (id INTEGER, balance INTEGER)", SQLITE_OPEN_CREATE);
  ::chmod(path_.c_str(), 0600);
  l = Ledger::Open(path_);
  ASSERT_EQ(l.status().code(), absl::StatusCode::kFailedPrecondition) << l.status();
  EXPECT_THAT(l.status().message(), HasSubstr("no meta table"));
  std::ostringstream out;
  EXPECT_EQ(Ledger::ExportFile(path_, out, Ledger::ExportFormat::kCsv).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(std::filesystem::exists(path_ + "-wal"));

  // A ledger of a newer format.
  std::filesystem::remove(path_);
  MakeLedger(0);
  Tamper("UPDATE meta SET value = '99' WHERE key = 'format_version'");
  l = Ledger::Open(path_);
  ASSERT_EQ(l.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(l.status().message(), HasSubstr("format version 99"));
}

TEST_F(LedgerTest, MissingFilesAndDirectoriesAreNamed) {
  absl::StatusOr<Ledger::VerifyResult> v = Ledger::VerifyFile(path_);
  EXPECT_EQ(v.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(v.status().message(), HasSubstr(path_));
  EXPECT_FALSE(std::filesystem::exists(path_));  // read-only: nothing created
  const std::string nodir = dir_ + "/missing/ledger.sqlite";
  absl::StatusOr<std::unique_ptr<Ledger>> l = Ledger::Open(nodir);
  EXPECT_EQ(l.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(l.status().message(), HasSubstr(nodir));
}

TEST_F(LedgerTest, ASecondWriterIsRefused) {
  std::unique_ptr<Ledger> l = OpenOrDie();
  absl::StatusOr<std::unique_ptr<Ledger>> second = Ledger::Open(path_);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(second.status().message(), HasSubstr("in use"));
  ASSERT_TRUE(l->Append(Row(1)).ok());  // the first one is unaffected
  l.reset();
  EXPECT_TRUE(Ledger::Open(path_).ok());
}

// ---- Reading ------------------------------------------------------------------------------------

TEST_F(LedgerTest, LatestUnresolvedAndCount) {
  std::unique_ptr<Ledger> l = OpenOrDie();
  auto append = [&](LedgerEvent e, const std::string& id, int64_t pending_seq) {
    LedgerRow r;
    r.event = e;
    r.request_id = id;
    r.pending_seq = pending_seq;
    absl::StatusOr<LedgerRow> s = l->Append(r);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? s->seq : 0;
  };
  EXPECT_EQ(*l->Count(), 0);
  EXPECT_THAT(*l->Unresolved(), SizeIs(0));
  EXPECT_FALSE(l->Latest("r-1")->has_value());

  const int64_t p1 = append(LedgerEvent::kPending, "r-1", 0);  // 1: settled by 3
  const int64_t p2 = append(LedgerEvent::kPending, "r-2", 0);  // 2: never settled
  append(LedgerEvent::kDone, "r-1", p1);                       // 3
  const int64_t p4 = append(LedgerEvent::kPending, "r-3", 0);  // 4: reconciled by 5
  append(LedgerEvent::kReconciled, "r-3", p4);                 // 5
  const int64_t p6 = append(LedgerEvent::kPending, "r-4", 0);  // 6: a DONE without
  append(LedgerEvent::kDone, "r-4", 0);                        // 7: pending_seq
  append(LedgerEvent::kTaps, "", 0);                           // 8
  const int64_t p9 = append(LedgerEvent::kPending, "r-1", 0);  // 9: r-1 again

  EXPECT_EQ(*l->Count(), 9);
  absl::StatusOr<std::vector<LedgerRow>> open = l->Unresolved();
  ASSERT_TRUE(open.ok());
  std::vector<int64_t> seqs;
  for (const LedgerRow& r : *open) seqs.push_back(r.seq);
  EXPECT_THAT(seqs, ::testing::ElementsAre(p2, p6, p9));
  EXPECT_EQ((*open)[0].request_id, "r-2");

  EXPECT_EQ((*l->Latest("r-1"))->seq, p9);
  EXPECT_EQ((*l->Latest("r-3"))->event, LedgerEvent::kReconciled);
  EXPECT_EQ((*l->Latest("r-3"))->pending_seq, p4);
  EXPECT_FALSE(l->Latest("r-9")->has_value());
  EXPECT_FALSE(l->Latest("R-1")->has_value());  // exact match
  EXPECT_FALSE(l->Latest("")->has_value());     // not the TAPS row without a request id
}

TEST_F(LedgerTest, AppendRejectsBadReferencesAndAppendsNothing) {
  std::unique_ptr<Ledger> l = OpenOrDie();
  ASSERT_TRUE(l->Append(Row(1)).ok());
  LedgerRow r = Row(2);
  r.pending_seq = 2;  // the row itself
  EXPECT_EQ(l->Append(r).status().code(), absl::StatusCode::kInvalidArgument);
  r.pending_seq = -1;
  EXPECT_EQ(l->Append(r).status().code(), absl::StatusCode::kInvalidArgument);
  r.pending_seq = 1;
  r.aid = -2;
  EXPECT_EQ(l->Append(r).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(*l->Count(), 1);
  EXPECT_EQ(l->Append(Row(2))->seq, 2);
  EXPECT_TRUE(l->Verify().ok);
}

// ---- Verify -------------------------------------------------------------------------------------

TEST_F(LedgerTest, VerifyPassesAGoodLedgerAlsoWhileItIsOpen) {
  std::unique_ptr<Ledger> l = OpenOrDie();
  Ledger::VerifyResult empty = l->Verify();
  EXPECT_TRUE(empty.ok) << empty.problem;
  EXPECT_EQ(empty.rows, 0);
  EXPECT_EQ(empty.head_hash, kZeroHash);
  LedgerRow last;
  for (int i = 1; i <= 6; ++i) last = *l->Append(Row(i));
  Ledger::VerifyResult v = l->Verify();
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.rows, 6);
  EXPECT_EQ(v.head_hash, last.hash);
  // Read-only, beside the open writer (WAL).
  Ledger::VerifyResult f = VerifyFileOrDie();
  EXPECT_TRUE(f.ok) << f.problem;
  EXPECT_EQ(f.rows, 6);
  EXPECT_EQ(f.head_hash, last.hash);
  EXPECT_TRUE(l->Append(Row(7)).ok());
}

TEST_F(LedgerTest, VerifyCatchesAnEditedField) {
  MakeLedger(5);
  Tamper("UPDATE ledger SET amount = 999 WHERE seq = 3");
  Ledger::VerifyResult v = VerifyFileOrDie();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.bad_seq, 3);
  EXPECT_THAT(v.problem, HasSubstr("row 3 was edited (hash mismatch)"));
  EXPECT_EQ(v.rows, 3);
}

TEST_F(LedgerTest, VerifyCatchesAnEditedPayloadWhileOpen) {
  std::unique_ptr<Ledger> l = OpenOrDie();
  for (int i = 1; i <= 4; ++i) ASSERT_TRUE(l->Append(Row(i)).ok());
  Tamper("UPDATE ledger SET payload = x'00' WHERE seq = 2");
  Ledger::VerifyResult v = l->Verify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.bad_seq, 2);
  EXPECT_THAT(v.problem, HasSubstr("edited"));
}

TEST_F(LedgerTest, VerifyCatchesADeletedMiddleRow) {
  MakeLedger(5);
  Tamper("DELETE FROM ledger WHERE seq = 3");
  Ledger::VerifyResult v = VerifyFileOrDie();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.bad_seq, 4);
  EXPECT_THAT(v.problem, HasSubstr("row 3 is missing (deleted): row 4 follows row 2"));
}

TEST_F(LedgerTest, VerifyCatchesDeletedLastRowsAndOpenRefusesToContinue) {
  MakeLedger(5);
  Tamper("DELETE FROM ledger WHERE seq >= 4");
  Ledger::VerifyResult v = VerifyFileOrDie();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.bad_seq, 0);  // the head
  EXPECT_THAT(v.problem, HasSubstr("rows 4 to 5 are missing (deleted from the end)"));
  absl::StatusOr<std::unique_ptr<Ledger>> l = Ledger::Open(path_);
  EXPECT_EQ(l.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(l.status().message(), HasSubstr("ledger verify"));
}

TEST_F(LedgerTest, VerifyCatchesSwappedRows) {
  MakeLedger(5);
  Tamper(
      "UPDATE ledger SET seq = -2 WHERE seq = 2; UPDATE ledger SET seq = 2 WHERE seq = 3; "
      "UPDATE ledger SET seq = 3 WHERE seq = -2;");
  Ledger::VerifyResult v = VerifyFileOrDie();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.bad_seq, 2);
  EXPECT_THAT(v.problem, HasSubstr("row 2 is out of order (rows reordered)"));
  EXPECT_THAT(v.problem, HasSubstr("hash of row 3"));
}

TEST_F(LedgerTest, VerifyCatchesATamperedHead) {
  MakeLedger(3);
  Tamper(absl::StrCat("UPDATE chain_head SET hash = '", std::string(63, '0'), "1'"));
  Ledger::VerifyResult v = VerifyFileOrDie();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.bad_seq, 0);
  EXPECT_THAT(v.problem, HasSubstr("the head's hash is not row 3's hash"));
  Tamper("UPDATE chain_head SET seq = 2");
  v = VerifyFileOrDie();
  EXPECT_THAT(v.problem, HasSubstr("the head names row 2 but rows go on to 3"));
  Tamper("DELETE FROM chain_head");
  v = VerifyFileOrDie();
  EXPECT_THAT(v.problem, HasSubstr("chain head row is missing"));
  absl::StatusOr<std::unique_ptr<Ledger>> l = Ledger::Open(path_);
  EXPECT_EQ(l.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(l.status().message(), HasSubstr("the chain head is missing"));
}

TEST_F(LedgerTest, VerifyCatchesMalformedValues) {
  MakeLedger(4);
  Tamper("UPDATE ledger SET time = 'yesterday' WHERE seq = 2");
  Ledger::VerifyResult v = VerifyFileOrDie();
  EXPECT_EQ(v.bad_seq, 2);
  EXPECT_THAT(v.problem, HasSubstr("row 2 is malformed: time 'yesterday'"));
  std::filesystem::remove_all(dir_);
  std::filesystem::create_directories(dir_);
  MakeLedger(4);
  Tamper("UPDATE ledger SET amount = 'ten' WHERE seq = 3");  // text in an integer column
  v = VerifyFileOrDie();
  EXPECT_EQ(v.bad_seq, 3);
  EXPECT_THAT(v.problem, HasSubstr("row 3 is malformed: column amount holds text"));
}

// Someone who removes the newest row and rewrites the head to match leaves a chain that checks
// out on its own: only the head anchored elsewhere (or the running process) shows it.
TEST_F(LedgerTest, ARewrittenEndIsCaughtByTheRunningProcessOnly) {
  std::unique_ptr<Ledger> l = OpenOrDie();
  std::vector<LedgerRow> rows;
  for (int i = 1; i <= 4; ++i) rows.push_back(*l->Append(Row(i)));
  Tamper(absl::StrCat("DELETE FROM ledger WHERE seq = 4; UPDATE chain_head SET seq = 3, hash = '",
                      rows[2].hash, "'"));
  Ledger::VerifyResult f = VerifyFileOrDie();
  EXPECT_TRUE(f.ok) << f.problem;
  EXPECT_NE(f.head_hash, rows[3].hash);  // differs from an anchored copy of the head
  Ledger::VerifyResult v = l->Verify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.bad_seq, 0);
  EXPECT_THAT(v.problem, HasSubstr("not the head this process wrote last"));
  // And the process refuses to write past the rewritten end.
  absl::StatusOr<LedgerRow> next = l->Append(Row(5));
  EXPECT_EQ(next.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(next.status().message(), HasSubstr("changed by another program"));
  EXPECT_EQ(apdu::GetReason(next.status()), "LEDGER_UNAVAILABLE");
  EXPECT_EQ(*l->Count(), 3);
}

// ---- Export -------------------------------------------------------------------------------------

TEST_F(LedgerTest, ExportJsonLinesParsesBackWithEveryField) {
  std::unique_ptr<Ledger> l = OpenOrDie();
  ASSERT_TRUE(l->Append(Row(1)).ok());
  LedgerRow r = Row(2);
  r.detail = "quote \" backslash \\ newline \n control \x01 caf\xc3\xa9 bad \xff end";
  r.payload = std::string("\x00\x7f\x80", 3);
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
       {"seq",          "time",        "event",     "request_id", "request_hash", "caller",
        "method",       "uid",         "reader",    "aid",        "file_no",      "amount",
        "value_before", "value_after", "outcome",   "reason",     "commit_state", "detail",
        "payload",      "pending_seq", "prev_hash", "hash"}) {
    EXPECT_EQ(f1.count(name), 1u) << name;
  }
  EXPECT_EQ(f1.size(), 22);
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

TEST_F(LedgerTest, ExportCsvHasAHeaderAndOneRecordPerRow) {
  MakeLedger(3);
  {
    std::unique_ptr<Ledger> l = OpenOrDie();
    LedgerRow r = Row(4);
    r.detail = "a, \"b\"";
    r.pending_seq = 3;
    ASSERT_TRUE(l->Append(r).ok());
  }
  std::ostringstream out;
  ASSERT_TRUE(Ledger::ExportFile(path_, out, Ledger::ExportFormat::kCsv).ok());
  std::vector<std::string> lines = absl::StrSplit(out.str(), '\n', absl::SkipEmpty());
  ASSERT_THAT(lines, SizeIs(5));
  EXPECT_EQ(lines[0],
            "seq,time,event,request_id,request_hash,caller,method,uid,reader,aid,file_no,amount,"
            "value_before,value_after,outcome,reason,commit_state,detail,payload,pending_seq,"
            "prev_hash,hash");
  EXPECT_THAT(lines[1], ::testing::StartsWith("1,"));
  EXPECT_THAT(lines[1], HasSubstr(",PENDING,req-1,,,Debit,04a1b2c3d4e5f6,Test PCD 00 00,"
                                  "16060417,1,10,,,,,,,,0,"));
  EXPECT_THAT(lines[4], HasSubstr(",\"a, \"\"b\"\"\","));
  EXPECT_EQ(std::count(lines[2].begin(), lines[2].end(), ','), 21);
}

// ---- Failures -----------------------------------------------------------------------------------

// The disk refuses the write (RLIMIT_FSIZE: writes past the limit fail with EFBIG, as on a full
// disk): UNAVAILABLE, nothing appended, and the chain goes on when the disk is back.
TEST_F(LedgerTest, AFailedWriteAppendsNothingAndTheChainGoesOn) {
  std::unique_ptr<Ledger> l = OpenOrDie();
  for (int i = 1; i <= 3; ++i) ASSERT_TRUE(l->Append(Row(i)).ok());
  struct rlimit old {};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
  void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
  struct rlimit lim = old;
  lim.rlim_cur = static_cast<rlim_t>(std::filesystem::file_size(path_ + "-wal"));
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &lim), 0);
  LedgerRow big = Row(4);
  big.payload = std::string(8192, 'x');
  absl::StatusOr<LedgerRow> failed = l->Append(big);
  setrlimit(RLIMIT_FSIZE, &old);
  signal(SIGXFSZ, old_handler);
  ASSERT_EQ(failed.status().code(), absl::StatusCode::kUnavailable) << failed.status();
  EXPECT_THAT(failed.status().message(), HasSubstr(path_));
  EXPECT_EQ(apdu::GetReason(failed.status()), "LEDGER_UNAVAILABLE");
  EXPECT_EQ(*l->Count(), 3);

  absl::StatusOr<LedgerRow> next = l->Append(big);
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

// Another program holds the write lock (an sqlite3 shell in a transaction): the append gives up
// after busy_timeout with UNAVAILABLE and works once the lock is gone.
TEST_F(LedgerTest, AnAppendBlockedByAnotherWriterFailsCleanly) {
  absl::StatusOr<std::unique_ptr<Ledger>> opened =
      Ledger::Open(path_, Ledger::Options{.busy_timeout = absl::Milliseconds(200)});
  ASSERT_TRUE(opened.ok());
  std::unique_ptr<Ledger> l = *std::move(opened);
  ASSERT_TRUE(l->Append(Row(1)).ok());
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path_.c_str(), &other, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  absl::StatusOr<LedgerRow> failed = l->Append(Row(2));
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable) << failed.status();
  EXPECT_THAT(failed.status().message(), HasSubstr("locked"));
  sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(other);
  absl::StatusOr<LedgerRow> next = l->Append(Row(2));
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->seq, 2);
  EXPECT_TRUE(l->Verify().ok);
}

TEST_F(LedgerTest, ConcurrentAppendsKeepTheChain) {
  std::unique_ptr<Ledger> l = OpenOrDie();
  constexpr int kThreads = 4, kEach = 25;
  std::vector<std::thread> threads;
  std::vector<std::vector<int64_t>> seqs(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        LedgerRow r;
        r.event = LedgerEvent::kTaps;
        r.caller = absl::StrCat("thread-", t);
        absl::StatusOr<LedgerRow> s = l->Append(r);
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
}  // namespace desfired::server
