// Machine-readable details attached to an absl::Status as payloads.
//
// Every error that core/apdu and core/desfire return carries a `reason` (an upper-case
// token such as CARD_REMOVED or AUTHENTICATION_FAILED) and, when the card produced it, the
// status word or DESFire status byte. proto/convert/status_convert.h maps these to
// google.rpc.ErrorInfo and back in one place; nothing else should parse error messages.
//
// Payload type URLs (the payload value is the raw bytes shown):
//   kReasonTypeUrl         "type.desfired.dev/reason"          ASCII reason, e.g. "CARD_REMOVED"
//                          (core/util/status_reason.h: not only card errors carry a reason)
//   kStatusWordTypeUrl     "type.desfired.dev/iso7816-sw"      2 bytes, SW1 SW2
//   kDesfireStatusTypeUrl  "type.desfired.dev/desfire-status"  1 byte, the DESFire status
//   kCommitStateTypeUrl    "type.desfired.dev/commit-state"    "NOT_COMMITTED" or "UNKNOWN"
//   kMetadataTypeUrlPrefix "type.desfired.dev/metadata/<key>"  the value of ErrorInfo
//                                                              metadata <key> (error_metadata.h)
//
//   absl::Status s = WithReason(absl::UnavailableError("card gone"), kReasonCardRemoved);
//   if (GetReason(s) == kReasonCardRemoved) { ... }
//
// Thread-safe: pure functions.
#ifndef DESFIRED_CORE_APDU_STATUS_PAYLOAD_H_
#define DESFIRED_CORE_APDU_STATUS_PAYLOAD_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "core/util/status_reason.h"

namespace desfired::apdu {

using ::desfired::kReasonTypeUrl;
inline constexpr absl::string_view kStatusWordTypeUrl = "type.desfired.dev/iso7816-sw";
inline constexpr absl::string_view kDesfireStatusTypeUrl = "type.desfired.dev/desfire-status";
inline constexpr absl::string_view kCommitStateTypeUrl = "type.desfired.dev/commit-state";
inline constexpr absl::string_view kMetadataTypeUrlPrefix = "type.desfired.dev/metadata/";

// Reasons produced by the transport and APDU layers.
inline constexpr absl::string_view kReasonCardRemoved = "CARD_REMOVED";
inline constexpr absl::string_view kReasonProtocolError = "PROTOCOL_ERROR";
inline constexpr absl::string_view kReasonIsoStatus = "ISO_STATUS";

// WithReason(status, reason) and GetReason(status), from core/util/status_reason.h.
using ::desfired::GetReason;
using ::desfired::WithReason;

// The SW1SW2 payload, or nullopt.
std::optional<uint16_t> GetStatusWord(const absl::Status& status);
// The DESFire status byte payload, or nullopt.
std::optional<uint8_t> GetDesfireStatus(const absl::Status& status);

// What a failed change left on the card (core/desfire/card.h says when DesfireCard attaches
// it): kNotCommitted, the card cannot have committed it; kUnknown, the commit was sent and
// its answer was lost.
enum class CommitState { kNotCommitted, kUnknown };
// "NOT_COMMITTED" or "UNKNOWN": the payload value, and ErrorInfo metadata "commit_state".
absl::string_view CommitStateName(CommitState state);
// Returns `status` with the commit-state payload set (a no-op for an OK status).
absl::Status WithCommitState(absl::Status status, CommitState state);
// The commit-state payload, or nullopt. A value other than "NOT_COMMITTED" reads as kUnknown
// (the safe reading: the change may have happened).
std::optional<CommitState> GetCommitState(const absl::Status& status);

// Returns `status` with payload kMetadataTypeUrlPrefix + `key` = `value` (replacing an earlier
// value of the same key); a no-op for an OK status. The converter sends it as ErrorInfo
// metadata `key`, which must match [a-zA-Z0-9_-]{1,64} (other keys are dropped there). The
// keys in use are listed in error_metadata.h. Never pass key material.
absl::Status WithErrorMetadata(absl::Status status, absl::string_view key, absl::string_view value);
// The metadata payload `key`, or nullopt.
std::optional<std::string> GetErrorMetadata(const absl::Status& status, absl::string_view key);

// UNAVAILABLE with reason CARD_REMOVED: the card left the field (or the reader lost it).
// The caller should wait for a card and start over; nothing after the last confirmed
// response can be assumed to have happened.
absl::Status CardRemovedError(absl::string_view message);

// INTERNAL with reason PROTOCOL_ERROR: the card answered something the protocol does not
// allow (for example an odd frame length). Retrying the same exchange will not help.
absl::Status ProtocolError(absl::string_view message);

}  // namespace desfired::apdu

#endif  // DESFIRED_CORE_APDU_STATUS_PAYLOAD_H_
