// The prologue of every card operation, and the session memo's upkeep: the building blocks the
// operations (card_info.h, data.h, values.h, records.h, tap_log.h, transactions.h, issuing.h)
// are made of.
//
// The prologue, in this order (Begin):
//   1. expected UID: when target.expected_uid is set and differs from ctx.uid, FAILED_PRECONDITION
//      / CARD_MISMATCH (CardMismatchError, errors.h), before any APDU;
//   2. the key: auth.name is looked up in ctx.keys (missing: FAILED_PRECONDITION / KEY_NOT_FOUND,
//      KeyNotFoundError); the key presented to the card is keys::CardKeyFor(key, ctx.uid, aid)
//      (NXP AN10922 when the store diversifies the key; aid 0 at the card level); the scheme is
//      auth.scheme, or desfire::DefaultScheme(key type) when kNone (a key type the scheme cannot
//      use: INVALID_ARGUMENT, field "auth.scheme"). Key bytes never appear in errors;
//   3. the session: the application is selected (aid 0: the card level) and the key
//      authenticated, unless the card's session is already the one asked for (CanContinue; see
//      "Sessions and transactions" in context.h).
// ctx.check_alive is called between card steps (Alive); its error stops the operation and is
// returned. An authentication the card refuses fails with the card's error, its message naming
// what was tried: the key's name, type and scheme (never its value), so that a wrong key, a key
// of the wrong type and a wrong key number can be told apart.
//
//   return RunOp<Bytes>(ctx, [&](Bytes& out) -> absl::Status {
//     DESFIRED_ASSIGN_OR_RETURN(Opened opened, Begin(ctx, r.target, r.aid, r.auth));
//     DESFIRED_RETURN_IF_ERROR(Alive(ctx));
//     ...   // the card calls
//   });
//
// Thread-compatible: on the thread that owns the CardContext.
#ifndef DESFIRED_CORE_CARDOPS_SESSION_H_
#define DESFIRED_CORE_CARDOPS_SESSION_H_

#include <cstdint>
#include <optional>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/cardops/context.h"
#include "core/cardops/target.h"
#include "core/desfire/card.h"
#include "core/keys/key_store.h"

namespace desfired::cardops {

// ctx.check_alive(), or OK when there is none.
absl::Status Alive(const CardContext& ctx);

// Step 1: CARD_MISMATCH when target.expected_uid is set and is not ctx.uid.
absl::Status CheckExpectedUid(const CardContext& ctx, const Target& target);

// The authentication a request asks for.
struct KeyChoice {
  const keys::Key* key = nullptr;  // nullptr: none; points into ctx.keys
  uint8_t number = 0;
  desfire::AuthScheme scheme = desfire::AuthScheme::kNone;
};

// The key `name` of ctx.keys; KEY_NOT_FOUND when there is none (or no store).
absl::StatusOr<const keys::Key*> FindKey(const CardContext& ctx, absl::string_view name);

// Step 2: the key and the scheme `auth` asks for (none when auth.name is empty).
absl::StatusOr<KeyChoice> ChooseKey(const CardContext& ctx, const KeyRef& auth);

// A file an operation works on, with the request's communication mode override (a session with
// a guess for the file continues only for the same override; file_access.h).
struct FileRef {
  uint8_t no = 0;
  std::optional<desfire::CommMode> mode = {};
};

// The session an operation runs in.
struct Opened {
  uint32_t aid = 0;
  KeyChoice key = {};
  bool continued = false;  // the card's session was already the one asked for
};

// True when the card's session is the one asked for: ctx.session is open on ctx.uid, `aid` is
// selected, and the card is authenticated with the same key name, number and scheme (or not
// at all when `key` is none); with `file`, no guess of another mode is kept for it.
bool CanContinue(const CardContext& ctx, uint32_t aid, const KeyChoice& key,
                 const std::optional<FileRef>& file);

// Authenticates `key` (which must not be none) on the selected `aid` (see the top of the file).
absl::Status Authenticate(CardContext& ctx, uint32_t aid, const KeyChoice& key);

// The prologue, steps 1 to 3: continues the card's session or selects `aid` and authenticates,
// and records the new session in ctx.session.
absl::StatusOr<Opened> Begin(CardContext& ctx, const Target& target, uint32_t aid,
                             const KeyRef& auth, const std::optional<FileRef>& file = std::nullopt);

// Records in ctx.session that the card's session is now on `aid` with `key` (step 3 of Begin;
// iso_access.h opens its sessions itself).
void RememberSession(CardContext& ctx, uint32_t aid, const KeyChoice& key);

// Runs `body` on a fresh result; when it fails, ctx.session is reset and its status returned.
template <typename Result>
absl::StatusOr<Result> RunOp(CardContext& ctx, absl::FunctionRef<absl::Status(Result&)> body) {
  Result result{};
  absl::Status status = body(result);
  if (!status.ok()) {
    ctx.session.Reset();
    return status;
  }
  return result;
}
// The same for an operation without a result.
absl::Status RunOpStatus(CardContext& ctx, absl::FunctionRef<absl::Status()> body);

// A change was made with `commit` (CommitTransaction sent) or left open (ctx.session.pending).
void NoteChange(CardContext& ctx, bool commit);

// FAILED_PRECONDITION / WRONG_FILE_TYPE: `op` cannot work on file `file_no` of type `type`.
absl::Status WrongFileType(uint8_t file_no, desfire::FileType type, absl::string_view op);

}  // namespace desfired::cardops

#endif  // DESFIRED_CORE_CARDOPS_SESSION_H_
