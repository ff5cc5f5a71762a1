// The start-up checks of a ledger (docs/ledger.md, "Start-up checks and recovery"): does the
// store end where the head file says the ledger ended, and does its newest part verify?
//
//   DESFIRED_ASSIGN_OR_RETURN(StartupFinding f,
//                             CheckAtStartup(*backend, "/var/lib/desfired/ledger.head", {}));
//   if (!f.problem.empty()) ... refuse, or recover ...
//
// | store / head file                                   | finding                          |
// |-----------------------------------------------------|----------------------------------|
// | empty store, no head file                           | fine: a new ledger (first start) |
// | rows, no head file                                  | problem                          |
// | empty store, head file past row 0                   | problem: emptied or deleted      |
// | store ends before the head file's row               | problem: cut short / replaced    |
// | store ends at the head file's row, another hash     | problem: rewritten / replaced    |
// | store ends one row past it, linked to it            | fine (head file stale: rewrite)  |
// | store ends further on, its row there the head file's | fine when the machine restarted  |
// |   (the head file last written before the boot)      |   since (head file stale)        |
// | store ends further on                               | problem: rows added / replaced   |
//
// The head file is written without a sync (head_file.h): only a crash of the machine can leave
// it more than one row behind, and the machine has restarted since then.
// | the newest `verify_rows` rows do not verify         | problem: the row verify names    |
//
// Thread-compatible: reads the backend and the head file, writes nothing.
#ifndef DESFIRED_CORE_LEDGER_STARTUP_CHECK_H_
#define DESFIRED_CORE_LEDGER_STARTUP_CHECK_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/ledger/backend.h"
#include "core/ledger/chain.h"

namespace desfired::ledger {

struct StartupCheckOptions {
  // Refuse a head file group or others may access (an error, not a problem).
  bool check_permissions = true;
  // The newest rows verified (0: all).
  int64_t verify_rows = 0;
  // When the machine started (tests set it); nullopt: the system's (btime in /proc/stat).
  std::optional<absl::Time> boot_time = std::nullopt;
};

// When the machine started: btime in /proc/stat; InfinitePast when it cannot be read (no head
// file is then taken for older than the boot).
absl::Time SystemBootTime();

struct StartupFinding {
  // Why the ledger must not be used as it is; empty when it may.
  std::string problem;
  // The store's own head is consistent (it is its last row): a ledger can be opened on it.
  bool store_head_ok = false;
  // The store's head (when store_head_ok) and the head file's (nullopt: no head file).
  Head store_head;
  std::optional<Head> recorded;
  // The head file is to be (re)written with store_head: there is none yet for an empty store,
  // or it lags one row.
  bool head_file_stale = false;
};

// Checks `backend` against the head file at `head_file` (empty: none; only the store's head
// and its newest rows are checked then). UNAVAILABLE when the store or the head file cannot be
// read; FAILED_PRECONDITION / PERMISSION_DENIED when the head file is not private, not a
// regular file, or cannot be opened. Every other fault is a problem in the finding.
absl::StatusOr<StartupFinding> CheckAtStartup(Backend& backend, const std::string& head_file,
                                              const StartupCheckOptions& options);

}  // namespace desfired::ledger

#endif  // DESFIRED_CORE_LEDGER_STARTUP_CHECK_H_
