#include "core/cardops/file_access.h"

#include <limits>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/apdu/status_payload.h"
#include "core/desfire/status.h"
#include "core/util/status_macros.h"

namespace desfired::cardops {
namespace {

desfire::FileSettings GuessSettings(const Guess& guess, desfire::CommMode mode,
                                    const Opened& opened) {
  desfire::FileSettings s;
  s.type = guess.type;
  s.comm_mode = mode;
  const uint8_t right = opened.key.key != nullptr ? opened.key.number : desfire::kAccessFree;
  s.access = {.read = right, .write = right, .read_write = right, .change = right};
  s.lower_limit = std::numeric_limits<int32_t>::min();
  s.upper_limit = std::numeric_limits<int32_t>::max();
  s.record_size = guess.record_size;
  return s;
}

}  // namespace

bool RefusedListing(const absl::Status& status) {
  return status.code() == absl::StatusCode::kPermissionDenied ||
         apdu::GetReason(status) == std::string(desfire::kReasonAuthenticationFailed) ||
         apdu::GetReason(status) == std::string(desfire::kReasonNotAuthenticated);
}

absl::Status ListingNeedsKey(absl::Status status, const Opened& opened, absl::string_view what) {
  if (opened.key.key != nullptr ||
      apdu::GetReason(status) != std::string(desfire::kReasonAuthenticationFailed)) {
    return status;
  }
  absl::Status out = absl::FailedPreconditionError(
      absl::StrCat(what,
                   " needs a key here and the request named none: name the key in `auth` "
                   "(desfirectl: --key NAME --key-no N; the card master key, key 0, for the "
                   "applications)"));
  status.ForEachPayload(
      [&out](absl::string_view url, const absl::Cord& payload) { out.SetPayload(url, payload); });
  return apdu::WithReason(std::move(out), desfire::kReasonNotAuthenticated);
}

absl::StatusOr<FileUse> UseFile(CardContext& ctx, const Opened& opened, uint8_t file_no,
                                std::optional<desfire::CommMode> mode, const Guess& guess,
                                bool refresh) {
  // Keep the guess an earlier call of this session made (the card would refuse again).
  const bool keep_guess = guess.allowed && ctx.session.guessed.contains(file_no);
  absl::StatusOr<desfire::FileSettings> read =
      ctx.card->GetFileSettings(file_no, refresh && !keep_guess);
  if (!mode.has_value()) {
    if (!read.ok()) return read.status();
    return FileUse{*read, false, std::nullopt};
  }
  const desfire::CommMode override_mode = *mode;
  if (read.ok()) {
    FileUse use{*read, keep_guess, *read};
    use.settings.comm_mode = override_mode;
    ctx.card->AssumeFileSettings(file_no, use.settings);
    return use;
  }
  if (!guess.allowed || !RefusedListing(read.status())) return read.status();
  // The card ended the session with its refusal: authenticate again, then assume.
  DESFIRED_RETURN_IF_ERROR(Alive(ctx));
  if (opened.key.key != nullptr) {
    DESFIRED_RETURN_IF_ERROR(Authenticate(ctx, opened.aid, opened.key));
  }
  ctx.session.pending = false;
  FileUse use{GuessSettings(guess, override_mode, opened), true, std::nullopt};
  ctx.card->AssumeFileSettings(file_no, use.settings);
  ctx.session.guessed[file_no] = override_mode;
  return use;
}

absl::StatusOr<OpenedFile> OpenFile(CardContext& ctx, const Target& target, uint32_t aid,
                                    const KeyRef& auth, uint8_t file_no,
                                    std::optional<desfire::CommMode> mode, const Guess& guess,
                                    bool refresh) {
  DESFIRED_ASSIGN_OR_RETURN(Opened opened, Begin(ctx, target, aid, auth, FileRef{file_no, mode}));
  DESFIRED_RETURN_IF_ERROR(Alive(ctx));
  DESFIRED_ASSIGN_OR_RETURN(FileUse use, UseFile(ctx, opened, file_no, mode, guess, refresh));
  DESFIRED_RETURN_IF_ERROR(Alive(ctx));
  return OpenedFile{opened, std::move(use)};
}

void Release(CardContext& ctx, uint8_t file_no, const FileUse& use) {
  if (use.restore.has_value()) ctx.card->AssumeFileSettings(file_no, *use.restore);
}

}  // namespace desfired::cardops
