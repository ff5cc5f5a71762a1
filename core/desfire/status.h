// DESFire status bytes (the SW2 of a `91 xx` reply): one table, mapped to absl::Status.
//
// The absl::StatusCode of each entry is chosen by what the caller should do next:
//   PERMISSION_DENIED   the access rights forbid it with the current authentication (9D), or
//                       the card refused the key (AE, reason AUTHENTICATION_FAILED): use the
//                       right key. UNAUTHENTICATED is never a card's answer: the server keeps
//                       it for its own callers (a missing or unknown bearer token)
//   NOT_FOUND           the application / file / key does not exist
//   ALREADY_EXISTS      it exists already (duplicate application or file)
//   OUT_OF_RANGE        offset, length or value beyond the file's limits (also "not enough
//                       value" on Debit: the card answers BOUNDARY_ERROR; the command layer
//                       may re-label it INSUFFICIENT_VALUE)
//   INVALID_ARGUMENT    the request itself is malformed (length / parameter errors)
//   RESOURCE_EXHAUSTED  the card is full (EEPROM, or too many applications / files)
//   ABORTED             the card dropped the command or transaction; start it again
//   DATA_LOSS           an integrity check failed (MAC, CRC, padding) or the card reports
//                       corrupted memory: the session is void, re-authenticate
//   FAILED_PRECONDITION the card is in a state that forbids the command
//   UNIMPLEMENTED       the card does not know the command
//   UNKNOWN             a status byte not in the table
//
// Every error carries payloads (see core/apdu/status_payload.h): the status byte under
// "type.desfired.dev/desfire-status" and the reason under "type.desfired.dev/reason".
//
//   absl::Status s = DesfireStatusToStatus(0x9D);   // PERMISSION_DENIED
//   GetReason(s) == "PERMISSION_DENIED"; GetDesfireStatus(s) == 0x9D
//
// Thread-safe: constants and pure functions.
#ifndef DESFIRED_CORE_DESFIRE_STATUS_H_
#define DESFIRED_CORE_DESFIRE_STATUS_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace desfired::desfire {

enum class DesfireStatus : uint8_t {
  kOperationOk = 0x00,
  kNoChanges = 0x0C,
  kOutOfEepromError = 0x0E,
  kIllegalCommandCode = 0x1C,
  kIntegrityError = 0x1E,
  kNoSuchKey = 0x40,
  kLengthError = 0x7E,
  kPermissionDenied = 0x9D,
  kParameterError = 0x9E,
  kApplicationNotFound = 0xA0,
  kApplIntegrityError = 0xA1,
  kAuthenticationError = 0xAE,
  kAdditionalFrame = 0xAF,
  kBoundaryError = 0xBE,
  kPiccIntegrityError = 0xC1,
  kCommandAborted = 0xCA,
  kPiccDisabledError = 0xCD,
  kCountError = 0xCE,
  kDuplicateError = 0xDE,
  kEepromError = 0xEE,
  kFileNotFound = 0xF0,
  kFileIntegrityError = 0xF1,
};

inline constexpr uint8_t ToByte(DesfireStatus s) { return static_cast<uint8_t>(s); }

// Reasons used by the table and by host-side checks of core/desfire.
inline constexpr absl::string_view kReasonAuthenticationFailed = "AUTHENTICATION_FAILED";
inline constexpr absl::string_view kReasonIntegrityError = "INTEGRITY_ERROR";
inline constexpr absl::string_view kReasonNotAuthenticated = "NOT_AUTHENTICATED";

struct DesfireStatusInfo {
  uint8_t status;
  absl::StatusCode code;   // kOk for 00, 0C and AF (AF is handled by the channel)
  absl::string_view name;  // the NXP name, e.g. "PERMISSION_DENIED"
  absl::string_view reason;
  absl::string_view text;
};

// The whole table, sorted by status byte.
absl::Span<const DesfireStatusInfo> DesfireStatusTable();

// The entry for `status`, or nullptr.
const DesfireStatusInfo* FindDesfireStatus(uint8_t status);

// OK for 00 (OPERATION_OK), 0C (NO_CHANGES) and AF (ADDITIONAL_FRAME); otherwise the
// table's code, message "<text> (DESFire status 9D PERMISSION_DENIED)", and both payloads.
// A byte not in the table gives UNKNOWN with reason DESFIRE_STATUS.
absl::Status DesfireStatusToStatus(uint8_t status);

// A host-detected integrity failure (bad or missing response MAC, CRC, padding, RndA'):
// DATA_LOSS with reason INTEGRITY_ERROR and no status-byte payload.
absl::Status IntegrityError(absl::string_view message);

// PERMISSION_DENIED with reason AUTHENTICATION_FAILED, for host-side authentication checks
// (the card's RndA' did not match).
absl::Status AuthenticationFailedError(absl::string_view message);

}  // namespace desfired::desfire

#endif  // DESFIRED_CORE_DESFIRE_STATUS_H_
