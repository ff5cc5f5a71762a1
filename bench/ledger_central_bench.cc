// Central verify (core/ledger/postgres_backend.h): `ledger verify` over one instance's 100k rows
// in PostgreSQL, and over a fleet of 10 instances of 10k rows with 1, 2 and 4 instances at once
// (core/ledger/central_verify.h), against the reference — verify of the same 100k rows in a
// SQLite file — in the same run. The shipper (core/ledger/shipper.h): catch-up of 100k rows into a
// new instance against the reference — a binary COPY of the same rows, the fastest way in — and the
// lag of 10 shippers at 200 changes/s in all (bench/ledger_ship_lag.h). bench/results/fleet.md has
// the commands and the figures.
//
//   build/bench/ledger_central_bench
//
// The rows are appended once through the Ledger to a SQLite file on tmpfs, then copied row for
// row (binary COPY ... FROM STDIN, postgres::CopyRows) into a throwaway PostgreSQL
// (tests/testing/postgres_sandbox.h: postgresql-15 in a temp dir, loopback TCP) as instance
// "bench". Both verifies read from warm caches. Rows/s is items_per_second (the ratio central /
// SQLite: bench/results/fleet.md).
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/ledger_rows.h"
#include "bench/ledger_ship_lag.h"
#include "core/ledger/central_verify.h"
#include "core/ledger/ledger.h"
#include "core/ledger/postgres_backend.h"
#include "core/ledger/postgres_db.h"
#include "core/ledger/shipper.h"
#include "core/ledger/sqlite_backend.h"
#include "core/ledger/verify.h"
#include "core/util/status_macros.h"
#include "tests/testing/postgres_sandbox.h"

namespace desfired::ledger {
namespace {

constexpr int kRows = 100000;
constexpr char kInstance[] = "bench";
// The same number of rows as a fleet: kFleet instances of kRows / kFleet rows.
constexpr int kFleet = 10;
constexpr char kFleetPrefix[] = "fleet-";

struct Fixture {
  std::string dir;  // on tmpfs: the SQLite file
  std::string sqlite;
  std::unique_ptr<testing::PostgresSandbox> pg;
  std::string conninfo;
  std::string error;  // why there is no fixture
};

// Every row of the SQLite file into ledger_rows, with the head: binary COPYs of 10,000 rows
// (postgres::CopyRows, as the shipper's batches).
absl::Status CopyToCentral(const std::string& sqlite, const std::string& conninfo,
                           absl::string_view instance = kInstance) {
  DESFIRED_ASSIGN_OR_RETURN(std::unique_ptr<Snapshot> view, SqliteBackend::OpenFile(sqlite));
  DESFIRED_ASSIGN_OR_RETURN(std::unique_ptr<RowCursor> rows, view->Rows());
  DESFIRED_ASSIGN_OR_RETURN(postgres::Conn c, postgres::Connect(conninfo));
  std::vector<StoredRow> batch;
  Head head;
  for (bool more = true; more;) {
    DESFIRED_ASSIGN_OR_RETURN(more, rows->Next());
    if (more) {
      batch.push_back(rows->row());
      DESFIRED_ASSIGN_OR_RETURN(head, HeadAfter(batch.back()));
    }
    if (batch.size() == 10000 || (!more && !batch.empty())) {
      DESFIRED_RETURN_IF_ERROR(postgres::CopyRows(c.get(), instance, batch));
      batch.clear();
    }
  }
  postgres::Params p;
  p.Text(instance);
  p.Int(head.seq);
  p.Text(HashHex(head.hash));
  return postgres::Run(c.get(),
                       "INSERT INTO ledger_heads (instance, seq, hash) VALUES ($1, $2, $3)", &p)
      .status();
}

const Fixture& TheFixture() {
  static Fixture* fixture = [] {
    auto* f = new Fixture;
    f->dir = absl::StrCat("/dev/shm/ledger_central_bench_", getpid());
    std::filesystem::remove_all(f->dir);
    std::filesystem::create_directories(f->dir);
    f->sqlite = f->dir + "/ledger.sqlite";
    {
      absl::StatusOr<std::unique_ptr<Ledger>> l = Ledger::Open(f->sqlite);
      if (!l.ok()) {
        f->error = std::string(l.status().message());
        return f;
      }
      for (int i = 0; i < kRows; ++i) (void)(*l)->Append(TypicalRow(i));
    }
    if (!testing::PostgresSandbox::Available()) {
      f->error = "PostgreSQL is not installed (postgresql-15; scripts/setup)";
      return f;
    }
    absl::StatusOr<std::unique_ptr<testing::PostgresSandbox>> pg =
        testing::PostgresSandbox::Start();
    absl::Status s = pg.ok() ? absl::OkStatus() : pg.status();
    if (s.ok()) {
      f->pg = *std::move(pg);
      f->conninfo = f->pg->ConnInfo();
      s = PostgresBackend::Migrate(f->conninfo, "");
    }
    if (s.ok()) s = CopyToCentral(f->sqlite, f->conninfo);
    // The fleet: kFleet instances of kRows / kFleet rows each (a ledger file of that size
    // copied under every id).
    if (s.ok()) {
      const std::string part = f->dir + "/part.sqlite";
      if (absl::StatusOr<std::unique_ptr<Ledger>> l = Ledger::Open(part); l.ok()) {
        for (int i = 0; i < kRows / kFleet; ++i) (void)(*l)->Append(TypicalRow(i));
      }
      for (int i = 0; i < kFleet && s.ok(); ++i) {
        s = CopyToCentral(part, f->conninfo, absl::StrCat(kFleetPrefix, i));
      }
    }
    if (s.ok()) s = f->pg->Exec("VACUUM ANALYZE ledger_rows");
    if (!s.ok()) f->error = absl::StrCat("cannot fill the central ledger: ", s.message());
    return f;
  }();
  return *fixture;
}

// One verify of `view` (pinned here) per iteration; with `check` false, the rows only read
// through the cursor (where the verify's time goes: reading or checking).
void RunVerify(benchmark::State& state, absl::StatusOr<std::unique_ptr<Snapshot>> (*open)(),
               bool check = true) {
  const Fixture& f = TheFixture();
  if (!f.error.empty()) {
    state.SkipWithError(f.error.c_str());
    return;
  }
  for (auto _ : state) {
    absl::StatusOr<std::unique_ptr<Snapshot>> view = open();
    if (!view.ok() || !(*view)->Pin().ok()) {
      state.SkipWithError("cannot open the snapshot");
      return;
    }
    int64_t rows = 0;
    std::string problem;
    if (check) {
      VerifyResult v = Verify(**view, std::nullopt);
      rows = v.rows;
      problem = v.problem;
    } else if (absl::StatusOr<std::unique_ptr<RowCursor>> c = (*view)->Rows(); c.ok()) {
      for (absl::StatusOr<bool> more = (*c)->Next(); more.ok() && *more; more = (*c)->Next()) {
        benchmark::DoNotOptimize((*c)->row());
        ++rows;
      }
    }
    if (!problem.empty() || rows != kRows) {
      state.SkipWithError(absl::StrCat("verify: ", problem, " after ", rows, " rows").c_str());
      return;
    }
  }
  state.SetItemsProcessed(state.iterations() * kRows);
}

// The reference: the same rows in the SQLite file.
void BM_VerifySqlite100k(benchmark::State& state) {
  RunVerify(state, [] { return SqliteBackend::OpenFile(TheFixture().sqlite); });
}
BENCHMARK(BM_VerifySqlite100k)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3);

void BM_VerifyCentral100k(benchmark::State& state) {
  RunVerify(state, [] { return PostgresBackend::OpenSnapshot(TheFixture().conninfo, kInstance); });
}
BENCHMARK(BM_VerifyCentral100k)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3);

// Where the central verify's time goes: the rows read alone (the cursor, no checks).
void BM_ReadSqlite100k(benchmark::State& state) {
  RunVerify(
      state, [] { return SqliteBackend::OpenFile(TheFixture().sqlite); }, false);
}
BENCHMARK(BM_ReadSqlite100k)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2);
void BM_ReadCentral100k(benchmark::State& state) {
  RunVerify(
      state, [] { return PostgresBackend::OpenSnapshot(TheFixture().conninfo, kInstance); }, false);
}
BENCHMARK(BM_ReadCentral100k)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2);

// desfirectl ledger verify --postgres (VerifyInstances: binary COPY, state.range(0)
// connections) over `instances`, kRows rows in all.
void RunVerifyInstances(benchmark::State& state, const std::vector<std::string>& instances) {
  const Fixture& f = TheFixture();
  if (!f.error.empty()) return state.SkipWithError(f.error.c_str());
  for (auto _ : state) {
    absl::StatusOr<std::vector<InstanceVerify>> r =
        VerifyInstances(f.conninfo, instances, static_cast<int>(state.range(0)));
    if (!r.ok()) return state.SkipWithError(std::string(r.status().message()).c_str());
    int64_t rows = 0;
    for (const InstanceVerify& v : *r) {
      if (!v.result.ok) return state.SkipWithError(v.result.problem.c_str());
      rows += v.result.rows;
    }
    if (rows != kRows) return state.SkipWithError("not every row was verified");
  }
  state.SetItemsProcessed(state.iterations() * kRows);
}

// 1, 2 and 4 connections, wall time.
void Connections(benchmark::internal::Benchmark* b) {
  b->Arg(1)->Arg(2)->Arg(4)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3);
}

// One instance of 100k rows, cut into slices checked at once.
void BM_VerifyCentralSliced100k(benchmark::State& state) { RunVerifyInstances(state, {kInstance}); }
BENCHMARK(BM_VerifyCentralSliced100k)->Apply(Connections);

// A fleet: kFleet instances of 10k rows.
void BM_VerifyCentralFleet10x10k(benchmark::State& state) {
  std::vector<std::string> instances;
  for (int i = 0; i < kFleet; ++i) instances.push_back(absl::StrCat(kFleetPrefix, i));
  RunVerifyInstances(state, instances);
}
BENCHMARK(BM_VerifyCentralFleet10x10k)->Apply(Connections);

// Each iteration puts the 100k rows into a new instance `prefix`-N with `load`.
void RunLoad(benchmark::State& state, const char* prefix,
             absl::Status (*load)(const Fixture& f, const std::string& instance)) {
  const Fixture& f = TheFixture();
  if (!f.error.empty()) return state.SkipWithError(f.error.c_str());
  int n = 0;
  for (auto _ : state) {
    absl::Status s = load(f, absl::StrCat(prefix, n++));
    if (!s.ok()) return state.SkipWithError(std::string(s.message()).c_str());
  }
  state.SetItemsProcessed(state.iterations() * kRows);
}

// The shipper's reference: the same 100k rows by binary COPY.
void BM_CopyCentral100k(benchmark::State& state) {
  RunLoad(state, "copy-", [](const Fixture& f, const std::string& instance) {
    return CopyToCentral(f.sqlite, f.conninfo, instance);
  });
}
BENCHMARK(BM_CopyCentral100k)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(2);

// Catch-up after an outage: the shipper sends the 100k rows (batches of 1000).
void BM_ShipCatchUp100k(benchmark::State& state) {
  RunLoad(state, "ship-", [](const Fixture& f, const std::string& instance) {
    DESFIRED_ASSIGN_OR_RETURN(std::unique_ptr<Shipper> shipper,
                              Shipper::Create({.ledger_path = f.sqlite,
                                               .conninfo = f.conninfo,
                                               .instance = instance,
                                               .state_path = f.dir + "/" + instance + ".shipped",
                                               .batch_rows = 1000}));
    int64_t total = 0;
    for (;;) {
      DESFIRED_ASSIGN_OR_RETURN(int64_t sent, shipper->Ship());
      if (sent == 0) break;
      total += sent;
    }
    return total == kRows ? absl::OkStatus() : absl::InternalError("the shipper stopped early");
  });
}
BENCHMARK(BM_ShipCatchUp100k)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(2);

// Shipping lag: 10 instances, each a local ledger on tmpfs appended at 20 changes/s (a debit's
// PENDING and DONE rows) with a desfired-ship loop beside it (poll 200 ms, batches of 1000),
// into the one PostgreSQL, for 20 s. Per row: the time from its local append to the commit of
// the batch that holds it. The reference: a single-row durable append to PostgreSQL
// (PostgresBackend::Append), timed in the same run under the same load.
void BM_ShipLag10x200(benchmark::State& state) {
  const Fixture& f = TheFixture();
  if (!f.error.empty()) return state.SkipWithError(f.error.c_str());
  for (auto _ : state) {
    absl::StatusOr<LagResult> r = MeasureShipLag(
        f.dir, f.conninfo, {.instances = 10, .changes_per_second = 200, .seconds = 20});
    if (!r.ok()) return state.SkipWithError(std::string(r.status().message()).c_str());
    state.counters["lag_p50_ms"] = r->lag_p50_ms;
    state.counters["lag_p99_ms"] = r->lag_p99_ms;
    state.counters["lag_max_ms"] = r->lag_max_ms;
    state.counters["rows"] = static_cast<double>(r->rows);
    state.counters["ref_append_p50_ms"] = r->append_p50_ms;
    state.counters["ref_append_p99_ms"] = r->append_p99_ms;
  }
}
BENCHMARK(BM_ShipLag10x200)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);

}  // namespace
}  // namespace desfired::ledger

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  const desfired::ledger::Fixture& f = desfired::ledger::TheFixture();
  if (f.pg != nullptr) f.pg->Stop();
  std::filesystem::remove_all(f.dir);
  return 0;
}
