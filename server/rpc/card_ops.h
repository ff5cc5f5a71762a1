// Card operations: the gRPC-free layer that carries out each CardService request on the card of
// one reader. The service is a thin shell around it:
//
//   RPC thread                                   the reader's worker thread
//   Validate(request)  ── INVALID_ARGUMENT ──▶   (nothing queued)
//   queue a job ─────────────────────────────▶   Debit(ctx, request) ──▶ response or status
//   ToGrpcStatus(status) ◀───────────────────────────────────────────────┘ (core's, unchanged)
//
//   DESFIRED_RETURN_IF_ERROR(Validate(request));                   // before queuing
//   ...
//   absl::StatusOr<v1::DebitResponse> r = Debit(*ctx, request);   // on the worker
//
// Validate. One overload per request type. It checks everything that can be checked without
// the card and fails with InvalidFieldError (INVALID_ARGUMENT, reason INVALID_ARGUMENT, metadata
// "field" = the dotted proto path, e.g. "aid", "target.expected_uid", "auth.key_name",
// "settings.record.max_records"). The operations assume a validated request.
//
// The prologue of every operation on a card, in this order:
//   1. expected UID: when target.expected_uid is set and differs from ctx.uid, FAILED_PRECONDITION
//      / CARD_MISMATCH (CardMismatchError), before any APDU;
//   2. the key: auth.key_name is looked up in ctx.keys (missing: FAILED_PRECONDITION /
//      KEY_NOT_FOUND); the key presented to the card is keys::CardKeyFor(key, ctx.uid, aid)
//      (NXP AN10922 when the store diversifies the key; aid 0 at the card level); the scheme is
//      auth.scheme, or desfire::DefaultScheme(key type) when unspecified (a key type the scheme
//      cannot use: INVALID_ARGUMENT, field auth.scheme). Key bytes never appear in errors;
//   3. the session: the application is selected (aid 0: the card level) and the key
//      authenticated, unless the card's session is already the one asked for (see "Sessions
//      and transactions").
// ctx.check_alive is called between card steps; its error stops the operation and is returned.
//
// Sessions and transactions. ctx.session remembers what the card's session was opened with. A
// call on the same card, application, key name, key number and scheme continues that session
// (no SelectApplication, no authentication), so changes a call left open with defer_commit are
// still there for the next call and for CommitTransaction / AbortTransaction. Anything else
// selects again, which discards an open transaction, as card.proto says. Any failed operation
// resets ctx.session (the worker also aborts an open transaction after a failed job), so the
// next call starts afresh. CommitTransaction answers `committed = false` without touching the
// card when the session it names is not the current one or no change is pending.
//
// Communication mode override (communication_mode in ReadData, WriteData, GetValue, Credit,
// Debit, LimitedCredit, ReadRecords, WriteRecord, ReadTapLog). UNSPECIFIED: the file's mode from
// GetFileSettings (as DesfireCard always does). Otherwise:
//   - when the card answers GetFileSettings, its settings are used with the mode replaced by
//     the override for this call (afterwards the file's real settings are put back in the
//     DesfireCard's cache);
//   - when it refuses (PERMISSION_DENIED, UNAUTHENTICATED or NOT_AUTHENTICATED: an application
//     whose key settings forbid listing without the master key), the session is authenticated
//     again (the card ends it on any error; a transaction left open by earlier calls is lost)
//     and the operation assumes settings built from the request (DesfireCard::AssumeFileSettings):
//     the override mode; every access right = the authenticated key (free access without a
//     key, so the card answers in plain); data writes as a backup file (the commit is then
//     sent, harmless for a standard file); value limits INT32_MIN..INT32_MAX; record files of
//     32-byte tap records for ReadTapLog. The guess stays in the session only for calls that
//     give the same override for that file. ReadRecords needs the real record size and count:
//     it returns the card's refusal instead of guessing. With guessed settings ReadTapLog reads
//     the whole file (an empty file then fails with OUT_OF_RANGE / BOUNDARY_ERROR, as the card
//     answers) and keeps the newest max_records.
//
// Value changes (Credit, Debit, LimitedCredit): ValueChange.committed = !defer_commit;
// value_before is read with GetValue when the file's access rights let the session read the
// value (a right that is free or names the authenticated key, or free GetValue); value_after
// likewise after a committed change. A failed read after the change is not an error of the call
// (the change is committed): value_after is then left unset.
//
// Paging (ListApplications, ListFiles, ReadRecords): page_size 0 means kDefaultPageSize, larger
// than kMaxPageSize means kMaxPageSize; page_token is the decimal position of the first item
// (opaque to clients; it is what next_page_token held), empty on the first page.
//
// Errors: core's statuses are returned unchanged (the service maps them with ToGrpcStatus in one
// place); the server's own checks use the helpers of core/apdu/error_metadata.h. Besides those
// of the prologue, an operation returns what the DesfireCard methods it calls return
// (core/desfire/card.h), and:
//   FAILED_PRECONDITION / WRONG_FILE_TYPE  ReadRecords / ReadTapLog on a file that is not a
//                                          record file (as DesfireCard does for the others)
//   INVALID_ARGUMENT (field new_key_name / old_key_name)  ChangeKey with a key whose type does
//                                          not suit the application's key family
//
// Thread-compatible: the operations run on the worker thread that owns the CardContext.
#ifndef DESFIRED_SERVER_RPC_CARD_OPS_H_
#define DESFIRED_SERVER_RPC_CARD_OPS_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/desfire/card.h"
#include "core/keys/key_store.h"
#include "core/tap/pipeline.h"
#include "core/util/bytes.h"
#include "desfired/v1/card.pb.h"

namespace desfired::server {

// Page size when a request gives 0, and the largest page a request gets.
inline constexpr int32_t kDefaultPageSize = 100;
inline constexpr int32_t kMaxPageSize = 1000;
// Most bytes one WriteData or WriteRecord request may carry (the card takes them in 54-byte
// frames; 8 KiB is the whole user memory of an 8K card).
inline constexpr size_t kMaxWriteBytes = 8 * 1024;
// Longest request_id (card.proto: up to 128 printable ASCII characters).
inline constexpr size_t kMaxRequestIdLength = 128;

// What the card's current session was opened with by these operations (see "Sessions and
// transactions" above). Kept in the CardContext; the operations maintain it.
struct SessionMemo {
  bool open = false;  // the fields below describe the card's session
  Bytes uid;
  uint32_t aid = 0;
  std::string key_name;  // empty: not authenticated
  uint8_t key_number = 0;
  desfire::AuthScheme scheme = desfire::AuthScheme::kNone;
  bool pending = false;  // a change made with defer_commit waits for CommitTransaction
  // Files whose settings were guessed from an override (file number -> the mode assumed).
  absl::flat_hash_map<uint8_t, desfire::CommMode> guessed;

  void Reset() { *this = SessionMemo(); }
};

// A value change about to be committed (CardContext::before_commit).
struct PendingValue {
  std::optional<int32_t> value_before;    // when the session could read it
  std::optional<int32_t> expected_after;  // value_before ± amount
};

// What an operation works with. The worker keeps one per connected card (like the DesfireCard)
// and refreshes uid, atr and check_alive for every job; `session` must survive between jobs on
// the same DesfireCard for defer_commit to work (a fresh CardContext is safe: calls then never
// continue a session).
struct CardContext {
  desfire::DesfireCard* card = nullptr;  // borrowed; over the connected card
  Bytes uid;                             // as the reader reports it (FF CA): 7 or 4 bytes
  Bytes atr;
  std::string reader;
  const keys::KeyStore* keys = nullptr;  // borrowed; nullptr: every key name is KEY_NOT_FOUND
  // ReadTapLog parses with this (the configuration TapService.ParseTaps uses). nullptr: default
  // parser and reconciler options with `keys`.
  const tap::TapPipelineConfig* taps = nullptr;
  // Called between card steps; a non-OK status (deadline passed, client gone, shutdown) stops
  // the operation and is returned. May be empty.
  std::function<absl::Status()> check_alive;
  // Credit, Debit and LimitedCredit call this after the card accepted the change and before
  // CommitTransaction is sent (not with defer_commit). A non-OK status aborts the change: the
  // call fails with it, commit state NOT_COMMITTED. May be empty. (The ledger's PENDING row.)
  std::function<absl::Status(const PendingValue&)> before_commit;
  SessionMemo session;
};

// --- Validation (RPC thread, before queuing) ----------------------------------------------

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
absl::Status Validate(const v1::DeleteFileRequest& request);
absl::Status Validate(const v1::ChangeKeyRequest& request);
absl::Status Validate(const v1::ChangeKeySettingsRequest& request);

// --- Operations (worker thread) ------------------------------------------------------------

// Card level. GetCardInfo: the UID from GetCardUID when authenticated (not with the legacy
// scheme), else from GetVersion; random_uid when the reader's UID is a 4-byte random id (08..),
// GetVersion shows an all-zero UID, or GetCardUID differs from it; key settings, master key
// family and aids are left unset (aids_listed false) when the card refuses GetKeySettings.
absl::StatusOr<v1::GetCardInfoResponse> GetCardInfo(CardContext& ctx,
                                                    const v1::GetCardInfoRequest& request);
// ISO DF ids and names come from GetDFNames (a card without the command lists none).
absl::StatusOr<v1::ListApplicationsResponse> ListApplications(
    CardContext& ctx, const v1::ListApplicationsRequest& request);
// FileEntry.iso_file_id is not filled (GetISOFileIDs does not say which file has which id).
absl::StatusOr<v1::ListFilesResponse> ListFiles(CardContext& ctx,
                                                const v1::ListFilesRequest& request);
// Asks the card (never the session's cache).
absl::StatusOr<v1::GetFileSettingsResponse> GetFileSettings(
    CardContext& ctx, const v1::GetFileSettingsRequest& request);

// Data files.
absl::StatusOr<v1::ReadDataResponse> ReadData(CardContext& ctx, const v1::ReadDataRequest& request);
absl::StatusOr<v1::WriteDataResponse> WriteData(CardContext& ctx,
                                                const v1::WriteDataRequest& request);

// Value files.
absl::StatusOr<v1::GetValueResponse> GetValue(CardContext& ctx, const v1::GetValueRequest& request);
absl::StatusOr<v1::CreditResponse> Credit(CardContext& ctx, const v1::CreditRequest& request);
absl::StatusOr<v1::DebitResponse> Debit(CardContext& ctx, const v1::DebitRequest& request);
absl::StatusOr<v1::LimitedCreditResponse> LimitedCredit(CardContext& ctx,
                                                        const v1::LimitedCreditRequest& request);

// Record files. ReadRecords: newest first, `offset` counted from the newest record, the count
// from fresh file settings.
absl::StatusOr<v1::ReadRecordsResponse> ReadRecords(CardContext& ctx,
                                                    const v1::ReadRecordsRequest& request);
absl::StatusOr<v1::WriteRecordResponse> WriteRecord(CardContext& ctx,
                                                    const v1::WriteRecordRequest& request);
absl::StatusOr<v1::ClearRecordFileResponse> ClearRecordFile(
    CardContext& ctx, const v1::ClearRecordFileRequest& request);
// The records oldest first, each through one tap::TapPipeline built from ctx.taps (INVALID_ARGUMENT
// when the configuration cannot be prepared), converted with ToProto (proto/convert).
absl::StatusOr<v1::ReadTapLogResponse> ReadTapLog(CardContext& ctx,
                                                  const v1::ReadTapLogRequest& request);

// Transactions (see "Sessions and transactions").
absl::StatusOr<v1::CommitTransactionResponse> CommitTransaction(
    CardContext& ctx, const v1::CommitTransactionRequest& request);
absl::StatusOr<v1::AbortTransactionResponse> AbortTransaction(
    CardContext& ctx, const v1::AbortTransactionRequest& request);

// Issuing cards.
absl::StatusOr<v1::FormatCardResponse> FormatCard(CardContext& ctx,
                                                  const v1::FormatCardRequest& request);
absl::StatusOr<v1::CreateApplicationResponse> CreateApplication(
    CardContext& ctx, const v1::CreateApplicationRequest& request);
// With a key: authenticates at the card level first (the card master key); when the card
// rejects the key (AUTHENTICATION_FAILED), selects the application and authenticates there (its
// master key), since the request does not say which of the two it names.
absl::StatusOr<v1::DeleteApplicationResponse> DeleteApplication(
    CardContext& ctx, const v1::DeleteApplicationRequest& request);
absl::StatusOr<v1::CreateFileResponse> CreateFile(CardContext& ctx,
                                                  const v1::CreateFileRequest& request);
absl::StatusOr<v1::DeleteFileResponse> DeleteFile(CardContext& ctx,
                                                  const v1::DeleteFileRequest& request);
// The new (and old) key come from the store, diversified for `aid` when the store says so; the
// new key's store version is written as the key version. The session ends afterwards.
absl::StatusOr<v1::ChangeKeyResponse> ChangeKey(CardContext& ctx,
                                                const v1::ChangeKeyRequest& request);
absl::StatusOr<v1::ChangeKeySettingsResponse> ChangeKeySettings(
    CardContext& ctx, const v1::ChangeKeySettingsRequest& request);

}  // namespace desfired::server

#endif  // DESFIRED_SERVER_RPC_CARD_OPS_H_
