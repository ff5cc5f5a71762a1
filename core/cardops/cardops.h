// Card operations: what desfired does on the card of one reader for each card request, as plain
// C++ over a DesfireCard — no gRPC, no protos. The server (server/rpc/card_ops.h) translates
// each desfired.v1 request into the request struct of one of these functions and the result
// back; everything between (which session, which key, which file settings, what is committed)
// is decided here.
//
//   RPC thread (server)                          the reader's worker thread
//   Validate(v1 request) ── INVALID_ARGUMENT ─▶  (nothing queued)
//   queue a job ────────────────────────────────▶ v1 request → cardops request
//                                                 cardops::Debit(ctx, request)   ◀── here
//                                                 cardops result → v1 response
//
// The parts, one per header:
//   context.h       CardContext (what an operation works with), SessionMemo, PendingValue;
//                   sessions and transactions
//   target.h        Target (the card, the expected-UID guard) and KeyRef (a key by name)
//   session.h       the prologue: expected UID, the key and its scheme, the session
//   file_access.h   a file's settings, with the communication mode override and guessing
//   paging.h        page sizes and page tokens
//   errors.h        the errors of the operations' own checks (reason and metadata payloads)
//   card_info.h     GetCardInfo, ListApplications
//   file_info.h     ListFiles, GetFileSettings
//   data.h          ReadData, WriteData
//   values.h        GetValue, Credit, Debit, LimitedCredit (with the values before and after)
//   records.h       ReadRecords (newest first), WriteRecord, ClearRecordFile
//   tap_log.h       ReadTapLog (the records through the tap pipeline)
//   transactions.h  CommitTransaction, AbortTransaction
//   originality.h   VerifyOriginality (GetVersion, ReadSig, the ECDSA check)
//   issuing.h       FormatCard, Create/DeleteApplication, Create/DeleteFile, ChangeKey,
//                   ChangeKeySettings
//
// Errors: core's statuses are returned unchanged (the server maps them in one place); the
// operations' own checks build theirs with errors.h. Each header lists what its operations
// add to the prologue's errors (session.h). The operations assume a request the server has
// validated (ranges, lengths, names); they check what needs the card or the key store.
//
// Thread-compatible: every operation runs on the one thread that owns the CardContext.
#ifndef DESFIRED_CORE_CARDOPS_CARDOPS_H_
#define DESFIRED_CORE_CARDOPS_CARDOPS_H_

#include "core/cardops/card_info.h"     // IWYU pragma: export
#include "core/cardops/context.h"       // IWYU pragma: export
#include "core/cardops/data.h"          // IWYU pragma: export
#include "core/cardops/errors.h"        // IWYU pragma: export
#include "core/cardops/file_info.h"     // IWYU pragma: export
#include "core/cardops/issuing.h"       // IWYU pragma: export
#include "core/cardops/originality.h"   // IWYU pragma: export
#include "core/cardops/paging.h"        // IWYU pragma: export
#include "core/cardops/records.h"       // IWYU pragma: export
#include "core/cardops/tap_log.h"       // IWYU pragma: export
#include "core/cardops/target.h"        // IWYU pragma: export
#include "core/cardops/transactions.h"  // IWYU pragma: export
#include "core/cardops/values.h"        // IWYU pragma: export

#endif  // DESFIRED_CORE_CARDOPS_CARDOPS_H_
