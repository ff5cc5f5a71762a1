// ChangeRecord: the outcome of a card call that went through the audit ledger (Debit, Credit,
// WriteData, ...), as the event hub carries it to the watchers that ask for changes
// (WatchCardsRequest.include_changes). CardServiceImpl publishes one when such a call finishes:
//
//   hub.Publish(CardEvent{.kind = CardEventKind::kChange, .reader = reader, .time = absl::Now(),
//                         .change = ChangeRecord{.outcome = ChangeOutcome::kCommitted, ...}});
//
// Never key material, never the card's UID.
//
// Thread-compatible: a plain value.
#ifndef DESFIRED_SERVER_READERS_CHANGE_EVENT_H_
#define DESFIRED_SERVER_READERS_CHANGE_EVENT_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace desfired::server {

enum class ChangeOutcome : uint8_t {
  kCommitted,     // the card made the change
  kReplayed,      // a retry answered from the ledger; the card was not touched again
  kNotCommitted,  // the card did not make it (or it was left open: defer_commit)
  kUnknown,       // the commit's answer was lost: settled when the card is seen again
};

// "COMMITTED", "REPLAYED", "NOT_COMMITTED", "UNKNOWN": the names of the proto's
// ChangeEvent.Outcome, and the metric's label.
constexpr absl::string_view ChangeOutcomeName(ChangeOutcome outcome) {
  switch (outcome) {
    case ChangeOutcome::kCommitted:
      return "COMMITTED";
    case ChangeOutcome::kReplayed:
      return "REPLAYED";
    case ChangeOutcome::kNotCommitted:
      return "NOT_COMMITTED";
    case ChangeOutcome::kUnknown:
      break;
  }
  return "UNKNOWN";
}

struct ChangeRecord {
  ChangeOutcome outcome = ChangeOutcome::kUnknown;
  std::string method = {};      // "Debit", ...
  std::string request_id = {};  // the caller's idempotency key (bounded); empty: none
  // The ledger row holding the outcome (see ChangeAttempt::ledger_seq); nullopt: none.
  std::optional<int64_t> ledger_seq = std::nullopt;
  std::optional<int64_t> amount = std::nullopt;  // value changes
  std::string reason = {};                       // a failed call's ErrorInfo.reason
};

}  // namespace desfired::server

#endif  // DESFIRED_SERVER_READERS_CHANGE_EVENT_H_
