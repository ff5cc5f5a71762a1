// The reason payload of an absl::Status: a machine-readable upper-case token (CARD_REMOVED,
// LEDGER_UNAVAILABLE, ...) that the server turns into google.rpc.ErrorInfo.reason in one place.
// Any layer may set it; core/apdu/status_payload.h adds the card's status words beside it.
//
// Payload type URL (the payload value is the raw bytes shown):
//   kReasonTypeUrl  "type.desfired.dev/reason"  ASCII reason, e.g. "CARD_REMOVED"
//
//   absl::Status s = WithReason(absl::UnavailableError("disk full"), "LEDGER_UNAVAILABLE");
//   if (GetReason(s) == "LEDGER_UNAVAILABLE") { ... }
//
// Thread-safe: pure functions.
#ifndef DESFIRED_CORE_UTIL_STATUS_REASON_H_
#define DESFIRED_CORE_UTIL_STATUS_REASON_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace desfired {

inline constexpr absl::string_view kReasonTypeUrl = "type.desfired.dev/reason";

// Returns `status` with the reason payload set (a no-op for an OK status).
absl::Status WithReason(absl::Status status, absl::string_view reason);
// The reason payload, or nullopt.
std::optional<std::string> GetReason(const absl::Status& status);

}  // namespace desfired

#endif  // DESFIRED_CORE_UTIL_STATUS_REASON_H_
