#include "core/cardops/issuing.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "core/apdu/status_payload.h"
#include "core/cardops/errors.h"
#include "core/cardops/session.h"
#include "core/desfire/status.h"
#include "core/keys/key_store.h"
#include "core/util/status_macros.h"

namespace desfired::cardops {
namespace {

using desfire::FileType;

// A key from the store for ChangeKey: its family must be the application's (the family of the
// key the session authenticated with); any type at the card level.
absl::StatusOr<const keys::Key*> FindChangeKey(const CardContext& ctx, absl::string_view field,
                                               const std::string& name, const Opened& opened) {
  DESFIRED_ASSIGN_OR_RETURN(const keys::Key* key, FindKey(ctx, name));
  const desfire::KeyFamily app_family = desfire::FamilyOf(opened.key.key->type);
  if (opened.aid != 0 && desfire::FamilyOf(key->type) != app_family) {
    return InvalidFieldError(
        field, absl::StrCat("a ", crypto::KeyTypeName(key->type), " key does not suit the ",
                            desfire::KeyFamilyName(app_family), " keys of the application"));
  }
  return key;
}

}  // namespace

absl::Status FormatCard(CardContext& ctx, const FormatCardRequest& request) {
  return RunOpStatus(ctx, [&]() -> absl::Status {
    DESFIRED_RETURN_IF_ERROR(Begin(ctx, request.target, 0, request.auth).status());
    DESFIRED_RETURN_IF_ERROR(Alive(ctx));
    DESFIRED_RETURN_IF_ERROR(ctx.card->FormatPicc());
    ctx.session.guessed.clear();
    return absl::OkStatus();
  });
}

absl::Status CreateApplication(CardContext& ctx, const CreateApplicationRequest& request) {
  return RunOpStatus(ctx, [&]() -> absl::Status {
    DESFIRED_RETURN_IF_ERROR(Begin(ctx, request.target, 0, request.auth).status());
    DESFIRED_RETURN_IF_ERROR(Alive(ctx));
    return ctx.card->CreateApplication(request.application);
  });
}

absl::Status DeleteApplication(CardContext& ctx, const DeleteApplicationRequest& request) {
  return RunOpStatus(ctx, [&]() -> absl::Status {
    absl::StatusOr<Opened> opened = Begin(ctx, request.target, 0, request.auth);
    if (!opened.ok() &&
        apdu::GetReason(opened.status()) == std::string(desfire::kReasonAuthenticationFailed)) {
      // Not the card master key: perhaps the application's.
      DESFIRED_RETURN_IF_ERROR(Alive(ctx));
      opened = Begin(ctx, request.target, request.aid, request.auth);
    }
    DESFIRED_RETURN_IF_ERROR(opened.status());
    DESFIRED_RETURN_IF_ERROR(Alive(ctx));
    DESFIRED_RETURN_IF_ERROR(ctx.card->DeleteApplication(request.aid));
    if (opened->aid != 0) ctx.session.Reset();  // the card is back at the card level
    return absl::OkStatus();
  });
}

absl::Status CreateFile(CardContext& ctx, const CreateFileRequest& request) {
  return RunOpStatus(ctx, [&]() -> absl::Status {
    const uint8_t file_no = request.file_no;
    DESFIRED_RETURN_IF_ERROR(Begin(ctx, request.target, request.aid, request.auth).status());
    DESFIRED_RETURN_IF_ERROR(Alive(ctx));
    const desfire::FileSettings& s = request.settings;
    ctx.session.guessed.erase(file_no);
    switch (s.type) {
      case FileType::kStandardData:
      case FileType::kBackupData:
        DESFIRED_RETURN_IF_ERROR(
            ctx.card->CreateDataFile({.file_no = file_no,
                                      .backup = s.type == FileType::kBackupData,
                                      .iso_file_id = request.iso_file_id,
                                      .comm_mode = s.comm_mode,
                                      .access = s.access,
                                      .size = s.file_size,
                                      .sdm = s.sdm.has_value()}));
        if (!s.sdm.has_value()) return absl::OkStatus();
        return ctx.card->ChangeFileSettings(file_no, s.comm_mode, s.access, *s.sdm);
      case FileType::kValue:
        return ctx.card->CreateValueFile({.file_no = file_no,
                                          .comm_mode = s.comm_mode,
                                          .access = s.access,
                                          .lower_limit = s.lower_limit,
                                          .upper_limit = s.upper_limit,
                                          .value = request.initial_value,
                                          .limited_credit_enabled = s.limited_credit_enabled,
                                          .free_get_value = s.free_get_value});
      case FileType::kLinearRecord:
      case FileType::kCyclicRecord:
        return ctx.card->CreateRecordFile({.file_no = file_no,
                                           .cyclic = s.type == FileType::kCyclicRecord,
                                           .iso_file_id = request.iso_file_id,
                                           .comm_mode = s.comm_mode,
                                           .access = s.access,
                                           .record_size = s.record_size,
                                           .max_records = s.max_records});
      case FileType::kTransactionMac: {
        if (request.tmac_key_name.empty()) {
          return InvalidFieldError("tmac_key", "a TransactionMAC file needs its key's name");
        }
        DESFIRED_ASSIGN_OR_RETURN(const keys::Key* key, FindKey(ctx, request.tmac_key_name));
        if (key->type != crypto::KeyType::kAes128) {
          return InvalidFieldError("tmac_key", "the Transaction MAC key is an AES-128 key");
        }
        DESFIRED_ASSIGN_OR_RETURN(keys::SecretBytes value,
                                  keys::CardKeyFor(*key, ctx.uid, request.aid));
        return ctx.card->CreateTransactionMacFile({.file_no = file_no,
                                                   .comm_mode = s.comm_mode,
                                                   .access = s.access,
                                                   .key = value.view(),
                                                   .key_version = s.tmac_key_version});
      }
    }
    return InvalidFieldError("settings.file_type", "CreateFile cannot create this file type");
  });
}

absl::Status ChangeFileSettings(CardContext& ctx, const ChangeFileSettingsRequest& request) {
  return RunOpStatus(ctx, [&]() -> absl::Status {
    DESFIRED_RETURN_IF_ERROR(Begin(ctx, request.target, request.aid, request.auth).status());
    DESFIRED_RETURN_IF_ERROR(Alive(ctx));
    ctx.session.guessed.erase(request.file_no);
    if (request.sdm.has_value()) {
      return ctx.card->ChangeFileSettings(request.file_no, request.mode, request.access,
                                          *request.sdm);
    }
    return ctx.card->ChangeFileSettings(request.file_no, request.mode, request.access);
  });
}

absl::Status DeleteFile(CardContext& ctx, const DeleteFileRequest& request) {
  return RunOpStatus(ctx, [&]() -> absl::Status {
    DESFIRED_RETURN_IF_ERROR(Begin(ctx, request.target, request.aid, request.auth).status());
    DESFIRED_RETURN_IF_ERROR(Alive(ctx));
    ctx.session.guessed.erase(request.file_no);
    return ctx.card->DeleteFile(request.file_no);
  });
}

absl::Status ChangeKey(CardContext& ctx, const ChangeKeyRequest& request) {
  return RunOpStatus(ctx, [&]() -> absl::Status {
    DESFIRED_ASSIGN_OR_RETURN(Opened opened, Begin(ctx, request.target, request.aid, request.auth));
    if (opened.key.key == nullptr) {
      return InvalidFieldError("auth.key_name", "ChangeKey needs an authenticated session");
    }
    DESFIRED_ASSIGN_OR_RETURN(const keys::Key* new_key,
                              FindChangeKey(ctx, "new_key_name", request.new_key_name, opened));
    DESFIRED_ASSIGN_OR_RETURN(keys::SecretBytes new_value,
                              keys::CardKeyFor(*new_key, ctx.uid, request.aid));
    const desfire::CardKey new_card_key{new_key->type, new_value.view(), new_key->version};
    std::optional<desfire::CardKey> old_card_key;
    keys::SecretBytes old_value;
    if (request.key_no != request.auth.key_no) {
      DESFIRED_ASSIGN_OR_RETURN(const keys::Key* old_key,
                                FindChangeKey(ctx, "old_key_name", request.old_key_name, opened));
      DESFIRED_ASSIGN_OR_RETURN(old_value, keys::CardKeyFor(*old_key, ctx.uid, request.aid));
      old_card_key = desfire::CardKey{old_key->type, old_value.view(), old_key->version};
    }
    DESFIRED_RETURN_IF_ERROR(Alive(ctx));
    absl::Status changed = ctx.card->ChangeKey(request.key_no, new_card_key,
                                               old_card_key.has_value() ? &*old_card_key : nullptr);
    ctx.session.Reset();  // changing the authenticated key ends the session; start afresh
    return changed;
  });
}

absl::Status ChangeKeySettings(CardContext& ctx, const ChangeKeySettingsRequest& request) {
  return RunOpStatus(ctx, [&]() -> absl::Status {
    DESFIRED_RETURN_IF_ERROR(Begin(ctx, request.target, request.aid, request.auth).status());
    DESFIRED_RETURN_IF_ERROR(Alive(ctx));
    return ctx.card->ChangeKeySettings(request.key_settings);
  });
}

}  // namespace desfired::cardops
