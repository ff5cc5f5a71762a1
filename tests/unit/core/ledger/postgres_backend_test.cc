// The PostgreSQL backend on a real server (tests/testing/postgres_sandbox.h, one per binary):
// the conformance suite of every backend (each test a fresh instance in the same database),
// then what is particular to the central database — two appenders on two connections do not
// fork a chain, the shipping role cannot rewrite rows (PostgreSQL's own refusal), instances are
// kept apart, a database without the schema is refused, and verify names a row the owner edited.
#include "core/ledger/postgres_backend.h"

#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/ledger_rows.h"
#include "core/ledger/central_verify.h"
#include "core/ledger/verify.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/cli_run.h"
#include "tests/testing/ledger_backend_test_suite.h"
#include "tests/testing/postgres_sandbox.h"

namespace desfired::ledger {
namespace {

using ::desfired::testing::LedgerBackendTestSuite;  // INSTANTIATE_TEST_SUITE_P wants its name
using ::testing::HasSubstr;

constexpr char kShipper[] = "desfired_ship";

// The shared sandbox, migrated once, with the shipping role; null (test skipped or failed)
// without it.
testing::PostgresSandbox* Central() {
  static bool migrated = false;
  testing::PostgresSandbox* pg = ::desfired::testing::SharedPostgresOrSkip();
  if (pg == nullptr || migrated) return pg;
  absl::Status role = pg->Exec(absl::StrCat("CREATE ROLE ", kShipper, " LOGIN"));
  EXPECT_TRUE(role.ok()) << role;
  absl::Status s = PostgresBackend::Migrate(pg->ConnInfo(), kShipper);
  EXPECT_TRUE(s.ok()) << s;
  migrated = s.ok() && role.ok();
  return migrated ? pg : nullptr;
}

std::string NewInstance() {
  static std::atomic<int> next{0};
  return absl::StrCat("box-", next++);
}

// ---- The conformance suite ----------------------------------------------------------------------

// A fresh instance's ledger, opened as the shipping role; the sandbox is started (or the test
// skipped) when the container is made.
struct PostgresContainer : testing::LedgerBackendContainer {
  const std::string instance = NewInstance();
  testing::PostgresSandbox* const pg = Central();

  absl::StatusOr<std::unique_ptr<Backend>> Open() override {
    if (pg == nullptr) return absl::UnavailableError("no PostgreSQL sandbox");
    return PostgresBackend::Open(pg->ConnInfo(kShipper), instance);
  }
};

std::unique_ptr<testing::LedgerBackendContainer> NewContainer() {
  return std::make_unique<PostgresContainer>();
}

INSTANTIATE_TEST_SUITE_P(All, LedgerBackendTestSuite,
                         ::testing::Values(testing::LedgerBackendParam{"Postgres", NewContainer}),
                         testing::LedgerBackendParamName);

// ---- The central database -----------------------------------------------------------------------

class PostgresBackendTest : public LedgerBackendTestSuite {
 protected:
  void SetUp() override {
    pg_ = Central();
    if (pg_ == nullptr) return;
    instance_ = NewInstance();
    backend_ = Open(kShipper);
  }

  std::unique_ptr<Backend> Open(const char* role) {
    absl::StatusOr<std::unique_ptr<PostgresBackend>> b =
        PostgresBackend::Open(pg_->ConnInfo(role), instance_);
    EXPECT_TRUE(b.ok()) << b.status();
    return b.ok() ? std::unique_ptr<Backend>(*std::move(b)) : nullptr;
  }

  // Runs `sql` as `role`: the server's refusal, or OK.
  absl::Status AsRole(const char* role, const std::string& sql) { return pg_->Exec(sql, role); }

  testing::PostgresSandbox* pg_ = nullptr;
  std::string instance_;
};

// The suite's helpers without its parameter: the fixture is not parameterized.
INSTANTIATE_TEST_SUITE_P(Central, PostgresBackendTest,
                         ::testing::Values(testing::LedgerBackendParam{"Postgres", nullptr}),
                         testing::LedgerBackendParamName);

TEST_P(PostgresBackendTest, TwoAppendersOnTwoConnectionsDoNotForkTheChain) {
  if (pg_ == nullptr) return;
  std::unique_ptr<Backend> other = Open(kShipper);
  ASSERT_NE(other, nullptr);
  AppendNext(Event::kPending, "r-1");
  // Both know head 1 and append a different row 2 at the same time, many times over: exactly
  // one wins each round, and the loser appended nothing.
  for (int round = 0; round < 20; ++round) {
    const Head from = head_;
    StoredRow mine = NextRow(Event::kPending, absl::StrCat("mine-", round));
    StoredRow theirs = mine;
    theirs[Column::kRequestId] = Value::Text(absl::StrCat("theirs-", round));
    theirs[Column::kHash] = Value::Text(HashHex(ChainHash(from.hash, theirs)));
    absl::Status a, b;
    std::thread t([&] { b = other->Append(theirs, from); });
    a = backend_->Append(mine, from);
    t.join();
    ASSERT_NE(a.ok(), b.ok()) << a << " / " << b;
    const absl::Status& lost = a.ok() ? b : a;
    EXPECT_EQ(lost.code(), absl::StatusCode::kUnavailable) << lost;
    const StoredRow& won = a.ok() ? mine : theirs;
    head_ = Head{won[Column::kSeq].integer, *ParseHashHex(won[Column::kHash].bytes)};
    EXPECT_EQ(*backend_->ReadHead(), head_);
  }
  EXPECT_EQ(*backend_->Count(), 21);
  // The chain is one line: verify passes.
  absl::StatusOr<std::unique_ptr<Snapshot>> view = backend_->OpenSnapshot();
  ASSERT_TRUE(view.ok()) << view.status();
  ASSERT_TRUE((*view)->Pin().ok());
  VerifyResult v = Verify(**view, head_);
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.rows, 21);
}

TEST_P(PostgresBackendTest, TheShippingRoleCannotRewriteRows) {
  if (pg_ == nullptr) return;
  AppendNext(Event::kPending, "r-1");
  AppendNext(Event::kDone, "r-1", 1);
  const std::string where = absl::StrCat(" WHERE instance = '", instance_, "'");
  for (const std::string& sql :
       {absl::StrCat("UPDATE ledger_rows SET amount = 1", where),
        absl::StrCat("DELETE FROM ledger_rows", where), std::string("TRUNCATE ledger_rows"),
        absl::StrCat("DELETE FROM ledger_heads", where),
        absl::StrCat("UPDATE ledger_heads SET instance = 'x'", where)}) {
    absl::Status s = AsRole(kShipper, sql);
    EXPECT_FALSE(s.ok()) << sql;
    EXPECT_THAT(s.message(), HasSubstr("permission denied")) << sql;
  }
  // Nor move a head back (the trigger), though it may move it forward with a row.
  absl::Status back = AsRole(kShipper, absl::StrCat("UPDATE ledger_heads SET seq = 1", where));
  EXPECT_THAT(back.message(), HasSubstr("moves forward only"));
  // Nor over a gap: row 5 added (a copy of row 2 renumbered), rows 3 and 4 missing.
  absl::Status gap = AsRole(
      kShipper,
      absl::StrCat("BEGIN; CREATE TEMP TABLE t AS SELECT * FROM ledger_rows", where,
                   " AND seq = 2; UPDATE t SET seq = 5; INSERT INTO ledger_rows SELECT * FROM t; "
                   "UPDATE ledger_heads SET seq = 5, hash = (SELECT hash FROM t)",
                   where, "; COMMIT"));
  EXPECT_THAT(gap.message(), HasSubstr("moves forward only"));
  EXPECT_EQ(*backend_->Count(), 2);
  EXPECT_EQ(*backend_->ReadHead(), head_);
}

TEST_P(PostgresBackendTest, InstancesAreKeptApart) {
  if (pg_ == nullptr) return;
  AppendNext(Event::kPending, "r-1");
  AppendNext(Event::kPending, "r-2");
  const std::string first = instance_;
  instance_ = NewInstance();
  std::unique_ptr<Backend> second = Open(kShipper);
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(*second->Count(), 0);
  EXPECT_EQ(*second->ReadHead(), Head{});
  EXPECT_FALSE(second->Latest("r-1")->has_value());
  // The same seq and request ids in another instance.
  head_ = Head{};
  const StoredRow row = NextRow(Event::kPending, "r-1");
  ASSERT_TRUE(second->Append(row, Head{}).ok());
  EXPECT_EQ(*backend_->Count(), 2);
  EXPECT_EQ(*second->Count(), 1);
  absl::StatusOr<std::vector<std::string>> all = PostgresBackend::Instances(pg_->ConnInfo());
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_THAT(*all, ::testing::IsSupersetOf({first, instance_}));
  EXPECT_THAT(second->name(), HasSubstr(instance_));
}

TEST_P(PostgresBackendTest, VerifyNamesARowTheOwnerEdited) {
  if (pg_ == nullptr) return;
  for (int i = 1; i <= 5; ++i) AppendNext(Event::kPending, absl::StrCat("r-", i));
  ASSERT_TRUE(AsRole(testing::kSandboxOwner,
                     absl::StrCat("UPDATE ledger_rows SET amount = 999 WHERE instance = '",
                                  instance_, "' AND seq = 3"))
                  .ok());
  absl::StatusOr<std::unique_ptr<Snapshot>> view =
      PostgresBackend::OpenSnapshot(pg_->ConnInfo(), instance_);
  ASSERT_TRUE(view.ok()) << view.status();
  ASSERT_TRUE((*view)->Pin().ok());
  VerifyResult v = Verify(**view, std::nullopt);
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.bad_seq, 3);
  EXPECT_THAT(v.problem, HasSubstr("row 3 was edited"));
}

// VerifyInstances cuts a long chain into slices read at once (binary COPY, one snapshot): an
// intact chain gives what Verify gives; a row edited in a later slice, and one deleted at a
// slice's edge, are named as Verify names them.
TEST_P(PostgresBackendTest, VerifyInstancesInSlicesAgreesWithVerify) {
  if (pg_ == nullptr) return;
  constexpr int kRows = 45000;  // two slices of 22,500 (at least 20,000 each)
  std::vector<StoredRow> batch;
  Head head;
  Head from;
  for (int i = 0; i < kRows; ++i) {
    Row r = TypicalRow(i);
    r.seq = i + 1;
    r.time = absl::FromUnixSeconds(1'795'000'000 + i);
    r.prev_hash = HashHex(head.hash);
    StoredRow stored = ToStored(r);
    head = Head{r.seq, ChainHash(head.hash, stored)};
    stored[Column::kHash] = Value::Text(HashHex(head.hash));
    batch.push_back(std::move(stored));
    if (batch.size() == 5000) {
      ASSERT_TRUE(static_cast<PostgresBackend&>(*backend_).AppendBatch(batch, from).ok());
      from = head;
      batch.clear();
    }
  }
  auto sequential = [&] {
    absl::StatusOr<std::unique_ptr<Snapshot>> view =
        PostgresBackend::OpenSnapshot(pg_->ConnInfo(), instance_);
    EXPECT_TRUE(view.ok() && (*view)->Pin().ok());
    return view.ok() ? Verify(**view, std::nullopt) : VerifyResult{};
  };
  auto sliced = [&](int threads) {
    absl::StatusOr<std::vector<InstanceVerify>> v =
        VerifyInstances(pg_->ConnInfo(), {instance_}, threads);
    EXPECT_TRUE(v.ok()) << v.status();
    EXPECT_EQ(v.ok() ? v->size() : 0, 1u);
    return v.ok() && !v->empty() ? (*v)[0].result : VerifyResult{};
  };
  const VerifyResult want = sequential();
  ASSERT_TRUE(want.ok) << want.problem;
  for (int threads : {1, 2, 4}) {
    const VerifyResult got = sliced(threads);
    EXPECT_TRUE(got.ok) << threads << ": " << got.problem;
    EXPECT_EQ(got.rows, kRows);
    EXPECT_EQ(got.head_hash, want.head_hash);
    EXPECT_EQ(got.head_hash, HashHex(head.hash));
  }
  for (const std::string& edit :
       {absl::StrCat("UPDATE ledger_rows SET amount = 999 WHERE instance = '", instance_,
                     "' AND seq = 30000"),
        absl::StrCat("DELETE FROM ledger_rows WHERE instance = '", instance_,
                     "' AND seq = 22500")}) {
    ASSERT_TRUE(AsRole(testing::kSandboxOwner, edit).ok()) << edit;
    const VerifyResult bad = sequential();
    const VerifyResult got = sliced(2);
    EXPECT_FALSE(bad.ok);
    EXPECT_FALSE(got.ok);
    EXPECT_EQ(got.bad_seq, bad.bad_seq) << edit;
    EXPECT_EQ(got.problem, bad.problem) << edit;
    EXPECT_EQ(got.rows, bad.rows) << edit;
  }
}

// A central ledger of format version 1 (no Transaction MAC columns) is refused until the owner
// migrates it; the migration adds the columns, keeps every row and hash, and rows with them
// append and verify.
TEST_P(PostgresBackendTest, MigratesAVersion1CentralLedger) {
  if (pg_ == nullptr) return;
  ASSERT_TRUE(pg_->Exec("CREATE DATABASE central_v1").ok());
  const std::string central = pg_->ConnInfo(testing::kSandboxOwner, "central_v1");
  ASSERT_TRUE(PostgresBackend::Migrate(central, "").ok());
  absl::StatusOr<std::unique_ptr<PostgresBackend>> opened =
      PostgresBackend::Open(central, instance_);
  ASSERT_TRUE(opened.ok()) << opened.status();
  backend_ = *std::move(opened);
  // Rows without the columns hash as version 1 rows (NextRow sets them on DONE / PENDING).
  for (int i = 1; i <= 3; ++i) {
    StoredRow row = NextRow(Event::kTaps, absl::StrCat("v1-", i));
    ASSERT_TRUE(backend_->Append(row, head_).ok());
    head_ = Head{row[Column::kSeq].integer, *ParseHashHex(row[Column::kHash].bytes)};
  }
  backend_.reset();
  ASSERT_TRUE(pg_->Exec("ALTER TABLE ledger_rows DROP COLUMN tmc, DROP COLUMN tmv, "
                        "DROP COLUMN reader_id; UPDATE ledger_meta SET value = '1' "
                        "WHERE key = 'format_version'",
                        testing::kSandboxOwner, "central_v1")
                  .ok());
  absl::StatusOr<std::unique_ptr<PostgresBackend>> refused =
      PostgresBackend::Open(central, instance_);
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.status().message(), HasSubstr("format version 1"));

  ASSERT_TRUE(PostgresBackend::Migrate(central, "").ok());
  opened = PostgresBackend::Open(central, instance_);
  ASSERT_TRUE(opened.ok()) << opened.status();
  backend_ = *std::move(opened);
  AppendNext(Event::kPending, "tmac-1");  // with a reader id
  AppendNext(Event::kDone, "tmac-1", 4);  // with TMC, TMV and the reader id
  absl::StatusOr<std::unique_ptr<Snapshot>> view =
      PostgresBackend::OpenSnapshot(central, instance_);
  ASSERT_TRUE(view.ok()) << view.status();
  ASSERT_TRUE((*view)->Pin().ok());
  VerifyResult v = Verify(**view, head_);
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.rows, 5);
  absl::StatusOr<std::optional<StoredRow>> done = backend_->Latest("tmac-1");
  ASSERT_TRUE(done.ok() && done->has_value()) << done.status();
  EXPECT_EQ((**done)[Column::kTmc], Value::Integer(5));
  EXPECT_FALSE((**done)[Column::kTmv].bytes.empty());
}

// desfirectl ledger verify --postgres: every instance's chain, the first bad row named.
TEST_P(PostgresBackendTest, DesfirectlVerifiesEveryInstanceCentrally) {
  if (pg_ == nullptr) return;
  // A database of its own: the other tests' instances (an edited one among them) are not here.
  ASSERT_TRUE(pg_->Exec("CREATE DATABASE central_cli").ok());
  const std::string central = pg_->ConnInfo(testing::kSandboxOwner, "central_cli");
  ASSERT_TRUE(PostgresBackend::Migrate(central, "").ok());
  absl::StatusOr<std::unique_ptr<PostgresBackend>> opened =
      PostgresBackend::Open(central, instance_);
  ASSERT_TRUE(opened.ok()) << opened.status();
  backend_ = *std::move(opened);
  for (int i = 1; i <= 4; ++i) AppendNext(Event::kPending, absl::StrCat("r-", i));
  const std::string dir =
      absl::StrCat(::testing::TempDir(), "/central_verify_", getpid(), "_", instance_);
  std::filesystem::create_directories(dir);
  const std::string conn = dir + "/central.conn";
  std::ofstream(conn) << central << "\n";
  ASSERT_EQ(::chmod(conn.c_str(), 0600), 0);
  const std::string verify = absl::StrCat("ledger verify --postgres ", conn);

  testing::CliRun ok = testing::RunDesfirectl(DESFIRECTL, verify);
  EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  EXPECT_THAT(ok.out, HasSubstr(absl::StrCat("instance ", instance_, ": ledger OK: 4 rows")));
  EXPECT_THAT(ok.out, HasSubstr("central ledger OK: 1 instances, 4 rows checked"));

  ASSERT_TRUE(pg_->Exec(absl::StrCat("UPDATE ledger_rows SET detail = 'x' WHERE instance = '",
                                     instance_, "' AND seq = 2"),
                        testing::kSandboxOwner, "central_cli")
                  .ok());
  testing::CliRun bad = testing::RunDesfirectl(
      DESFIRECTL, absl::StrCat(verify, " --instance ", instance_, " --json"));
  EXPECT_EQ(bad.exit_code, 1) << bad.out << bad.err;
  EXPECT_THAT(bad.out, HasSubstr(absl::StrCat("{\"instance\":\"", instance_,
                                              "\",\"ok\":false,\"rows\":2,")));
  EXPECT_THAT(bad.out, HasSubstr("\"bad_seq\":2,\"problem\":\"row 2 was edited"));
  testing::CliRun all = testing::RunDesfirectl(DESFIRECTL, verify);
  EXPECT_EQ(all.exit_code, 1);
  EXPECT_THAT(all.out, HasSubstr(absl::StrCat("instance ", instance_, ": ledger BROKEN at row 2")));

  testing::CliRun none = testing::RunDesfirectl(DESFIRECTL, verify + " --instance no-such-box");
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_THAT(none.err, HasSubstr("no instance 'no-such-box'"));
  ASSERT_EQ(::chmod(conn.c_str(), 0644), 0);  // a connection file others can read is refused
  testing::CliRun open = testing::RunDesfirectl(DESFIRECTL, verify);
  EXPECT_EQ(open.exit_code, 1);
  EXPECT_THAT(open.err, HasSubstr("chmod 600"));
  std::filesystem::remove_all(dir);
}

// desfirectl ledger migrate (what a fleet's database init runs): the schema, then the shipping
// role can open a chain and append, and PostgreSQL itself refuses it an UPDATE of the rows.
TEST(PostgresBackendSetupTest, DesfirectlMigratesAndGrantsTheShippingRole) {
  testing::PostgresSandbox* pg = ::desfired::testing::SharedPostgresOrSkip();
  if (pg == nullptr) return;
  ASSERT_TRUE(pg->Exec("CREATE DATABASE migrate_cli").ok());
  ASSERT_TRUE(pg->Exec("CREATE ROLE cli_shipper LOGIN").ok());
  const std::string dir = absl::StrCat(::testing::TempDir(), "/central_migrate_", getpid());
  std::filesystem::create_directories(dir);
  const std::string conn = dir + "/owner.conn";
  std::ofstream(conn) << pg->ConnInfo(testing::kSandboxOwner, "migrate_cli") << "\n";
  ASSERT_EQ(::chmod(conn.c_str(), 0600), 0);
  const std::string shipper = pg->ConnInfo("cli_shipper", "migrate_cli");
  // Before the migration the shipping role finds no central ledger.
  EXPECT_EQ(PostgresBackend::Open(shipper, "box").status().code(),
            absl::StatusCode::kFailedPrecondition);

  const std::string migrate =
      absl::StrCat("ledger migrate --postgres ", conn, " --shipping-role cli_shipper");
  for (int run = 0; run < 2; ++run) {  // idempotent
    testing::CliRun m = testing::RunDesfirectl(DESFIRECTL, migrate);
    EXPECT_EQ(m.exit_code, 0) << m.out << m.err;
    EXPECT_THAT(m.out, HasSubstr("central ledger migrated; shipping role cli_shipper"));
  }
  absl::StatusOr<std::unique_ptr<PostgresBackend>> b = PostgresBackend::Open(shipper, "box");
  ASSERT_TRUE(b.ok()) << b.status();
  absl::Status rewrite =
      pg->Exec("UPDATE ledger_rows SET detail = 'x'", "cli_shipper", "migrate_cli");
  EXPECT_FALSE(rewrite.ok());
  EXPECT_THAT(std::string(rewrite.message()), HasSubstr("permission denied"));

  testing::CliRun usage = testing::RunDesfirectl(DESFIRECTL, "ledger migrate");
  EXPECT_EQ(usage.exit_code, 2);
  EXPECT_THAT(usage.err, HasSubstr("--postgres CONNFILE is required"));
  ASSERT_EQ(::chmod(conn.c_str(), 0644), 0);  // a connection file others can read is refused
  testing::CliRun open = testing::RunDesfirectl(DESFIRECTL, migrate);
  EXPECT_EQ(open.exit_code, 1);
  EXPECT_THAT(open.err, HasSubstr("chmod 600"));
  std::filesystem::remove_all(dir);
}

TEST(PostgresBackendSetupTest, ADatabaseWithoutTheSchemaIsRefused) {
  testing::PostgresSandbox* pg = ::desfired::testing::SharedPostgresOrSkip();
  if (pg == nullptr) return;
  ASSERT_TRUE(pg->Exec("CREATE DATABASE empty_db").ok());
  absl::StatusOr<std::unique_ptr<PostgresBackend>> b =
      PostgresBackend::Open(pg->ConnInfo(testing::kSandboxOwner, "empty_db"), "box");
  EXPECT_EQ(b.status().code(), absl::StatusCode::kFailedPrecondition) << b.status();
  EXPECT_THAT(b.status().message(), HasSubstr("migration"));
  // A server that is not there: UNAVAILABLE, and the message holds no password.
  b = PostgresBackend::Open("host=127.0.0.1 port=1 user=u password=secret-pw connect_timeout=2",
                            "box");
  EXPECT_EQ(b.status().code(), absl::StatusCode::kUnavailable) << b.status();
  EXPECT_THAT(b.status().message(), ::testing::Not(HasSubstr("secret-pw")));
  EXPECT_EQ(PostgresBackend::Open(pg->ConnInfo(), "").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace desfired::ledger
