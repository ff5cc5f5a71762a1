#include "core/cardops/session.h"

#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/apdu/status_payload.h"
#include "core/cardops/errors.h"
#include "core/util/enum_table.h"
#include "core/util/status_macros.h"

namespace desfired::cardops {
namespace {

// Each scheme as a request names it (the API's name, in errors) and as messages tell it.
struct SchemeNames {
  desfire::AuthScheme scheme;
  absl::string_view requested;
  absl::string_view text;
};

constexpr SchemeNames kSchemeNames[] = {
    {desfire::AuthScheme::kNone, "AUTH_SCHEME_UNSPECIFIED", "no"},
    {desfire::AuthScheme::kLegacy, "AUTH_SCHEME_LEGACY", "legacy (0A)"},
    {desfire::AuthScheme::kIso, "AUTH_SCHEME_ISO", "ISO (1A)"},
    {desfire::AuthScheme::kAes, "AUTH_SCHEME_AES", "AES (AA)"},
    {desfire::AuthScheme::kEv2, "AUTH_SCHEME_EV2", "EV2 (71)"},
    {desfire::AuthScheme::kLrp, "AUTH_SCHEME_LRP", "LRP (71)"},
};

const SchemeNames* NamesOf(desfire::AuthScheme scheme) {
  return FirstRow(kSchemeNames, [&](const SchemeNames& n) { return n.scheme == scheme; });
}

// The scheme a request asked for, as the API names it (in errors).
absl::string_view RequestedSchemeName(desfire::AuthScheme scheme) {
  const SchemeNames* names = NamesOf(scheme);
  return names == nullptr ? "AUTH_SCHEME_UNSPECIFIED" : names->requested;
}

// The scheme of the card's session for `scheme` (kNone: the key type's default).
absl::StatusOr<desfire::AuthScheme> SchemeFor(desfire::AuthScheme scheme, crypto::KeyType type) {
  const bool aes = type == crypto::KeyType::kAes128;
  bool fits;
  switch (scheme) {
    case desfire::AuthScheme::kLegacy:
      fits = type == crypto::KeyType::kDes || type == crypto::KeyType::k2Tdea;
      break;
    case desfire::AuthScheme::kIso:
      fits = !aes;
      break;
    case desfire::AuthScheme::kAes:
    case desfire::AuthScheme::kEv2:
    case desfire::AuthScheme::kLrp:
      fits = aes;
      break;
    default:
      return desfire::DefaultScheme(type);
  }
  if (!fits) {
    return InvalidFieldError(
        "auth.scheme", absl::StrCat("a ", crypto::KeyTypeName(type), " key cannot be used with ",
                                    RequestedSchemeName(scheme)));
  }
  return scheme;
}

absl::string_view SchemeName(desfire::AuthScheme scheme) {
  const SchemeNames* names = NamesOf(scheme);
  return names == nullptr ? "unknown" : names->text;
}

}  // namespace

absl::Status Alive(const CardContext& ctx) {
  return ctx.check_alive ? ctx.check_alive() : absl::OkStatus();
}

absl::Status CheckExpectedUid(const CardContext& ctx, const Target& target) {
  if (target.expected_uid.empty()) return absl::OkStatus();
  const ByteSpan expected(target.expected_uid);
  if (expected == ByteSpan(ctx.uid)) return absl::OkStatus();
  return CardMismatchError(ctx.reader, expected, ctx.uid);
}

absl::StatusOr<const keys::Key*> FindKey(const CardContext& ctx, absl::string_view name) {
  const keys::Key* key = ctx.keys != nullptr ? ctx.keys->Find(name) : nullptr;
  if (key == nullptr) return KeyNotFoundError(name);
  return key;
}

absl::StatusOr<KeyChoice> ChooseKey(const CardContext& ctx, const KeyRef& auth) {
  if (auth.name.empty()) return KeyChoice{};
  DESFIRED_ASSIGN_OR_RETURN(const keys::Key* key, FindKey(ctx, auth.name));
  DESFIRED_ASSIGN_OR_RETURN(desfire::AuthScheme scheme, SchemeFor(auth.scheme, key->type));
  return KeyChoice{key, auth.key_no, scheme};
}

bool CanContinue(const CardContext& ctx, uint32_t aid, const KeyChoice& key,
                 const std::optional<FileRef>& file) {
  const SessionMemo& memo = ctx.session;
  desfire::DesfireCard& card = *ctx.card;  // session() is not const
  if (!memo.open || memo.uid != ctx.uid || memo.aid != aid || card.selected_aid() != aid) {
    return false;
  }
  if ((key.key != nullptr ? absl::string_view(key.key->name) : "") != memo.key_name) return false;
  const desfire::Session& session = card.session();
  if (key.key != nullptr) {
    if (key.number != memo.key_number || key.scheme != memo.scheme || !session.authenticated() ||
        session.authenticated_key_no() != key.number || session.scheme() != key.scheme) {
      return false;
    }
  } else if (session.authenticated()) {
    return false;
  }
  if (file.has_value()) {
    auto it = memo.guessed.find(file->no);
    if (it != memo.guessed.end() && (!file->mode.has_value() || *file->mode != it->second)) {
      return false;
    }
  }
  return true;
}

absl::Status Authenticate(CardContext& ctx, uint32_t aid, const KeyChoice& key) {
  absl::Status s;
  if (key.key->in_token() && !key.key->diversify.has_value()) {
    // The card key stays in the token: RndB is decrypted and the answer encrypted there.
    if (key.key->cipher == nullptr) return keys::CardKeyFor(*key.key, ctx.uid, aid).status();
    s = ctx.card->Authenticate(
        key.number, {key.key->type, {}, key.key->version, key.key->cipher.get()}, key.scheme);
  } else {
    DESFIRED_ASSIGN_OR_RETURN(keys::SecretBytes value, keys::CardKeyFor(*key.key, ctx.uid, aid));
    s = ctx.card->Authenticate(key.number, {key.key->type, value.view(), key.key->version},
                               key.scheme);
  }
  if (s.ok() || s.code() == absl::StatusCode::kUnavailable) return s;
  absl::Status out(
      s.code(),
      absl::StrFormat(
          "authenticating as key %d of %s with key '%s' (%s, %s authentication): "
          "%s. The key's value, its type (an AES application takes AES keys, a DES "
          "one DES/3DES keys) or the key number is wrong",
          key.number, aid == 0 ? std::string("the card") : absl::StrFormat("application %06x", aid),
          key.key->name, crypto::KeyTypeName(key.key->type), SchemeName(key.scheme), s.message()));
  s.ForEachPayload(
      [&out](absl::string_view url, const absl::Cord& payload) { out.SetPayload(url, payload); });
  return out;
}

absl::StatusOr<Opened> Begin(CardContext& ctx, const Target& target, uint32_t aid,
                             const KeyRef& auth, const std::optional<FileRef>& file) {
  DESFIRED_RETURN_IF_ERROR(CheckExpectedUid(ctx, target));
  DESFIRED_ASSIGN_OR_RETURN(KeyChoice key, ChooseKey(ctx, auth));
  DESFIRED_RETURN_IF_ERROR(Alive(ctx));
  if (CanContinue(ctx, aid, key, file)) return Opened{aid, key, true};
  ctx.session.Reset();
  DESFIRED_RETURN_IF_ERROR(ctx.card->SelectApplication(aid));
  if (key.key != nullptr) {
    DESFIRED_RETURN_IF_ERROR(Alive(ctx));
    DESFIRED_RETURN_IF_ERROR(Authenticate(ctx, aid, key));
  }
  RememberSession(ctx, aid, key);
  return Opened{aid, key, false};
}

void RememberSession(CardContext& ctx, uint32_t aid, const KeyChoice& key) {
  SessionMemo& memo = ctx.session;
  memo.open = true;
  memo.uid = ctx.uid;
  memo.aid = aid;
  if (key.key != nullptr) {
    memo.key_name = key.key->name;
    memo.key_number = key.number;
    memo.scheme = key.scheme;
  }
}

absl::Status RunOpStatus(CardContext& ctx, absl::FunctionRef<absl::Status()> body) {
  absl::Status status = body();
  if (!status.ok()) ctx.session.Reset();
  return status;
}

void NoteChange(CardContext& ctx, bool commit) { ctx.session.pending = !commit; }

absl::Status WrongFileType(uint8_t file_no, desfire::FileType type, absl::string_view op) {
  return apdu::WithReason(
      absl::FailedPreconditionError(
          absl::StrFormat("%s: file %d is a %s file", op, file_no, desfire::FileTypeName(type))),
      desfire::kReasonWrongFileType);
}

}  // namespace desfired::cardops
