// VerifyInstances: the chains of instances of the central ledger checked on `threads`
// connections at once (desfirectl ledger verify --postgres; docs/fleet.md, "Verifying the
// central trail"). All read one snapshot (exported by a transaction held open meanwhile). An
// instance's chain is cut into slices of at least 20,000 rows, each read by a binary COPY and
// checked by Verify from the row before it (its anchor) to its last row, which the next slice
// takes as its anchor; the last slice ends at the chain head. Slices that all pass are the
// instance's result; when one does not, the instance is verified again from its start in one
// snapshot, so that the report (the first bad row, the problem) is the one Verify gives.
//
//   DESFIRED_ASSIGN_OR_RETURN(auto results, VerifyInstances(conninfo, {"gate-01", "gate-02"}, 4));
//   for (const InstanceVerify& v : results) if (!v.result.ok) ...
//
// Thread-safe: no state; it runs its own threads and joins them.
#ifndef DESFIRED_CORE_LEDGER_CENTRAL_VERIFY_H_
#define DESFIRED_CORE_LEDGER_CENTRAL_VERIFY_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/ledger/verify.h"

namespace desfired::ledger {

struct InstanceVerify {
  std::string instance;
  VerifyResult result;
};

// In the order of `instances`. FAILED_PRECONDITION when the database is not a central ledger,
// UNAVAILABLE when a connection cannot be opened; a slice that cannot be read makes its
// instance's result a read error. `threads` below 1 counts as 1.
absl::StatusOr<std::vector<InstanceVerify>> VerifyInstances(
    const std::string& conninfo, const std::vector<std::string>& instances, int threads);

}  // namespace desfired::ledger

#endif  // DESFIRED_CORE_LEDGER_CENTRAL_VERIFY_H_
