// The shipper: store-and-forward of one desfired's local SQLite ledger to the central ledger on
// PostgreSQL (docs/fleet.md). The local file stays the source of truth: the shipper only reads
// it (a read-only snapshot, no lock: desfired keeps appending), and sends the rows the central
// ledger does not hold yet, in seq order, under the instance id.
//
//   - Resume point: the central chain head of the instance (PostgresBackend: moved with every
//     row, in the rows' transaction). Nothing is kept locally that could disagree with it, so a
//     restart, a crash mid-batch (the batch's transaction is rolled back: all or nothing), an
//     outage of the network or of PostgreSQL all resume from what PostgreSQL committed.
//   - Before each batch the central head must be a row of the local chain (same seq, same
//     hash). Otherwise nothing is sent and Ship fails with FAILED_PRECONDITION, never
//     "repaired": the central head is AHEAD of the local ledger (a local backup put back, a
//     new local ledger), or the chains FORKED (the central row at the head has another hash),
//     or the central head is BEHIND what this shipper confirmed before (the state file: rows
//     removed centrally, a central backup put back).
//   - Every row sent is checked first: consecutive seq, prev_hash the hash before, its hash
//     recomputed (a row edited locally is not shipped: FAILED_PRECONDITION).
//   - A batch of up to batch_rows rows is one transaction (AppendBatch): memory is bounded by
//     one batch, and desfired is never waited for (it does not know the shipper exists).
//   - Ordering is by seq only: the rows' times (desfired's wall clock, which may jump) are
//     shipped as they are and never compared.
//
//   DESFIRED_ASSIGN_OR_RETURN(auto shipper, Shipper::Create({.ledger_path = ..., .conninfo = ...,
//                                                              .instance = "gate-07"}));
//   absl::StatusOr<int64_t> sent = shipper->Ship();   // one batch; 0: caught up
//   ShipperStats stats = shipper->stats();            // rows behind, ...
//
// Thread-compatible: one thread calls Ship; stats() may be called from another.
#ifndef DESFIRED_CORE_LEDGER_SHIPPER_H_
#define DESFIRED_CORE_LEDGER_SHIPPER_H_

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/ledger/chain.h"

namespace desfired::ledger {

class HeadFile;
class PostgresBackend;

struct ShipperOptions {
  std::string ledger_path;  // the local SQLite ledger (desfired's ledger.sqlite)
  std::string conninfo;     // the central database (libpq), e.g. from ReadConnInfoFile
  std::string instance;     // this box's instance id in the central ledger
  // The last head the central ledger confirmed, kept to notice a central head gone backwards
  // (HeadFile format). Empty: <ledger_path>.shipped.
  std::string state_path;
  int64_t batch_rows = 1000;  // rows per transaction (and in memory at once)
};

// What the shipper knows after its last Ship (for the lag metrics).
struct ShipperStats {
  int64_t local_seq = 0;     // the local ledger's last row
  int64_t central_seq = 0;   // the central head of the instance
  int64_t rows_shipped = 0;  // rows this shipper sent (committed), since it started
  int64_t failures = 0;      // Ship calls that failed, since it started
  absl::Duration behind;     // how long the oldest unshipped row has waited, by the monotonic
                             // clock since this shipper first saw it (0: caught up)
  std::string last_error;    // the last failure's message; empty after a success
};

class Shipper {
 public:
  // Checks the options (nothing is opened yet: the first Ship connects). INVALID_ARGUMENT for an
  // empty path, conninfo or instance, or batch_rows < 1.
  static absl::StatusOr<std::unique_ptr<Shipper>> Create(ShipperOptions options);
  ~Shipper();
  Shipper(const Shipper&) = delete;
  Shipper& operator=(const Shipper&) = delete;

  // Sends the next batch: the number of rows committed centrally (0: nothing to send).
  // UNAVAILABLE when the central database or the local file cannot be reached or read (retry
  // later: nothing or a whole batch was committed); FAILED_PRECONDITION when the central head
  // does not continue the local chain (above: ahead, forked, behind) or a local row does not
  // verify — retrying does not help, a person decides.
  absl::StatusOr<int64_t> Ship();

  ShipperStats stats() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  explicit Shipper(ShipperOptions options);
  absl::StatusOr<int64_t> ShipOnce();
  // The central head, checked against the state file and the local chain.
  absl::StatusOr<Head> CentralHead();

  const ShipperOptions options_;
  std::unique_ptr<PostgresBackend> central_;  // null until connected
  Head confirmed_;                            // the state file's head (seq 0: none)
  bool state_read_ = false;
  std::unique_ptr<HeadFile> state_;  // the state file, open after the first batch

  // Notes that the local ledger ends at `local_seq` now and the central one at `central_seq`.
  void Observe(int64_t local_seq, int64_t central_seq) ABSL_LOCKS_EXCLUDED(mu_);

  mutable absl::Mutex mu_;
  ShipperStats stats_ ABSL_GUARDED_BY(mu_);
  // When each new local end was first seen (monotonic clock), oldest first: the oldest row
  // not yet central was there by the first entry whose seq reaches it. Bounded (a full list
  // takes no more entries: the lag is then overstated, never understated).
  std::deque<std::pair<int64_t, std::chrono::steady_clock::time_point>> seen_ ABSL_GUARDED_BY(mu_);
};

// The Prometheus text exposition of `stats` for `instance` (the shipper's metrics file):
// desfired_ship_rows_behind, desfired_ship_seconds_behind, desfired_ship_local_seq,
// desfired_ship_central_seq, desfired_ship_rows_shipped_total, desfired_ship_failures_total.
std::string ShipperMetricsText(const ShipperStats& stats, const std::string& instance);

}  // namespace desfired::ledger

#endif  // DESFIRED_CORE_LEDGER_SHIPPER_H_
