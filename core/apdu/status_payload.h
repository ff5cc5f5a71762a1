// Machine-readable details attached to an absl::Status as payloads.
//
// Every error that core/apdu and core/desfire return carries a `reason` (an upper-case
// token such as CARD_REMOVED or AUTHENTICATION_FAILED) and, when the card produced it, the
// status word or DESFire status byte. The server maps these to google.rpc.ErrorInfo in one
// place; nothing else should parse error messages.
//
// Payload type URLs (the payload value is the raw bytes shown):
//   kReasonTypeUrl        "type.desfired.dev/reason"          ASCII reason, e.g. "CARD_REMOVED"
//                         (core/util/status_reason.h: not only card errors carry a reason)
//   kStatusWordTypeUrl    "type.desfired.dev/iso7816-sw"      2 bytes, SW1 SW2
//   kDesfireStatusTypeUrl "type.desfired.dev/desfire-status"  1 byte, the DESFire status
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

// UNAVAILABLE with reason CARD_REMOVED: the card left the field (or the reader lost it).
// The caller should wait for a card and start over; nothing after the last confirmed
// response can be assumed to have happened.
absl::Status CardRemovedError(absl::string_view message);

// INTERNAL with reason PROTOCOL_ERROR: the card answered something the protocol does not
// allow (for example an odd frame length). Retrying the same exchange will not help.
absl::Status ProtocolError(absl::string_view message);

}  // namespace desfired::apdu

#endif  // DESFIRED_CORE_APDU_STATUS_PAYLOAD_H_
