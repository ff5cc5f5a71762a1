// The ErrorInfo metadata keys of desfired's errors, in one list, and the errors that name a
// request field, a card or a key (what the server's own checks return). Like every core
// error they are plain absl::Status with payloads (status_payload.h); the converter
// (proto/convert/status_convert.h) turns them into google.rpc.ErrorInfo and back.
//
//   if (request.target().reader().empty()) {
//     return InvalidFieldError("target.reader", "a reader name is required");
//   }
//   status = WithErrorMetadata(std::move(status), kMetadataReader, reader);
//
// Metadata keys (proto/desfired/v1/errors.proto documents the ones a client sees):
//   kMetadataDesfireStatus  "desfire_status"  filled from the DESFire status payload
//   kMetadataStatusWord     "sw"              filled from the ISO/IEC 7816-4 SW payload
//   kMetadataCommitState    "commit_state"    filled from the commit-state payload
//   kMetadataField          "field"           INVALID_ARGUMENT: the request field at fault
//   kMetadataReader         "reader"          the reader the error is about
//   kMetadataExpectedUid    "expected_uid"    CARD_MISMATCH: the UID the request expected
//   kMetadataUid            "uid"             the UID of the card in the field
//   kMetadataKeyName        "key_name"        KEY_NOT_FOUND, KEY_ROLE_DENIED: the key name (never
//                                             key bytes)
//   kMetadataKeyUse         "key_use"         KEY_ROLE_DENIED: how the request would use the key
//   kMetadataRole           "role"            ROLE_DENIED, KEY_ROLE_DENIED: the caller's role
//   kMetadataRequired       "required"        ROLE_DENIED: the role the method needs
//   kMetadataLedgerSeq      "ledger_seq"      the ledger row of a recorded change
//   kMetadataRequestId      "request_id"      (client side) the request_id of a failed change
//   kMetadataLimit          "limit"           RESOURCE_EXHAUSTED: the server limit (its flag)
//   kMetadataMax            "max"             RESOURCE_EXHAUSTED: that limit's value
//   kMetadataChunk          "chunk"           a stream's request message at fault (0-based)
//
// Thread-safe: constants and pure functions.
#ifndef DESFIRED_CORE_APDU_ERROR_METADATA_H_
#define DESFIRED_CORE_APDU_ERROR_METADATA_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "core/util/bytes.h"

namespace desfired::apdu {

inline constexpr absl::string_view kMetadataDesfireStatus = "desfire_status";
inline constexpr absl::string_view kMetadataStatusWord = "sw";
inline constexpr absl::string_view kMetadataCommitState = "commit_state";
inline constexpr absl::string_view kMetadataField = "field";
inline constexpr absl::string_view kMetadataReader = "reader";
inline constexpr absl::string_view kMetadataExpectedUid = "expected_uid";
inline constexpr absl::string_view kMetadataUid = "uid";
inline constexpr absl::string_view kMetadataKeyName = "key_name";
inline constexpr absl::string_view kMetadataKeyUse = "key_use";
inline constexpr absl::string_view kMetadataRole = "role";
inline constexpr absl::string_view kMetadataRequired = "required";
inline constexpr absl::string_view kMetadataLedgerSeq = "ledger_seq";
inline constexpr absl::string_view kMetadataRequestId = "request_id";
inline constexpr absl::string_view kMetadataLimit = "limit";
inline constexpr absl::string_view kMetadataMax = "max";
inline constexpr absl::string_view kMetadataChunk = "chunk";

// Reasons of the errors below (the names of desfired.v1.ErrorReason values).
inline constexpr absl::string_view kReasonInvalidArgument = "INVALID_ARGUMENT";
inline constexpr absl::string_view kReasonCardMismatch = "CARD_MISMATCH";
inline constexpr absl::string_view kReasonKeyNotFound = "KEY_NOT_FOUND";

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

}  // namespace desfired::apdu

#endif  // DESFIRED_CORE_APDU_ERROR_METADATA_H_
