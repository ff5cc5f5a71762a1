// Issuing cards: FormatCard, CreateApplication, DeleteApplication, CreateFile, DeleteFile,
// ChangeKey and ChangeKeySettings.
//
//   DESFIRED_RETURN_IF_ERROR(CreateApplication(ctx, {.target = t, .auth = {.name = "picc"},
//                                                    .application = {.aid = 0xF51001,
//                                                                    .key_settings = 0x0B,
//                                                                    .num_keys = 4}}));
//
// Each runs the prologue (session.h) — at the card level (aid 0) for FormatCard and
// CreateApplication, on request.aid for the others — and fails with its errors and those of the
// DesfireCard call it makes (core/desfire/card.h), and:
//   INVALID_ARGUMENT (field "new_key_name" / "old_key_name")  ChangeKey with a key whose type
//                    does not suit the application's key family
//   INVALID_ARGUMENT (field "auth.key_name")                  ChangeKey without a key
//   INVALID_ARGUMENT (field "settings.file_type")             CreateFile of a transaction MAC
//                                                             file
// A failure resets ctx.session. Creating or deleting a file forgets a guess of its settings
// (file_access.h); formatting forgets them all.
//
// Thread-compatible: on the thread that owns the CardContext.
#ifndef DESFIRED_CORE_CARDOPS_ISSUING_H_
#define DESFIRED_CORE_CARDOPS_ISSUING_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "core/cardops/context.h"
#include "core/cardops/target.h"
#include "core/desfire/card_types.h"

namespace desfired::cardops {

struct FormatCardRequest {
  Target target = {};  // the expected UID guards the card (the server requires it)
  KeyRef auth = {};    // the card master key
};

// Erases every application (FormatPICC).
absl::Status FormatCard(CardContext& ctx, const FormatCardRequest& request);

struct CreateApplicationRequest {
  Target target = {};
  KeyRef auth = {};  // at the card level; optional when the card allows free create / delete
  desfire::ApplicationSpec application = {};
};

absl::Status CreateApplication(CardContext& ctx, const CreateApplicationRequest& request);

struct DeleteApplicationRequest {
  Target target = {};
  KeyRef auth = {};  // the card master key or the application's master key
  uint32_t aid = 0;
};

// With a key: authenticates at the card level first (the card master key); when the card
// rejects the key (AUTHENTICATION_FAILED), selects the application and authenticates there (its
// master key), since the request does not say which of the two it names.
absl::Status DeleteApplication(CardContext& ctx, const DeleteApplicationRequest& request);

struct CreateFileRequest {
  Target target = {};
  uint32_t aid = 0;
  KeyRef auth = {};
  uint8_t file_no = 0;
  // type, comm_mode, access and the fields of the type: file_size (data files); lower_limit,
  // upper_limit, limited_credit_enabled, free_get_value (value files); record_size,
  // max_records (record files). Other fields are not used.
  desfire::FileSettings settings = {};
  std::optional<uint16_t> iso_file_id;  // data and record files
  int32_t initial_value = 0;            // value files
  // TransactionMAC files (type kTransactionMac; settings.tmac_key_version its version): the
  // AppTransactionMACKey's name in the key store (AES-128, AN10922-diversified with the aid when
  // the store says so). Its value goes to the card enciphered, never anywhere else.
  std::string tmac_key_name = {};
};

// A standard data file with settings.sdm is created with SDM allowed (FileOption bit 6) and
// then gets its SDM settings by ChangeFileSettings in the same session. A TransactionMAC file
// needs tmac_key_name (INVALID_ARGUMENT "tmac_key" without, or for a key that is not AES-128;
// KEY_NOT_FOUND for an unknown one) and an authenticated session.
absl::Status CreateFile(CardContext& ctx, const CreateFileRequest& request);

struct ChangeFileSettingsRequest {
  Target target = {};
  uint32_t aid = 0;
  KeyRef auth = {};  // the file's change key; absent when changing is free
  uint8_t file_no = 0;
  desfire::CommMode mode = desfire::CommMode::kPlain;  // the new communication mode
  desfire::AccessRights access = {};
  std::optional<desfire::SdmSettings> sdm;  // SDM enabled with these settings
};

// ChangeFileSettings (core/desfire/card.h): the file's communication mode and access rights,
// and its SDM settings when `sdm` is set (SDM is disabled otherwise).
absl::Status ChangeFileSettings(CardContext& ctx, const ChangeFileSettingsRequest& request);

struct DeleteFileRequest {
  Target target = {};
  uint32_t aid = 0;
  KeyRef auth = {};
  uint8_t file_no = 0;
};

absl::Status DeleteFile(CardContext& ctx, const DeleteFileRequest& request);

struct ChangeKeyRequest {
  Target target = {};
  uint32_t aid = 0;  // 0: the card master key
  KeyRef auth = {};  // required: changing a key needs an authenticated session
  uint8_t key_no = 0;
  std::string new_key_name = {};
  // The key's current value, needed when key_no is not auth.key_no (not used otherwise).
  std::string old_key_name = {};
};

// The new (and old) key come from the store, diversified for `aid` when the store says so; the
// new key's store version is written as the key version. At an application, the keys must be
// of its key family (that of the key the session authenticated with). The session ends
// afterwards.
absl::Status ChangeKey(CardContext& ctx, const ChangeKeyRequest& request);

struct ChangeKeySettingsRequest {
  Target target = {};
  uint32_t aid = 0;  // 0: the card's settings
  KeyRef auth = {};
  uint8_t key_settings = 0;  // the kKeySetting* bits; high nibble: the change-key key
};

absl::Status ChangeKeySettings(CardContext& ctx, const ChangeKeySettingsRequest& request);

}  // namespace desfired::cardops

#endif  // DESFIRED_CORE_CARDOPS_ISSUING_H_
