#include "server/rpc/card_validation.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/apdu/error_metadata.h"
#include "core/apdu/status_payload.h"
#include "core/cardops/data.h"
#include "core/cardops/paging.h"
#include "core/desfire/card_types.h"
#include "core/util/status_macros.h"
#include "proto/convert/card_convert.h"
#include "proto/convert/status_convert.h"

namespace desfired::server {

using apdu::CardMismatchError;
using apdu::InvalidFieldError;
using apdu::KeyNotFoundError;
using apdu::WithErrorMetadata;
namespace {

constexpr uint32_t kMax24 = 0xFFFFFF;
constexpr uint32_t kMaxKeyNumber = 13;
constexpr uint32_t kMaxAccessRight = 15;
constexpr uint32_t kMaxChangeKeyAccess = 15;
constexpr uint32_t kMaxKeyCount = 14;
constexpr uint32_t kMaxIsoId = 0xFFFF;
constexpr uint32_t kMinCyclicRecords = 2;

// --- Validation helpers -----------------------------------------------------------------------

absl::Status CheckTarget(const v1::CardTarget& target, bool uid_required = false) {
  if (target.reader().empty()) {
    return InvalidFieldError("target.reader", "a reader name is required");
  }
  const size_t n = target.expected_uid().size();
  if (n == 0 && uid_required) {
    return InvalidFieldError("target.expected_uid",
                             "an expected UID is required: formatting erases every application");
  }
  if (n != 0 && n != 4 && n != 7 && n != 10) {
    return InvalidFieldError("target.expected_uid",
                             absl::StrFormat("a UID has 4, 7 or 10 bytes, not %d", n));
  }
  return absl::OkStatus();
}

bool IsKeyNameChar(char c) { return absl::ascii_isalnum(c) || c == '_' || c == '-' || c == '.'; }

absl::Status CheckKeyName(absl::string_view field, absl::string_view name) {
  if (name.empty()) return InvalidFieldError(field, "a key name is required");
  if (name.size() > kMaxKeyNameBytes || !std::all_of(name.begin(), name.end(), IsKeyNameChar)) {
    return InvalidFieldError(field, "a key name has 1..64 letters, digits, '_', '-' and '.'");
  }
  return absl::OkStatus();
}

enum class KeyNeed { kOptional, kRequired };

// `card_level`: the key authenticates at the card level, where only key 0 exists.
absl::Status CheckAuth(bool has_auth, const v1::KeyRef& auth, KeyNeed need, bool card_level) {
  if (!has_auth || auth.key_name().empty()) {
    if (need == KeyNeed::kRequired) {
      return InvalidFieldError("auth.key_name", "this call needs a key");
    }
    if (has_auth && (auth.key_number() != 0 || auth.scheme() != v1::AUTH_SCHEME_UNSPECIFIED)) {
      return InvalidFieldError("auth.key_name", "a key number or scheme needs a key name");
    }
    return absl::OkStatus();
  }
  DESFIRED_RETURN_IF_ERROR(CheckKeyName("auth.key_name", auth.key_name()));
  if (auth.key_number() > kMaxKeyNumber) {
    return InvalidFieldError("auth.key_number",
                             absl::StrFormat("key numbers are 0..13, not %d", auth.key_number()));
  }
  if (card_level && auth.key_number() != 0) {
    return InvalidFieldError("auth.key_number",
                             "the card level has only key 0 (the card master key)");
  }
  if (!v1::AuthScheme_IsValid(auth.scheme())) {
    return InvalidFieldError("auth.scheme", absl::StrFormat("unknown authentication scheme %d",
                                                            static_cast<int>(auth.scheme())));
  }
  return absl::OkStatus();
}

template <typename Request>
absl::Status CheckAuthOf(const Request& request, KeyNeed need, bool card_level) {
  return CheckAuth(request.has_auth(), request.auth(), need, card_level);
}

// `card_level_ok`: 0 (the card level) is allowed.
absl::Status CheckAid(uint32_t aid, bool card_level_ok) {
  if (aid > kMax24) {
    return InvalidFieldError("aid", absl::StrFormat("aid 0x%X does not fit in 24 bits", aid));
  }
  if (aid == 0 && !card_level_ok) {
    return InvalidFieldError("aid", "aid 0 is the card level; this call needs an application");
  }
  return absl::OkStatus();
}

absl::Status CheckFileNo(uint32_t file_no) {
  if (file_no > desfire::kMaxFileNo) {
    return InvalidFieldError("file_no", absl::StrFormat("file numbers are 0..31, not %d", file_no));
  }
  return absl::OkStatus();
}

absl::Status Check24(absl::string_view field, uint64_t value) {
  if (value > kMax24) {
    return InvalidFieldError(field, absl::StrFormat("%s %d does not fit in 24 bits", field, value));
  }
  return absl::OkStatus();
}

absl::Status CheckCommMode(v1::CommunicationMode mode) {
  if (!v1::CommunicationMode_IsValid(mode)) {
    return InvalidFieldError("communication_mode", absl::StrFormat("unknown communication mode %d",
                                                                   static_cast<int>(mode)));
  }
  return absl::OkStatus();
}

// IsoAccess (docs/ev3.md): ids of 16 bits, a DF name of 1..16 bytes or a DF id, not both.
absl::Status CheckIso(const v1::IsoAccess& iso) {
  if (!iso.enabled()) {
    if (iso.ByteSizeLong() != 0) {
      return InvalidFieldError("iso.enabled", "ISO selections are given with enabled = true");
    }
    return absl::OkStatus();
  }
  if (iso.df_name().size() > kMaxDfNameBytes) {
    return InvalidFieldError("iso.df_name", "a DF name has 1..16 bytes");
  }
  if (!iso.df_name().empty() && iso.has_df_file_id()) {
    return InvalidFieldError("iso.df_file_id", "select the application by DF name or by id");
  }
  if (iso.df_file_id() > kMaxIsoId) return InvalidFieldError("iso.df_file_id", "over 16 bits");
  if (iso.ef_file_id() > kMaxIsoId) return InvalidFieldError("iso.ef_file_id", "over 16 bits");
  return absl::OkStatus();
}

absl::Status CheckRequestId(absl::string_view id) {
  if (id.size() > kMaxRequestIdBytes) {
    return InvalidFieldError("request_id",
                             absl::StrFormat("at most 128 characters, got %d", id.size()));
  }
  if (!std::all_of(id.begin(), id.end(), [](char c) { return c >= 0x20 && c <= 0x7E; })) {
    return InvalidFieldError("request_id", "only printable ASCII characters are allowed");
  }
  return absl::OkStatus();
}

absl::Status CheckWrite(uint32_t offset, const std::string& data) {
  DESFIRED_RETURN_IF_ERROR(Check24("offset", offset));
  if (data.empty()) return InvalidFieldError("data", "no bytes to write");
  if (data.size() > cardops::kMaxWriteBytes) {
    return InvalidFieldError("data", absl::StrFormat("at most %d bytes per write, got %d",
                                                     cardops::kMaxWriteBytes, data.size()));
  }
  if (uint64_t{offset} + data.size() > kMax24) {
    return InvalidFieldError("offset", "offset + data length does not fit in 24 bits");
  }
  return absl::OkStatus();
}

absl::Status CheckAmount(int32_t amount) {
  if (amount <= 0) {
    return InvalidFieldError("amount",
                             absl::StrFormat("the amount must be 1..2147483647, not %d", amount));
  }
  return absl::OkStatus();
}

absl::Status CheckPaging(int32_t page_size, absl::string_view token) {
  return cardops::PageOf(page_size, token).status();
}

// The target, an application aid and an optional key: what every file call starts with.
template <typename Request>
absl::Status CheckAppCall(const Request& request) {
  DESFIRED_RETURN_IF_ERROR(CheckTarget(request.target()));
  DESFIRED_RETURN_IF_ERROR(CheckAid(request.aid(), /*card_level_ok=*/false));
  return CheckAuthOf(request, KeyNeed::kOptional, /*card_level=*/false);
}

template <typename Request>
absl::Status CheckFileCall(const Request& request) {
  DESFIRED_RETURN_IF_ERROR(CheckAppCall(request));
  return CheckFileNo(request.file_no());
}

template <typename Request>
absl::Status CheckValueChange(const Request& request) {
  DESFIRED_RETURN_IF_ERROR(CheckFileCall(request));
  DESFIRED_RETURN_IF_ERROR(CheckAmount(request.amount()));
  DESFIRED_RETURN_IF_ERROR(CheckCommMode(request.communication_mode()));
  const v1::TransactionMacRequest& tmac = request.transaction_mac();
  if (!tmac.reader_id().empty() && tmac.reader_id().size() != 16) {
    return InvalidFieldError("transaction_mac.reader_id", "a reader id is 16 bytes");
  }
  if ((!tmac.key_name().empty() || !tmac.reader_id().empty()) && request.defer_commit()) {
    return InvalidFieldError("transaction_mac", "a Transaction MAC needs the commit");
  }
  return CheckRequestId(request.request_id());
}

absl::Status CheckKeySettings(bool has, const v1::KeySettings& settings, bool card_level) {
  if (!has) {
    return InvalidFieldError("key_settings",
                             "key settings are required (all-false settings freeze for good)");
  }
  if (settings.change_key_access() > kMaxChangeKeyAccess) {
    return InvalidFieldError(
        "key_settings.change_key_access",
        absl::StrFormat("change_key_access is 0..15, not %d", settings.change_key_access()));
  }
  if (card_level && settings.change_key_access() != 0) {
    return InvalidFieldError("key_settings.change_key_access",
                             "change_key_access applies to applications only; 0 at the card level");
  }
  return absl::OkStatus();
}

absl::Status CheckAccessRights(const v1::AccessRights& rights,
                               absl::string_view prefix = "settings.access_rights.") {
  const std::pair<absl::string_view, uint32_t> all[] = {
      {"read", rights.read()},
      {"write", rights.write()},
      {"read_write", rights.read_write()},
      {"change_settings", rights.change_settings()}};
  for (const auto& [field, value] : all) {
    if (value > kMaxAccessRight) {
      return InvalidFieldError(absl::StrCat(prefix, field),
                               "access rights are key numbers 0..13, 14 (free) or 15 (never)");
    }
  }
  return absl::OkStatus();
}

// The type settings case a file type needs.
std::optional<v1::FileSettings::TypeSettingsCase> TypeSettingsFor(v1::FileType type) {
  switch (type) {
    case v1::FILE_TYPE_STANDARD:
    case v1::FILE_TYPE_BACKUP:
      return v1::FileSettings::kData;
    case v1::FILE_TYPE_VALUE:
      return v1::FileSettings::kValue;
    case v1::FILE_TYPE_LINEAR_RECORD:
    case v1::FILE_TYPE_CYCLIC_RECORD:
      return v1::FileSettings::kRecord;
    case v1::FILE_TYPE_TRANSACTION_MAC:
      return v1::FileSettings::kTransactionMac;
    default:
      return std::nullopt;
  }
}

absl::Status CheckTypeSettings(const v1::CreateFileRequest& request) {
  const v1::FileSettings& s = request.settings();
  switch (s.type_settings_case()) {
    case v1::FileSettings::kData:
      if (s.data().size() == 0 || s.data().size() > kMax24) {
        return InvalidFieldError("settings.data.size", "the file size must be 1..16777215");
      }
      return absl::OkStatus();
    case v1::FileSettings::kValue:
      if (s.value().lower_limit() > s.value().upper_limit()) {
        return InvalidFieldError("settings.value.upper_limit",
                                 "the upper limit is below the lower limit");
      }
      if (request.initial_value() < s.value().lower_limit() ||
          request.initial_value() > s.value().upper_limit()) {
        return InvalidFieldError("initial_value", "the initial value lies outside the limits");
      }
      if (s.value().limited_credit_value() < 0) {
        // Output only (the card sets it), but a negative one is never meaningful.
        return InvalidFieldError("settings.value.limited_credit_value",
                                 "limited_credit_value is output only and must not be negative");
      }
      return absl::OkStatus();
    case v1::FileSettings::kRecord: {
      if (s.record().record_size() == 0 || s.record().record_size() > kMax24) {
        return InvalidFieldError("settings.record.record_size",
                                 "the record size must be 1..16777215");
      }
      const uint32_t min = s.file_type() == v1::FILE_TYPE_CYCLIC_RECORD ? kMinCyclicRecords : 1;
      if (s.record().max_records() < min || s.record().max_records() > kMax24) {
        return InvalidFieldError("settings.record.max_records",
                                 absl::StrFormat("max_records must be %d..16777215", min));
      }
      // The card keeps the file's size (record_size × max_records) in 3 bytes.
      if (uint64_t{s.record().record_size()} * s.record().max_records() > kMax24) {
        return InvalidFieldError(
            "settings.record.max_records",
            absl::StrFormat("record_size × max_records (%d) does not fit in 24 bits (16777215)",
                            uint64_t{s.record().record_size()} * s.record().max_records()));
      }
      return absl::OkStatus();
    }
    case v1::FileSettings::kTransactionMac:
      if (s.transaction_mac().key_name().empty()) {
        return InvalidFieldError("settings.transaction_mac.key_name",
                                 "a TransactionMAC file needs its key's name");
      }
      if (s.transaction_mac().key_version() > 0xFF) {
        return InvalidFieldError("settings.transaction_mac.key_version",
                                 "the key version must be 0..255");
      }
      if (request.has_iso_file_id()) {
        return InvalidFieldError("iso_file_id", "a TransactionMAC file has no ISO file id");
      }
      return absl::OkStatus();
    case v1::FileSettings::TYPE_SETTINGS_NOT_SET:
      break;
  }
  return InvalidFieldError("settings", "type settings are required");
}

absl::Status CheckCreateFileSettings(const v1::CreateFileRequest& request) {
  if (!request.has_settings()) return InvalidFieldError("settings", "file settings are required");
  const v1::FileSettings& s = request.settings();
  const std::optional<v1::FileSettings::TypeSettingsCase> want = TypeSettingsFor(s.file_type());
  if (!want.has_value()) return InvalidFieldError("settings.file_type", "a file type is required");
  if (s.communication_mode() == v1::COMMUNICATION_MODE_UNSPECIFIED ||
      !v1::CommunicationMode_IsValid(s.communication_mode())) {
    return InvalidFieldError("settings.communication_mode", "a communication mode is required");
  }
  if (!s.has_access_rights()) {
    return InvalidFieldError("settings.access_rights", "access rights are required");
  }
  DESFIRED_RETURN_IF_ERROR(CheckAccessRights(s.access_rights()));
  if (s.type_settings_case() != *want) {
    const absl::string_view field = *want == v1::FileSettings::kData    ? "settings.data"
                                    : *want == v1::FileSettings::kValue ? "settings.value"
                                    : *want == v1::FileSettings::kRecord
                                        ? "settings.record"
                                        : "settings.transaction_mac";
    return InvalidFieldError(field, absl::StrCat(v1::FileType_Name(s.file_type()), " needs ", field,
                                                 " (and no other type settings)"));
  }
  DESFIRED_RETURN_IF_ERROR(CheckTypeSettings(request));
  if (s.has_sdm()) {
    if (s.file_type() != v1::FILE_TYPE_STANDARD) {
      return InvalidFieldError("settings.sdm",
                               absl::StrCat("SDM applies to standard data files only, not ",
                                            v1::FileType_Name(s.file_type())));
    }
    DESFIRED_RETURN_IF_ERROR(
        desfire::EncodeSdmSettings(SdmSettingsFromProto(s.sdm()),
                                   {.file_size = s.data().size(), .field_prefix = "settings.sdm."})
            .status());
  }
  return absl::OkStatus();
}

}  // namespace

// --- Validate --------------------------------------------------------------------------------

absl::Status Validate(const v1::GetCardInfoRequest& request) {
  DESFIRED_RETURN_IF_ERROR(CheckTarget(request.target()));
  return CheckAuthOf(request, KeyNeed::kOptional, /*card_level=*/true);
}

absl::Status Validate(const v1::ListApplicationsRequest& request) {
  DESFIRED_RETURN_IF_ERROR(CheckTarget(request.target()));
  DESFIRED_RETURN_IF_ERROR(CheckAuthOf(request, KeyNeed::kOptional, /*card_level=*/true));
  return CheckPaging(request.page_size(), request.page_token());
}

absl::Status Validate(const v1::ListFilesRequest& request) {
  DESFIRED_RETURN_IF_ERROR(CheckAppCall(request));
  return CheckPaging(request.page_size(), request.page_token());
}

absl::Status Validate(const v1::GetFileSettingsRequest& request) { return CheckFileCall(request); }

absl::Status Validate(const v1::ReadDataRequest& request) {
  DESFIRED_RETURN_IF_ERROR(CheckFileCall(request));
  DESFIRED_RETURN_IF_ERROR(CheckIso(request.iso()));
  DESFIRED_RETURN_IF_ERROR(Check24("offset", request.offset()));
  DESFIRED_RETURN_IF_ERROR(Check24("length", request.length()));
  return CheckCommMode(request.communication_mode());
}

absl::Status Validate(const v1::WriteDataRequest& request) {
  DESFIRED_RETURN_IF_ERROR(CheckFileCall(request));
  DESFIRED_RETURN_IF_ERROR(CheckIso(request.iso()));
  DESFIRED_RETURN_IF_ERROR(CheckWrite(request.offset(), request.data()));
  DESFIRED_RETURN_IF_ERROR(CheckCommMode(request.communication_mode()));
  return CheckRequestId(request.request_id());
}

absl::Status Validate(const v1::GetValueRequest& request) {
  DESFIRED_RETURN_IF_ERROR(CheckFileCall(request));
  return CheckCommMode(request.communication_mode());
}

absl::Status Validate(const v1::CreditRequest& request) { return CheckValueChange(request); }
absl::Status Validate(const v1::DebitRequest& request) { return CheckValueChange(request); }
absl::Status Validate(const v1::LimitedCreditRequest& request) { return CheckValueChange(request); }

absl::Status Validate(const v1::ReadRecordsRequest& request) {
  DESFIRED_RETURN_IF_ERROR(CheckFileCall(request));
  DESFIRED_RETURN_IF_ERROR(CheckIso(request.iso()));
  DESFIRED_RETURN_IF_ERROR(CheckCommMode(request.communication_mode()));
  return CheckPaging(request.page_size(), request.page_token());
}

absl::Status Validate(const v1::WriteRecordRequest& request) {
  DESFIRED_RETURN_IF_ERROR(CheckFileCall(request));
  DESFIRED_RETURN_IF_ERROR(CheckIso(request.iso()));
  DESFIRED_RETURN_IF_ERROR(CheckWrite(request.offset(), request.data()));
  DESFIRED_RETURN_IF_ERROR(CheckCommMode(request.communication_mode()));
  return CheckRequestId(request.request_id());
}

absl::Status Validate(const v1::ClearRecordFileRequest& request) {
  DESFIRED_RETURN_IF_ERROR(CheckFileCall(request));
  return CheckRequestId(request.request_id());
}

absl::Status Validate(const v1::ReadTapLogRequest& request) {
  DESFIRED_RETURN_IF_ERROR(CheckFileCall(request));
  DESFIRED_RETURN_IF_ERROR(CheckCommMode(request.communication_mode()));
  return Check24("max_records", request.max_records());
}

absl::Status Validate(const v1::CommitTransactionRequest& request) {
  DESFIRED_RETURN_IF_ERROR(CheckAppCall(request));
  return CheckRequestId(request.request_id());
}

absl::Status Validate(const v1::AbortTransactionRequest& request) {
  DESFIRED_RETURN_IF_ERROR(CheckAppCall(request));
  return CheckRequestId(request.request_id());
}

absl::Status Validate(const v1::FormatCardRequest& request) {
  DESFIRED_RETURN_IF_ERROR(CheckTarget(request.target(), /*uid_required=*/true));
  DESFIRED_RETURN_IF_ERROR(CheckAuthOf(request, KeyNeed::kRequired, /*card_level=*/true));
  return CheckRequestId(request.request_id());
}

absl::Status Validate(const v1::CreateApplicationRequest& request) {
  DESFIRED_RETURN_IF_ERROR(CheckTarget(request.target()));
  DESFIRED_RETURN_IF_ERROR(CheckAuthOf(request, KeyNeed::kOptional, /*card_level=*/true));
  DESFIRED_RETURN_IF_ERROR(CheckAid(request.aid(), /*card_level_ok=*/false));
  DESFIRED_RETURN_IF_ERROR(
      CheckKeySettings(request.has_key_settings(), request.key_settings(), /*card_level=*/false));
  if (request.key_count() < 1 || request.key_count() > kMaxKeyCount) {
    return InvalidFieldError(
        "key_count", absl::StrFormat("key_count must be 1..14, not %d", request.key_count()));
  }
  if (request.key_family() == v1::KEY_FAMILY_UNSPECIFIED ||
      !v1::KeyFamily_IsValid(request.key_family())) {
    return InvalidFieldError("key_family", "a key family is required");
  }
  if (request.has_iso_file_id()) {
    if (request.iso_file_id() > kMaxIsoId) {
      return InvalidFieldError("iso_file_id", "an ISO DF identifier has 16 bits");
    }
    if (request.df_name().empty() || request.df_name().size() > kMaxDfNameBytes) {
      return InvalidFieldError("df_name", "a DF name of 1..16 bytes goes with iso_file_id");
    }
  } else if (!request.df_name().empty()) {
    return InvalidFieldError("iso_file_id", "a DF name needs an ISO DF identifier");
  }
  return CheckRequestId(request.request_id());
}

absl::Status Validate(const v1::DeleteApplicationRequest& request) {
  DESFIRED_RETURN_IF_ERROR(CheckTarget(request.target()));
  // The card master key or the application's master key: key 0 either way.
  DESFIRED_RETURN_IF_ERROR(CheckAuthOf(request, KeyNeed::kOptional, /*card_level=*/true));
  DESFIRED_RETURN_IF_ERROR(CheckAid(request.aid(), /*card_level_ok=*/false));
  return CheckRequestId(request.request_id());
}

absl::Status Validate(const v1::CreateFileRequest& request) {
  DESFIRED_RETURN_IF_ERROR(CheckFileCall(request));
  DESFIRED_RETURN_IF_ERROR(CheckCreateFileSettings(request));
  if (request.has_iso_file_id()) {
    if (request.iso_file_id() > kMaxIsoId) {
      return InvalidFieldError("iso_file_id", "an ISO file identifier has 16 bits");
    }
    if (request.settings().file_type() == v1::FILE_TYPE_VALUE) {
      return InvalidFieldError("iso_file_id", "value files have no ISO file identifier");
    }
  }
  return CheckRequestId(request.request_id());
}

absl::Status Validate(const v1::ChangeFileSettingsRequest& request) {
  DESFIRED_RETURN_IF_ERROR(CheckFileCall(request));
  if (request.communication_mode() == v1::COMMUNICATION_MODE_UNSPECIFIED ||
      !v1::CommunicationMode_IsValid(request.communication_mode())) {
    return InvalidFieldError("communication_mode", "a communication mode is required");
  }
  if (!request.has_access_rights()) {
    return InvalidFieldError("access_rights", "access rights are required");
  }
  DESFIRED_RETURN_IF_ERROR(CheckAccessRights(request.access_rights(), "access_rights."));
  if (request.has_sdm()) {
    // The file's size is checked on the card's side (the server does not know it yet).
    DESFIRED_RETURN_IF_ERROR(
        desfire::EncodeSdmSettings(SdmSettingsFromProto(request.sdm()), {}).status());
  }
  return CheckRequestId(request.request_id());
}

absl::Status Validate(const v1::DeleteFileRequest& request) {
  DESFIRED_RETURN_IF_ERROR(CheckFileCall(request));
  return CheckRequestId(request.request_id());
}

absl::Status Validate(const v1::ChangeKeyRequest& request) {
  DESFIRED_RETURN_IF_ERROR(CheckTarget(request.target()));
  DESFIRED_RETURN_IF_ERROR(CheckAid(request.aid(), /*card_level_ok=*/true));
  const bool card_level = request.aid() == 0;
  DESFIRED_RETURN_IF_ERROR(CheckAuthOf(request, KeyNeed::kRequired, card_level));
  if (request.key_number() > kMaxKeyNumber) {
    return InvalidFieldError(
        "key_number", absl::StrFormat("key numbers are 0..13, not %d", request.key_number()));
  }
  if (card_level && request.key_number() != 0) {
    return InvalidFieldError("key_number", "the card level has only key 0 (the card master key)");
  }
  DESFIRED_RETURN_IF_ERROR(CheckKeyName("new_key_name", request.new_key_name()));
  if (request.key_number() != request.auth().key_number()) {
    if (request.old_key_name().empty()) {
      return InvalidFieldError("old_key_name",
                               "required when key_number differs from auth.key_number (the card "
                               "needs the key's current value)");
    }
    DESFIRED_RETURN_IF_ERROR(CheckKeyName("old_key_name", request.old_key_name()));
  }
  return CheckRequestId(request.request_id());
}

absl::Status Validate(const v1::VerifyOriginalityRequest& request) {
  return CheckTarget(request.target());
}

absl::Status Validate(const v1::ChangeKeySettingsRequest& request) {
  DESFIRED_RETURN_IF_ERROR(CheckTarget(request.target()));
  DESFIRED_RETURN_IF_ERROR(CheckAid(request.aid(), /*card_level_ok=*/true));
  const bool card_level = request.aid() == 0;
  DESFIRED_RETURN_IF_ERROR(CheckAuthOf(request, KeyNeed::kRequired, card_level));
  DESFIRED_RETURN_IF_ERROR(
      CheckKeySettings(request.has_key_settings(), request.key_settings(), card_level));
  return CheckRequestId(request.request_id());
}

}  // namespace desfired::server
