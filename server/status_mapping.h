// Status mapping: the one place where an absl::Status from core (or from the server's own
// checks) becomes the grpc::Status a client sees. RPC methods never build a grpc::Status
// themselves; they return ToGrpcStatus(status).
//
//   absl::Status (core)                          grpc::Status
//   code                                    ──▶  code (same number)
//   message                                 ──▶  message (as is; core never puts keys in it)
//   payload type.desfired.dev/reason        ──▶  details: google.rpc.Status {code, message,
//   payload type.desfired.dev/desfire-status      details: [exactly one google.rpc.ErrorInfo
//   payload type.desfired.dev/iso7816-sw            {reason, domain "desfired.dev",
//   payload type.desfired.dev/commit-state           metadata}]}
//   payloads type.desfired.dev/metadata/<key>
//
// ErrorInfo (the contract is proto/desfired/v1/errors.proto):
//   reason    the reason payload when it is a valid token ([A-Z0-9_], 1..63 characters);
//             otherwise the name of the code ("INTERNAL", "DEADLINE_EXCEEDED", ...).
//   metadata  "desfire_status": two upper-case hex digits, from the desfire-status payload;
//             "sw": four upper-case hex digits, from the iso7816-sw payload;
//             "commit_state": "NOT_COMMITTED" or "UNKNOWN", from core's commit-state payload
//             (core/desfire/card.h);
//             <key>: every metadata payload (WithErrorMetadata), e.g. "field", "reader".
//
// The server's own checks build their errors with the helpers below, as absl::Status, so that
// they travel through the same path:
//
//   if (request.target().reader().empty()) {
//     return ToGrpcStatus(InvalidFieldError("target.reader", "a reader name is required"));
//   }
//
// Thread-safe: pure functions.
#ifndef DESFIRED_SERVER_STATUS_MAPPING_H_
#define DESFIRED_SERVER_STATUS_MAPPING_H_

#include <optional>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "core/util/bytes.h"
#include "google/rpc/error_details.pb.h"
#include "grpcpp/support/status.h"

namespace desfired::server {

// google.rpc.ErrorInfo.domain of every error.
inline constexpr absl::string_view kErrorDomain = "desfired.dev";

// ErrorInfo.metadata keys (see proto/desfired/v1/errors.proto).
inline constexpr absl::string_view kMetadataDesfireStatus = "desfire_status";
inline constexpr absl::string_view kMetadataStatusWord = "sw";
inline constexpr absl::string_view kMetadataCommitState = "commit_state";
inline constexpr absl::string_view kMetadataField = "field";
inline constexpr absl::string_view kMetadataReader = "reader";
inline constexpr absl::string_view kMetadataExpectedUid = "expected_uid";
inline constexpr absl::string_view kMetadataUid = "uid";
inline constexpr absl::string_view kMetadataKeyName = "key_name";

// Payloads "type.desfired.dev/metadata/<key>" become ErrorInfo.metadata[<key>].
inline constexpr absl::string_view kMetadataTypeUrlPrefix = "type.desfired.dev/metadata/";

// Reasons of the helpers below (the names of desfired.v1.ErrorReason values).
inline constexpr absl::string_view kReasonInvalidArgument = "INVALID_ARGUMENT";
inline constexpr absl::string_view kReasonCardMismatch = "CARD_MISMATCH";
inline constexpr absl::string_view kReasonKeyNotFound = "KEY_NOT_FOUND";

// Returns `status` with ErrorInfo metadata `key` = `value` attached as a payload (replacing
// an earlier value of the same key). A no-op for an OK status. `key` must match
// [a-zA-Z0-9_-]{1,64}; ToGrpcStatus drops other keys. Never pass key material.
absl::Status WithErrorMetadata(absl::Status status, absl::string_view key, absl::string_view value);

// INVALID_ARGUMENT, reason INVALID_ARGUMENT, metadata "field" = `field` (a dotted path of
// proto field names, e.g. "target.reader"). `message` says what is wrong with it.
absl::Status InvalidFieldError(absl::string_view field, absl::string_view message);

// FAILED_PRECONDITION, reason CARD_MISMATCH, metadata "reader", and "expected_uid" and
// "uid" in lower-case hex: the card on `reader` is not the one the request expected.
absl::Status CardMismatchError(absl::string_view reader, ByteSpan expected_uid,
                               ByteSpan actual_uid);

// FAILED_PRECONDITION, reason KEY_NOT_FOUND, metadata "key_name": the request names a key
// that is not in the server's key store.
absl::Status KeyNotFoundError(absl::string_view key_name);

// The ErrorInfo that ToGrpcStatus sends for `status` (see the top of this file). For an OK
// status: an empty ErrorInfo.
google::rpc::ErrorInfo ToErrorInfo(const absl::Status& status);

// ErrorInfo.reason alone (empty for OK): for logs and metrics.
std::string ReasonOf(const absl::Status& status);

// The conversion. OK stays OK (payloads are dropped); any other status keeps its code and
// message, and its error details are a serialized google.rpc.Status with the same code and
// message and exactly one google.rpc.ErrorInfo (ToErrorInfo).
grpc::Status ToGrpcStatus(const absl::Status& status);

// The ErrorInfo a grpc::Status carries: nullopt unless its details parse as a
// google.rpc.Status holding exactly one google.rpc.ErrorInfo. For tests, logs and clients.
std::optional<google::rpc::ErrorInfo> GetErrorInfo(const grpc::Status& status);

}  // namespace desfired::server

#endif  // DESFIRED_SERVER_STATUS_MAPPING_H_
