// The errors of the card operations' own checks, built the way the server's status mapping
// (server/status_mapping.h) reads them: a reason payload (core/apdu/status_payload.h) and
// metadata payloads "type.desfired.dev/metadata/<key>", which become
// google.rpc.ErrorInfo.metadata[<key>] on the wire.
//
//   absl::Status s = KeyNotFoundError("transit");
//   // FAILED_PRECONDITION; reason KEY_NOT_FOUND; metadata key_name = "transit"
//   GetErrorMetadata(s, kMetadataKeyName);  // "transit"
//
// The payloads are exactly those of the server's helpers of the same names
// (server/status_mapping.h), so that an error reads the same whichever layer made it.
//
// Thread-safe: pure functions.
#ifndef DESFIRED_CORE_CARDOPS_ERRORS_H_
#define DESFIRED_CORE_CARDOPS_ERRORS_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "core/util/bytes.h"

namespace desfired::cardops {

// Payloads "type.desfired.dev/metadata/<key>" carry ErrorInfo.metadata[<key>].
inline constexpr absl::string_view kMetadataTypeUrlPrefix = "type.desfired.dev/metadata/";

// Metadata keys (see proto/desfired/v1/errors.proto).
inline constexpr absl::string_view kMetadataField = "field";
inline constexpr absl::string_view kMetadataReader = "reader";
inline constexpr absl::string_view kMetadataExpectedUid = "expected_uid";
inline constexpr absl::string_view kMetadataUid = "uid";
inline constexpr absl::string_view kMetadataKeyName = "key_name";

// Reasons of the helpers below (the names of desfired.v1.ErrorReason values).
inline constexpr absl::string_view kReasonInvalidArgument = "INVALID_ARGUMENT";
inline constexpr absl::string_view kReasonCardMismatch = "CARD_MISMATCH";
inline constexpr absl::string_view kReasonKeyNotFound = "KEY_NOT_FOUND";

// Returns `status` with metadata `key` = `value` attached as a payload (replacing an earlier
// value of the same key). A no-op for an OK status. `key` must match [a-zA-Z0-9_-]{1,64}.
// Never pass key material.
absl::Status WithErrorMetadata(absl::Status status, absl::string_view key, absl::string_view value);

// The metadata `key` of `status`, or nullopt.
std::optional<std::string> GetErrorMetadata(const absl::Status& status, absl::string_view key);

// INVALID_ARGUMENT, reason INVALID_ARGUMENT, metadata "field" = `field`: the request field
// (a dotted path as the API names it, e.g. "auth.scheme") that the card operation cannot use.
absl::Status InvalidFieldError(absl::string_view field, absl::string_view message);

// FAILED_PRECONDITION, reason CARD_MISMATCH, metadata "reader", and "expected_uid" and "uid" in
// lower-case hex: the card on `reader` is not the one the request expected.
absl::Status CardMismatchError(absl::string_view reader, ByteSpan expected_uid,
                               ByteSpan actual_uid);

// FAILED_PRECONDITION, reason KEY_NOT_FOUND, metadata "key_name": the request names a key that
// is not in the key store.
absl::Status KeyNotFoundError(absl::string_view key_name);

}  // namespace desfired::cardops

#endif  // DESFIRED_CORE_CARDOPS_ERRORS_H_
