// The card operations of CardService, in desfired.v1 terms: each function turns a (validated)
// request into the request of the core card operation (core/cardops/cardops.h), runs it on the
// CardContext and turns its result into the response. Nothing is decided here; the policy —
// sessions and transactions, keys and schemes, the communication mode override, value
// read-backs, paging — is core/cardops's, the conversions of DESFire types are
// proto/convert/card_convert.h's. The service is a thin shell around these:
//
//   RPC thread                                   the reader's worker thread
//   Validate(request)  ── INVALID_ARGUMENT ──▶   (nothing queued)       (card_validation.h)
//   queue a job ─────────────────────────────▶   Debit(ctx, request) ──▶ response or status
//   ToGrpcStatus(status) ◀───────────────────────────────────────────────┘ (core's, unchanged)
//
//   DESFIRED_RETURN_IF_ERROR(Validate(request));                   // before queuing
//   ...
//   absl::StatusOr<v1::DebitResponse> r = Debit(*ctx, request);   // on the worker
//
// Request fields map one to one onto the core requests: target → cardops::Target, auth →
// cardops::KeyRef (unset or an empty key name: no key), communication_mode UNSPECIFIED → no
// override. Errors are those of the core operations, unchanged (the service maps them with
// ToGrpcStatus in one place); CreateFile of a file type that has no core counterpart (never a
// validated request) fails with INVALID_ARGUMENT, field settings.file_type.
//
// Thread-compatible: the operations run on the worker thread that owns the CardContext.
#ifndef DESFIRED_SERVER_RPC_CARD_OPS_H_
#define DESFIRED_SERVER_RPC_CARD_OPS_H_

#include "absl/status/statusor.h"
#include "core/cardops/context.h"
#include "desfired/v1/card.pb.h"

namespace desfired::server {

// Card level (core/cardops/card_info.h, file_info.h).
absl::StatusOr<v1::GetCardInfoResponse> GetCardInfo(cardops::CardContext& ctx,
                                                    const v1::GetCardInfoRequest& request);
absl::StatusOr<v1::ListApplicationsResponse> ListApplications(
    cardops::CardContext& ctx, const v1::ListApplicationsRequest& request);
// FileEntry.iso_file_id is not filled.
absl::StatusOr<v1::ListFilesResponse> ListFiles(cardops::CardContext& ctx,
                                                const v1::ListFilesRequest& request);
absl::StatusOr<v1::GetFileSettingsResponse> GetFileSettings(
    cardops::CardContext& ctx, const v1::GetFileSettingsRequest& request);

// Data files (core/cardops/data.h).
absl::StatusOr<v1::ReadDataResponse> ReadData(cardops::CardContext& ctx,
                                              const v1::ReadDataRequest& request);
absl::StatusOr<v1::WriteDataResponse> WriteData(cardops::CardContext& ctx,
                                                const v1::WriteDataRequest& request);

// Value files (core/cardops/values.h). ValueChange.replayed stays false (the service sets it).
absl::StatusOr<v1::GetValueResponse> GetValue(cardops::CardContext& ctx,
                                              const v1::GetValueRequest& request);
absl::StatusOr<v1::CreditResponse> Credit(cardops::CardContext& ctx,
                                          const v1::CreditRequest& request);
absl::StatusOr<v1::DebitResponse> Debit(cardops::CardContext& ctx, const v1::DebitRequest& request);
absl::StatusOr<v1::LimitedCreditResponse> LimitedCredit(cardops::CardContext& ctx,
                                                        const v1::LimitedCreditRequest& request);

// Record files (core/cardops/records.h, tap_log.h; the tap results through
// proto/convert/tap_convert.h).
absl::StatusOr<v1::ReadRecordsResponse> ReadRecords(cardops::CardContext& ctx,
                                                    const v1::ReadRecordsRequest& request);
absl::StatusOr<v1::WriteRecordResponse> WriteRecord(cardops::CardContext& ctx,
                                                    const v1::WriteRecordRequest& request);
absl::StatusOr<v1::ClearRecordFileResponse> ClearRecordFile(
    cardops::CardContext& ctx, const v1::ClearRecordFileRequest& request);
absl::StatusOr<v1::ReadTapLogResponse> ReadTapLog(cardops::CardContext& ctx,
                                                  const v1::ReadTapLogRequest& request);

// Transactions (core/cardops/transactions.h).
absl::StatusOr<v1::CommitTransactionResponse> CommitTransaction(
    cardops::CardContext& ctx, const v1::CommitTransactionRequest& request);
absl::StatusOr<v1::AbortTransactionResponse> AbortTransaction(
    cardops::CardContext& ctx, const v1::AbortTransactionRequest& request);

// Issuing cards (core/cardops/issuing.h).
absl::StatusOr<v1::FormatCardResponse> FormatCard(cardops::CardContext& ctx,
                                                  const v1::FormatCardRequest& request);
absl::StatusOr<v1::CreateApplicationResponse> CreateApplication(
    cardops::CardContext& ctx, const v1::CreateApplicationRequest& request);
absl::StatusOr<v1::DeleteApplicationResponse> DeleteApplication(
    cardops::CardContext& ctx, const v1::DeleteApplicationRequest& request);
absl::StatusOr<v1::CreateFileResponse> CreateFile(cardops::CardContext& ctx,
                                                  const v1::CreateFileRequest& request);
absl::StatusOr<v1::ChangeFileSettingsResponse> ChangeFileSettings(
    cardops::CardContext& ctx, const v1::ChangeFileSettingsRequest& request);
absl::StatusOr<v1::DeleteFileResponse> DeleteFile(cardops::CardContext& ctx,
                                                  const v1::DeleteFileRequest& request);
absl::StatusOr<v1::ChangeKeyResponse> ChangeKey(cardops::CardContext& ctx,
                                                const v1::ChangeKeyRequest& request);
absl::StatusOr<v1::ChangeKeySettingsResponse> ChangeKeySettings(
    cardops::CardContext& ctx, const v1::ChangeKeySettingsRequest& request);
absl::StatusOr<v1::VerifyOriginalityResponse> VerifyOriginality(
    cardops::CardContext& ctx, const v1::VerifyOriginalityRequest& request);

}  // namespace desfired::server

#endif  // DESFIRED_SERVER_RPC_CARD_OPS_H_
