// The shipping-lag load of bench/ledger_central_bench.cc: several simulated desfired boxes, each
// a local SQLite ledger appended at a steady rate with a shipper loop beside it (as desfired-ship
// runs: a batch, then a poll interval's sleep when caught up), into one central PostgreSQL.
//
//   absl::StatusOr<LagResult> r = MeasureShipLag(dir, conninfo, {.instances = 10, ...});
//
// Not thread-safe: one measurement at a time (it runs its own threads).
#ifndef DESFIRED_BENCH_LEDGER_SHIP_LAG_H_
#define DESFIRED_BENCH_LEDGER_SHIP_LAG_H_

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "bench/ledger_rows.h"
#include "core/ledger/ledger.h"
#include "core/ledger/postgres_backend.h"
#include "core/ledger/shipper.h"

namespace desfired::ledger {

struct LagLoad {
  int instances = 10;
  int changes_per_second = 200;  // in all; a change is two rows (PENDING, DONE)
  int seconds = 20;
  int64_t batch_rows = 1000;
  int poll_ms = 200;
};

struct LagResult {
  int64_t rows = 0;
  double lag_p50_ms = 0, lag_p99_ms = 0, lag_max_ms = 0;
  double append_p50_ms = 0, append_p99_ms = 0;  // the reference: one-row central appends
};

namespace ship_lag_internal {

using Clock = std::chrono::steady_clock;

inline double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

inline double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

}  // namespace ship_lag_internal

inline absl::StatusOr<LagResult> MeasureShipLag(const std::string& dir, const std::string& conninfo,
                                                const LagLoad& load) {
  using namespace ship_lag_internal;
  struct Box {
    std::unique_ptr<Ledger> ledger;
    std::unique_ptr<Shipper> shipper;
    absl::Mutex mu;
    std::vector<Clock::time_point> appended;  // by seq - 1
    std::vector<double> lags;
  };
  const std::string run = absl::StrCat("lag-", Clock::now().time_since_epoch().count());
  std::vector<std::unique_ptr<Box>> boxes;
  for (int i = 0; i < load.instances; ++i) {
    auto box = std::make_unique<Box>();
    const std::string path = absl::StrCat(dir, "/", run, "-", i, ".sqlite");
    absl::StatusOr<std::unique_ptr<Ledger>> l = Ledger::Open(path);
    if (!l.ok()) return l.status();
    box->ledger = *std::move(l);
    absl::StatusOr<std::unique_ptr<Shipper>> s =
        Shipper::Create({.ledger_path = path,
                         .conninfo = conninfo,
                         .instance = absl::StrCat(run, "-", i),
                         .state_path = path + ".shipped",
                         .batch_rows = load.batch_rows});
    if (!s.ok()) return s.status();
    box->shipper = *std::move(s);
    boxes.push_back(std::move(box));
  }
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  const auto period =
      std::chrono::microseconds(1000000LL * load.instances / std::max(1, load.changes_per_second));
  for (auto& b : boxes) {
    Box* box = b.get();
    threads.emplace_back([box, period, &stop] {  // the station: a debit every period
      auto next = Clock::now();
      for (int i = 0; !stop.load(); i += 2) {
        std::this_thread::sleep_until(next);
        next += period;
        for (int k = 0; k < 2; ++k) {
          {  // taken before the append: no row can be shipped before its time is there
            absl::MutexLock l(&box->mu);
            box->appended.push_back(Clock::now());
          }
          if (!box->ledger->Append(TypicalRow(i + k)).ok()) return;
        }
      }
    });
    threads.emplace_back([box, &load, &stop] {  // desfired-ship's loop
      int64_t shipped = 0;
      while (!stop.load()) {
        absl::StatusOr<int64_t> sent = box->shipper->Ship();
        const auto now = Clock::now();
        if (sent.ok() && *sent > 0) {
          absl::MutexLock l(&box->mu);
          for (int64_t seq = shipped; seq < shipped + *sent; ++seq) {
            box->lags.push_back(Ms(now - box->appended[static_cast<size_t>(seq)]));
          }
          shipped += *sent;
        }
        if (!sent.ok() || *sent < load.batch_rows) {
          std::this_thread::sleep_for(std::chrono::milliseconds(load.poll_ms));
        }
      }
    });
  }
  // The reference meanwhile: one-row appends to an instance of its own.
  std::vector<double> appends;
  {
    absl::StatusOr<std::unique_ptr<PostgresBackend>> ref =
        PostgresBackend::Open(conninfo, run + "-reference");
    if (!ref.ok()) return ref.status();
    Head head{0, kGenesisHash};
    const auto end = Clock::now() + std::chrono::seconds(load.seconds);
    for (int i = 0; Clock::now() < end; ++i) {
      Row typed = TypicalRow(i);
      typed.seq = head.seq + 1;
      typed.time = absl::Now();
      typed.prev_hash = HashHex(head.hash);
      StoredRow row = ToStored(typed);
      const Hash hash = ChainHash(head.hash, row);
      row[Column::kHash] = Value::Text(HashHex(hash));
      const auto t0 = Clock::now();
      if (!(*ref)->Append(row, head).ok()) break;
      appends.push_back(Ms(Clock::now() - t0));
      head = Head{head.seq + 1, hash};
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  stop.store(true);
  for (std::thread& t : threads) t.join();
  LagResult r;
  std::vector<double> lags;
  for (auto& b : boxes) lags.insert(lags.end(), b->lags.begin(), b->lags.end());
  r.rows = static_cast<int64_t>(lags.size());
  r.lag_p50_ms = Percentile(lags, 0.50);
  r.lag_p99_ms = Percentile(lags, 0.99);
  r.lag_max_ms = Percentile(lags, 1.0);
  r.append_p50_ms = Percentile(appends, 0.50);
  r.append_p99_ms = Percentile(appends, 0.99);
  return r;
}

}  // namespace desfired::ledger

#endif  // DESFIRED_BENCH_LEDGER_SHIP_LAG_H_
