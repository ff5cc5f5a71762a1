// Opening a file for an operation: the session (session.h), then the settings the operation
// works with — the file's own, the file's with the communication mode overridden, or guessed
// when the card will not tell.
//
//   DESFIRED_ASSIGN_OR_RETURN(OpenedFile file, OpenFile(ctx, r.target, r.aid, r.auth, r.file_no,
//                                                       r.comm_mode, {.type = FileType::kValue}));
//   ... ctx.card->GetValue(r.file_no) ...
//   Release(ctx, r.file_no, file.use);
//
// Communication mode override (the comm_mode of ReadData, WriteData, GetValue, Credit, Debit,
// LimitedCredit, ReadRecords, WriteRecord, ReadTapLog). nullopt: the file's mode from
// GetFileSettings (as DesfireCard always does). Otherwise:
//   - when the card answers GetFileSettings, its settings are used with the mode replaced by
//     the override for this call (afterwards the file's real settings are put back in the
//     DesfireCard's cache: Release);
//   - when it refuses (PERMISSION_DENIED, AUTHENTICATION_FAILED or NOT_AUTHENTICATED: an
//   application
//     whose key settings forbid listing without the master key), the session is authenticated
//     again (the card ends it on any error; a transaction left open by earlier calls is lost)
//     and the operation assumes settings built from the request (DesfireCard::AssumeFileSettings):
//     the override mode; every access right = the authenticated key (free access without a
//     key, so the card answers in plain); data writes as a backup file (the commit is then
//     sent, harmless for a standard file); value limits INT32_MIN..INT32_MAX; record files of
//     32-byte tap records for ReadTapLog. The guess stays in the session (SessionMemo::guessed)
//     only for calls that give the same override for that file. ReadRecords needs the real
//     record size and count: it returns the card's refusal instead of guessing (Guess::allowed
//     false). With guessed settings ReadTapLog reads the whole file (an empty file then fails
//     with OUT_OF_RANGE / BOUNDARY_ERROR, as the card answers) and keeps the newest records.
//
// Errors: those of Begin (session.h) and of DesfireCard::GetFileSettings, Authenticate.
//
// Thread-compatible: on the thread that owns the CardContext.
#ifndef DESFIRED_CORE_CARDOPS_FILE_ACCESS_H_
#define DESFIRED_CORE_CARDOPS_FILE_ACCESS_H_

#include <cstdint>
#include <optional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/cardops/context.h"
#include "core/cardops/session.h"
#include "core/cardops/target.h"
#include "core/desfire/card.h"

namespace desfired::cardops {

// How to guess a file's settings when the card will not tell (see the top of the file).
struct Guess {
  bool allowed = true;
  desfire::FileType type = desfire::FileType::kStandardData;
  uint32_t record_size = 0;
};

// The settings an operation works with.
struct FileUse {
  desfire::FileSettings settings = {};
  bool guessed = false;
  std::optional<desfire::FileSettings> restore = {};  // put back in the cache afterwards (Release)
};

// The session and the settings of the file an operation works on.
struct OpenedFile {
  Opened opened = {};
  FileUse use = {};
};

// True for the refusals of GetFileSettings that a guess may stand in for.
bool RefusedListing(const absl::Status& status);

// A listing (`what`: "listing the applications", GetApplicationIDs; "listing the files",
// GetFileIDs) that the card refused with AE (AUTHENTICATION_FAILED) while the session `opened`
// has no key: the request named none, so FAILED_PRECONDITION / NOT_AUTHENTICATED with a hint
// to name one (the desfire_status payload AE is kept). Any other status comes back unchanged,
// so a key the card refused stays PERMISSION_DENIED / AUTHENTICATION_FAILED.
absl::Status ListingNeedsKey(absl::Status status, const Opened& opened, absl::string_view what);

// The settings of `file_no` in the session `opened` for an operation with override `mode`.
// `refresh`: ask the card even when the DesfireCard has the settings cached (a guess this
// session keeps is used as is).
absl::StatusOr<FileUse> UseFile(CardContext& ctx, const Opened& opened, uint8_t file_no,
                                std::optional<desfire::CommMode> mode, const Guess& guess,
                                bool refresh = false);

// Begin + UseFile, with the job checked after each step.
absl::StatusOr<OpenedFile> OpenFile(CardContext& ctx, const Target& target, uint32_t aid,
                                    const KeyRef& auth, uint8_t file_no,
                                    std::optional<desfire::CommMode> mode, const Guess& guess,
                                    bool refresh = false);

// OpenFile for a request with target, aid, auth, file_no and comm_mode.
template <typename Request>
absl::StatusOr<OpenedFile> OpenFileOf(CardContext& ctx, const Request& r, const Guess& guess,
                                      bool refresh = false) {
  return OpenFile(ctx, r.target, r.aid, r.auth, r.file_no, r.comm_mode, guess, refresh);
}

// Puts the file's real settings back in the DesfireCard's cache after an override.
void Release(CardContext& ctx, uint8_t file_no, const FileUse& use);

}  // namespace desfired::cardops

#endif  // DESFIRED_CORE_CARDOPS_FILE_ACCESS_H_
