// Validation of CardService requests: everything that can be checked without the card, on the
// RPC thread, before a job is queued. One overload per request type.
//
//   DESFIRED_RETURN_IF_ERROR(Validate(request));   // before queuing
//   ...
//   absl::StatusOr<v1::DebitResponse> r = Debit(ctx, request);   // card_ops.h, on the worker
//
// A request that fails gets InvalidFieldError (INVALID_ARGUMENT, reason INVALID_ARGUMENT,
// metadata "field" = the dotted proto path, e.g. "aid", "target.expected_uid",
// "auth.key_name", "settings.record.max_records"; core/apdu/error_metadata.h). The card operations
// (card_ops.h, core/cardops) assume a validated request.
//
// Checked: the target (a reader; an expected UID of 4, 7 or 10 bytes; required by FormatCard),
// the key reference (a name of 1..64 letters, digits, '_', '-', '.'; key numbers 0..13, only 0
// at the card level; a known scheme; required where the call needs a key), aids (24 bits; not 0
// where an application is needed), file numbers (0..31), offsets and lengths (24 bits), write
// data (1..cardops::kMaxWriteBytes bytes), amounts (1..INT32_MAX), communication modes, paging
// (core/cardops/paging.h), request ids (kMaxRequestIdBytes printable ASCII characters), key
// settings, and the settings of a file or application to create (a record file's record_size ×
// max_records within 24 bits, the card's file size field; no negative limited_credit_value).
//
// Thread-safe: pure functions.
#ifndef DESFIRED_SERVER_RPC_CARD_VALIDATION_H_
#define DESFIRED_SERVER_RPC_CARD_VALIDATION_H_

#include <cstddef>

#include "absl/status/status.h"
#include "desfired/v1/card.pb.h"
#include "server/rpc/request_limits.h"

namespace desfired::server {

absl::Status Validate(const v1::GetCardInfoRequest& request);
absl::Status Validate(const v1::ListApplicationsRequest& request);
absl::Status Validate(const v1::ListFilesRequest& request);
absl::Status Validate(const v1::GetFileSettingsRequest& request);
absl::Status Validate(const v1::ReadDataRequest& request);
absl::Status Validate(const v1::WriteDataRequest& request);
absl::Status Validate(const v1::GetValueRequest& request);
absl::Status Validate(const v1::CreditRequest& request);
absl::Status Validate(const v1::DebitRequest& request);
absl::Status Validate(const v1::LimitedCreditRequest& request);
absl::Status Validate(const v1::ReadRecordsRequest& request);
absl::Status Validate(const v1::WriteRecordRequest& request);
absl::Status Validate(const v1::ClearRecordFileRequest& request);
absl::Status Validate(const v1::ReadTapLogRequest& request);
absl::Status Validate(const v1::CommitTransactionRequest& request);
absl::Status Validate(const v1::AbortTransactionRequest& request);
absl::Status Validate(const v1::FormatCardRequest& request);
absl::Status Validate(const v1::CreateApplicationRequest& request);
absl::Status Validate(const v1::DeleteApplicationRequest& request);
absl::Status Validate(const v1::CreateFileRequest& request);
absl::Status Validate(const v1::ChangeFileSettingsRequest& request);
absl::Status Validate(const v1::DeleteFileRequest& request);
absl::Status Validate(const v1::ChangeKeyRequest& request);
absl::Status Validate(const v1::ChangeKeySettingsRequest& request);
absl::Status Validate(const v1::VerifyOriginalityRequest& request);

}  // namespace desfired::server

#endif  // DESFIRED_SERVER_RPC_CARD_VALIDATION_H_
