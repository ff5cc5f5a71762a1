// The outcome of a card call that went through the audit ledger, as CardServiceImpl publishes
// it (a CHANGE event on the event hub, server/readers/change_event.h) and counts it
// (desfired_changes_total{method,outcome}).
//
//   ChangeOutcome outcome = ChangeOutcomeOf(status, replayed, left_open);
//
// Thread-safe: a pure function.
#ifndef DESFIRED_SERVER_RPC_CHANGE_EVENTS_H_
#define DESFIRED_SERVER_RPC_CHANGE_EVENTS_H_

#include "absl/status/status.h"
#include "server/readers/change_event.h"

namespace desfired::server {

// The outcome of a finished change call: `status` is the call's; `replayed` says it was answered
// from the ledger; `left_open` that the call succeeded without committing (defer_commit, or a
// CommitTransaction with nothing to commit).
//   OK                     REPLAYED when replayed, NOT_COMMITTED when left open, else COMMITTED
//   commit state UNKNOWN   UNKNOWN
//   any other error        NOT_COMMITTED (a failed change carries commit state NOT_COMMITTED)
ChangeOutcome ChangeOutcomeOf(const absl::Status& status, bool replayed, bool left_open);

}  // namespace desfired::server

#endif  // DESFIRED_SERVER_RPC_CHANGE_EVENTS_H_
