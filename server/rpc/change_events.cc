#include "server/rpc/change_events.h"

#include "core/apdu/status_payload.h"

namespace desfired::server {

ChangeOutcome ChangeOutcomeOf(const absl::Status& status, bool replayed, bool left_open) {
  if (status.ok()) {
    if (replayed) return ChangeOutcome::kReplayed;
    return left_open ? ChangeOutcome::kNotCommitted : ChangeOutcome::kCommitted;
  }
  if (apdu::GetCommitState(status) == apdu::CommitState::kUnknown) return ChangeOutcome::kUnknown;
  return ChangeOutcome::kNotCommitted;
}

}  // namespace desfired::server
