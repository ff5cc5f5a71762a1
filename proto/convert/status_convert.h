// Status conversion: the one place where an absl::Status of core (or of the server's own
// checks) becomes the grpc::Status a client sees, and where a client turns it back. RPC
// methods never build a grpc::Status themselves; they return ToGrpcStatus(status). The client
// library returns FromGrpcStatus(status) for every failed call.
//
//   absl::Status (core)                          grpc::Status
//   code                                    <─>  code (same number)
//   message                                 <─>  message (as is; core never puts keys in it)
//   payload type.desfired.dev/reason        <─>  details: google.rpc.Status {code, message,
//   payload type.desfired.dev/desfire-status       details: [exactly one google.rpc.ErrorInfo
//   payload type.desfired.dev/iso7816-sw             {reason, domain "desfired.dev",
//   payload type.desfired.dev/commit-state            metadata}]}
//   payloads type.desfired.dev/metadata/<key>
//
// The payloads are those of core/apdu/status_payload.h; the metadata keys are listed in
// core/apdu/error_metadata.h. ErrorInfo (the contract is proto/desfired/v1/errors.proto):
//   reason    the reason payload when it is a valid token ([A-Z0-9_], 1..63 characters);
//             otherwise the name of the code ("INTERNAL", "DEADLINE_EXCEEDED", ...).
//   metadata  "desfire_status": two upper-case hex digits, from the desfire-status payload;
//             "sw": four upper-case hex digits, from the iso7816-sw payload;
//             "commit_state": "NOT_COMMITTED" or "UNKNOWN", from the commit-state payload;
//             <key>: every metadata payload (apdu::WithErrorMetadata), e.g. "field", "reader".
//
// Back (FromGrpcStatus): the same code and message, and when the details hold one ErrorInfo
// with a reason: the reason payload, a metadata payload for every metadata key, and the
// desfire-status, iso7816-sw and commit-state payloads rebuilt from their metadata, so that
// apdu::GetReason, GetDesfireStatus, GetStatusWord, GetCommitState and GetErrorMetadata read
// on the client what they read on the server:
//
//   absl::Status s = FromGrpcStatus(stub->Debit(&context, request, &response));
//   if (apdu::GetReason(s) == "INSUFFICIENT_VALUE") { ... }
//
// A status without ErrorInfo (the server was not reached, a proxy answered, the client's own
// deadline passed) comes back with its code and message and no payload.
//
// Thread-safe: pure functions.
#ifndef DESFIRED_PROTO_CONVERT_STATUS_CONVERT_H_
#define DESFIRED_PROTO_CONVERT_STATUS_CONVERT_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/rpc/error_details.pb.h"
#include "grpcpp/support/status.h"

namespace desfired {

// google.rpc.ErrorInfo.domain of every error.
inline constexpr absl::string_view kErrorDomain = "desfired.dev";

// The conversion. OK stays OK (payloads are dropped); any other status keeps its code and
// message, and its error details are a serialized google.rpc.Status with the same code and
// message and exactly one google.rpc.ErrorInfo (ToErrorInfo).
grpc::Status ToGrpcStatus(const absl::Status& status);

// The inverse of ToGrpcStatus (see the top of this file). OK stays OK.
absl::Status FromGrpcStatus(const grpc::Status& status);

// The ErrorInfo that ToGrpcStatus sends for `status` (see the top of this file). For an OK
// status: an empty ErrorInfo.
google::rpc::ErrorInfo ToErrorInfo(const absl::Status& status);

// The ErrorInfo a grpc::Status carries: nullopt unless its details parse as a
// google.rpc.Status holding exactly one google.rpc.ErrorInfo. For tests, logs and clients.
std::optional<google::rpc::ErrorInfo> GetErrorInfo(const grpc::Status& status);

// ErrorInfo.reason alone (empty for OK): for logs and metrics.
std::string ReasonOf(const absl::Status& status);

}  // namespace desfired

#endif  // DESFIRED_PROTO_CONVERT_STATUS_CONVERT_H_
