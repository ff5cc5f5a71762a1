#include "server/rpc/card_ops.h"

#include <algorithm>
#include <limits>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/types/span.h"
#include "core/apdu/error_metadata.h"
#include "core/apdu/status_payload.h"
#include "core/desfire/status.h"
#include "core/tap/format.h"
#include "core/util/status_macros.h"
#include "proto/convert/tap_convert.h"

namespace desfired::server {
namespace {

using apdu::CardMismatchError;
using apdu::InvalidFieldError;
using apdu::KeyNotFoundError;
using desfire::CommMode;
using desfire::FileType;

constexpr uint32_t kMax24 = 0xFFFFFF;
constexpr uint32_t kMaxKeyNumber = 13;
constexpr uint32_t kMaxAccessRight = 15;
constexpr uint32_t kMaxChangeKeyAccess = 15;
constexpr uint32_t kMaxKeyCount = 14;
constexpr uint32_t kMaxIsoId = 0xFFFF;
constexpr size_t kMaxKeyNameLength = 64;
constexpr size_t kMaxDfName = 16;
constexpr size_t kMaxPageTokenDigits = 8;
constexpr uint32_t kMinCyclicRecords = 2;
constexpr uint8_t kVendorNxp = 0x04;
constexpr uint8_t kRandomUidPrefix = 0x08;  // ISO/IEC 14443-3: a 4-byte random id starts 08
constexpr size_t kRandomUidLength = 4;
constexpr uint8_t kKeySettingsLowBits = 0x0F;
constexpr int kChangeKeyAccessShift = 4;

// --- Conversions core <-> proto --------------------------------------------------------------

CommMode ModeFromProto(v1::CommunicationMode mode) {
  switch (mode) {
    case v1::COMMUNICATION_MODE_MAC:
      return CommMode::kMac;
    case v1::COMMUNICATION_MODE_FULL:
      return CommMode::kFull;
    default:
      return CommMode::kPlain;
  }
}

v1::CommunicationMode ModeToProto(CommMode mode) {
  switch (mode) {
    case CommMode::kPlain:
      return v1::COMMUNICATION_MODE_PLAIN;
    case CommMode::kMac:
      return v1::COMMUNICATION_MODE_MAC;
    case CommMode::kFull:
      return v1::COMMUNICATION_MODE_FULL;
  }
  return v1::COMMUNICATION_MODE_UNSPECIFIED;
}

v1::FileType FileTypeToProto(FileType type) {
  switch (type) {
    case FileType::kStandardData:
      return v1::FILE_TYPE_STANDARD;
    case FileType::kBackupData:
      return v1::FILE_TYPE_BACKUP;
    case FileType::kValue:
      return v1::FILE_TYPE_VALUE;
    case FileType::kLinearRecord:
      return v1::FILE_TYPE_LINEAR_RECORD;
    case FileType::kCyclicRecord:
      return v1::FILE_TYPE_CYCLIC_RECORD;
    case FileType::kTransactionMac:
      return v1::FILE_TYPE_TRANSACTION_MAC;
  }
  return v1::FILE_TYPE_UNSPECIFIED;
}

void RightsToProto(const desfire::AccessRights& in, v1::AccessRights* out) {
  out->set_read(in.read);
  out->set_write(in.write);
  out->set_read_write(in.read_write);
  out->set_change_settings(in.change);
}

desfire::AccessRights RightsFromProto(const v1::AccessRights& in) {
  return {.read = static_cast<uint8_t>(in.read()),
          .write = static_cast<uint8_t>(in.write()),
          .read_write = static_cast<uint8_t>(in.read_write()),
          .change = static_cast<uint8_t>(in.change_settings())};
}

void SettingsToProto(const desfire::FileSettings& in, v1::FileSettings* out) {
  out->set_file_type(FileTypeToProto(in.type));
  out->set_communication_mode(ModeToProto(in.comm_mode));
  RightsToProto(in.access, out->mutable_access_rights());
  if (desfire::IsDataFile(in.type)) {
    out->mutable_data()->set_size(in.file_size);
  } else if (in.type == FileType::kValue) {
    v1::ValueFileSettings* value = out->mutable_value();
    value->set_lower_limit(in.lower_limit);
    value->set_upper_limit(in.upper_limit);
    value->set_limited_credit_value(in.limited_credit_value);
    value->set_limited_credit_enabled(in.limited_credit_enabled);
    value->set_free_get_value(in.free_get_value);
  } else if (desfire::IsRecordFile(in.type)) {
    v1::RecordFileSettings* record = out->mutable_record();
    record->set_record_size(in.record_size);
    record->set_max_records(in.max_records);
    record->set_current_records(in.current_records);
  }
}

void KeySettingsToProto(uint8_t settings, v1::KeySettings* out) {
  out->set_master_key_changeable((settings & desfire::kKeySettingAllowChangeMasterKey) != 0);
  out->set_free_directory_list((settings & desfire::kKeySettingFreeDirectoryList) != 0);
  out->set_free_create_delete((settings & desfire::kKeySettingFreeCreateDelete) != 0);
  out->set_configuration_changeable((settings & desfire::kKeySettingConfigurationChangeable) != 0);
  out->set_change_key_access(settings >> kChangeKeyAccessShift);
}

uint8_t KeySettingsFromProto(const v1::KeySettings& in) {
  uint8_t settings = 0;
  if (in.master_key_changeable()) settings |= desfire::kKeySettingAllowChangeMasterKey;
  if (in.free_directory_list()) settings |= desfire::kKeySettingFreeDirectoryList;
  if (in.free_create_delete()) settings |= desfire::kKeySettingFreeCreateDelete;
  if (in.configuration_changeable()) settings |= desfire::kKeySettingConfigurationChangeable;
  return static_cast<uint8_t>((settings & kKeySettingsLowBits) | in.change_key_access()
                                                                     << kChangeKeyAccessShift);
}

v1::KeyFamily FamilyToProto(desfire::KeyFamily family) {
  switch (family) {
    case desfire::KeyFamily::kDes:
      return v1::KEY_FAMILY_DES;
    case desfire::KeyFamily::k3k3Des:
      return v1::KEY_FAMILY_3TDEA;
    case desfire::KeyFamily::kAes:
      return v1::KEY_FAMILY_AES;
  }
  return v1::KEY_FAMILY_UNSPECIFIED;
}

desfire::KeyFamily FamilyFromProto(v1::KeyFamily family) {
  switch (family) {
    case v1::KEY_FAMILY_3TDEA:
      return desfire::KeyFamily::k3k3Des;
    case v1::KEY_FAMILY_AES:
      return desfire::KeyFamily::kAes;
    default:
      return desfire::KeyFamily::kDes;
  }
}

v1::CardGeneration GenerationToProto(desfire::CardGeneration generation) {
  switch (generation) {
    case desfire::CardGeneration::kEv0:
      return v1::CARD_GENERATION_EV0;
    case desfire::CardGeneration::kEv1:
      return v1::CARD_GENERATION_EV1;
    case desfire::CardGeneration::kEv2:
      return v1::CARD_GENERATION_EV2;
    case desfire::CardGeneration::kEv3:
      return v1::CARD_GENERATION_EV3;
    case desfire::CardGeneration::kLight:
      return v1::CARD_GENERATION_LIGHT;
    case desfire::CardGeneration::kUnknown:
      break;
  }
  return v1::CARD_GENERATION_UNSPECIFIED;
}

uint32_t FromBcd(uint8_t bcd) { return (bcd >> 4) * 10u + (bcd & 0x0Fu); }

void VersionPartToProto(const desfire::VersionPart& in, v1::VersionPart* out) {
  out->set_vendor_id(in.vendor_id);
  out->set_type(in.type);
  out->set_subtype(in.subtype);
  out->set_major_version(in.major_version);
  out->set_minor_version(in.minor_version);
  out->set_storage_size_code(in.storage_size);
  out->set_protocol(in.protocol);
}

void VersionToProto(const desfire::CardVersion& in, v1::CardVersion* out) {
  VersionPartToProto(in.hardware, out->mutable_hardware());
  VersionPartToProto(in.software, out->mutable_software());
  out->set_uid(AsString(in.uid));
  out->set_batch_number(AsString(in.batch_number));
  out->set_production_week(FromBcd(in.production_week));
  out->set_production_year(2000 + FromBcd(in.production_year));
  out->set_generation(GenerationToProto(in.generation));
  out->set_vendor(in.hardware.vendor_id == kVendorNxp ? "NXP" : "");
  out->set_storage_size_bytes(in.storage_bytes);
  out->set_storage_size_exceeds(in.storage_larger);
}

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
  if (name.size() > kMaxKeyNameLength || !std::all_of(name.begin(), name.end(), IsKeyNameChar)) {
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

absl::Status CheckRequestId(absl::string_view id) {
  if (id.size() > kMaxRequestIdLength) {
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
  if (data.size() > kMaxWriteBytes) {
    return InvalidFieldError(
        "data", absl::StrFormat("at most %d bytes per write, got %d", kMaxWriteBytes, data.size()));
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

// The decimal position a page token holds; empty: 0.
absl::StatusOr<uint32_t> ParsePageToken(absl::string_view token) {
  if (token.empty()) return 0u;
  if (token.size() > kMaxPageTokenDigits ||
      !std::all_of(token.begin(), token.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return InvalidFieldError("page_token", "not a page token this server gave out");
  }
  uint64_t value = 0;
  for (char c : token) value = value * 10 + static_cast<uint64_t>(c - '0');
  if (value > kMax24)
    return InvalidFieldError("page_token", "not a page token this server gave out");
  return static_cast<uint32_t>(value);
}

struct Page {
  size_t start = 0;
  size_t size = kDefaultPageSize;
};

absl::StatusOr<Page> PageOf(int32_t page_size, absl::string_view token) {
  if (page_size < 0) {
    return InvalidFieldError(
        "page_size", absl::StrFormat("the page size must not be negative, got %d", page_size));
  }
  DESFIRED_ASSIGN_OR_RETURN(uint32_t start, ParsePageToken(token));
  const int32_t size = page_size == 0 ? kDefaultPageSize : std::min(page_size, kMaxPageSize);
  return Page{start, static_cast<size_t>(size)};
}

absl::Status CheckPaging(int32_t page_size, absl::string_view token) {
  return PageOf(page_size, token).status();
}

std::string NextPageToken(size_t next, size_t total) {
  return next < total ? absl::StrCat(next) : std::string();
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

absl::Status CheckAccessRights(const v1::AccessRights& rights) {
  const std::pair<absl::string_view, uint32_t> all[] = {
      {"settings.access_rights.read", rights.read()},
      {"settings.access_rights.write", rights.write()},
      {"settings.access_rights.read_write", rights.read_write()},
      {"settings.access_rights.change_settings", rights.change_settings()}};
  for (const auto& [field, value] : all) {
    if (value > kMaxAccessRight) {
      return InvalidFieldError(field,
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
      return absl::OkStatus();
    }
    case v1::FileSettings::TYPE_SETTINGS_NOT_SET:
      break;
  }
  return InvalidFieldError("settings", "type settings are required");
}

absl::Status CheckCreateFileSettings(const v1::CreateFileRequest& request) {
  if (!request.has_settings()) return InvalidFieldError("settings", "file settings are required");
  const v1::FileSettings& s = request.settings();
  if (s.file_type() == v1::FILE_TYPE_TRANSACTION_MAC) {
    return InvalidFieldError("settings.file_type",
                             "CreateFile does not create transaction MAC files");
  }
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
                                                                        : "settings.record";
    return InvalidFieldError(field, absl::StrCat(v1::FileType_Name(s.file_type()), " needs ", field,
                                                 " (and no other type settings)"));
  }
  return CheckTypeSettings(request);
}

// --- The prologue ---------------------------------------------------------------------------

absl::Status Alive(const CardContext& ctx) {
  return ctx.check_alive ? ctx.check_alive() : absl::OkStatus();
}

absl::Status CheckExpectedUid(const CardContext& ctx, const v1::CardTarget& target) {
  if (target.expected_uid().empty()) return absl::OkStatus();
  const ByteSpan expected = AsBytes(target.expected_uid());
  if (expected == ByteSpan(ctx.uid)) return absl::OkStatus();
  return CardMismatchError(ctx.reader, expected, ctx.uid);
}

// The authentication a request asks for.
struct KeyChoice {
  const keys::Key* key = nullptr;  // nullptr: none; points into ctx.keys
  uint8_t number = 0;
  desfire::AuthScheme scheme = desfire::AuthScheme::kNone;
};

absl::StatusOr<const keys::Key*> FindKey(const CardContext& ctx, const std::string& name) {
  const keys::Key* key = ctx.keys != nullptr ? ctx.keys->Find(name) : nullptr;
  if (key == nullptr) return KeyNotFoundError(name);
  return key;
}

absl::StatusOr<desfire::AuthScheme> SchemeFor(v1::AuthScheme scheme, crypto::KeyType type) {
  const bool aes = type == crypto::KeyType::kAes128;
  desfire::AuthScheme use;
  bool fits;
  switch (scheme) {
    case v1::AUTH_SCHEME_LEGACY:
      use = desfire::AuthScheme::kLegacy;
      fits = type == crypto::KeyType::kDes || type == crypto::KeyType::k2Tdea;
      break;
    case v1::AUTH_SCHEME_ISO:
      use = desfire::AuthScheme::kIso;
      fits = !aes;
      break;
    case v1::AUTH_SCHEME_AES:
      use = desfire::AuthScheme::kAes;
      fits = aes;
      break;
    case v1::AUTH_SCHEME_EV2:
      use = desfire::AuthScheme::kEv2;
      fits = aes;
      break;
    default:
      return desfire::DefaultScheme(type);
  }
  if (!fits) {
    return InvalidFieldError(
        "auth.scheme", absl::StrCat("a ", crypto::KeyTypeName(type), " key cannot be used with ",
                                    v1::AuthScheme_Name(scheme)));
  }
  return use;
}

absl::StatusOr<KeyChoice> ChooseKey(const CardContext& ctx, bool has_auth, const v1::KeyRef& auth) {
  if (!has_auth || auth.key_name().empty()) return KeyChoice{};
  DESFIRED_ASSIGN_OR_RETURN(const keys::Key* key, FindKey(ctx, auth.key_name()));
  DESFIRED_ASSIGN_OR_RETURN(desfire::AuthScheme scheme, SchemeFor(auth.scheme(), key->type));
  return KeyChoice{key, static_cast<uint8_t>(auth.key_number()), scheme};
}

// A file an operation works on, with the request's override (for session continuation).
struct FileRef {
  uint8_t no = 0;
  v1::CommunicationMode mode = v1::COMMUNICATION_MODE_UNSPECIFIED;
};

// The session an operation runs in.
struct Opened {
  uint32_t aid = 0;
  KeyChoice key;
  bool continued = false;  // the card's session was already the one asked for
};

bool CanContinue(CardContext& ctx, uint32_t aid, const KeyChoice& key,
                 const std::optional<FileRef>& file) {
  const SessionMemo& memo = ctx.session;
  desfire::DesfireCard& card = *ctx.card;
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
    if (it != memo.guessed.end() && (file->mode == v1::COMMUNICATION_MODE_UNSPECIFIED ||
                                     ModeFromProto(file->mode) != it->second)) {
      return false;
    }
  }
  return true;
}

absl::string_view SchemeName(desfire::AuthScheme scheme) {
  switch (scheme) {
    case desfire::AuthScheme::kNone:
      return "no";
    case desfire::AuthScheme::kLegacy:
      return "legacy (0A)";
    case desfire::AuthScheme::kIso:
      return "ISO (1A)";
    case desfire::AuthScheme::kAes:
      return "AES (AA)";
    case desfire::AuthScheme::kEv2:
      return "EV2 (71)";
  }
  return "unknown";
}

// The card's refusal, with what was tried: the key's name, type and scheme (never its value),
// so that a wrong key, a key of the wrong type and a wrong key number can be told apart.
absl::Status Authenticate(CardContext& ctx, uint32_t aid, const KeyChoice& key) {
  DESFIRED_ASSIGN_OR_RETURN(keys::SecretBytes value, keys::CardKeyFor(*key.key, ctx.uid, aid));
  absl::Status s = ctx.card->Authenticate(
      key.number, {key.key->type, value.view(), key.key->version}, key.scheme);
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

absl::StatusOr<Opened> Begin(CardContext& ctx, const v1::CardTarget& target, uint32_t aid,
                             bool has_auth, const v1::KeyRef& auth,
                             const std::optional<FileRef>& file) {
  DESFIRED_RETURN_IF_ERROR(CheckExpectedUid(ctx, target));
  DESFIRED_ASSIGN_OR_RETURN(KeyChoice key, ChooseKey(ctx, has_auth, auth));
  DESFIRED_RETURN_IF_ERROR(Alive(ctx));
  if (CanContinue(ctx, aid, key, file)) return Opened{aid, key, true};
  ctx.session.Reset();
  DESFIRED_RETURN_IF_ERROR(ctx.card->SelectApplication(aid));
  if (key.key != nullptr) {
    DESFIRED_RETURN_IF_ERROR(Alive(ctx));
    DESFIRED_RETURN_IF_ERROR(Authenticate(ctx, aid, key));
  }
  SessionMemo& memo = ctx.session;
  memo.open = true;
  memo.uid = ctx.uid;
  memo.aid = aid;
  if (key.key != nullptr) {
    memo.key_name = key.key->name;
    memo.key_number = key.number;
    memo.scheme = key.scheme;
  }
  return Opened{aid, key, false};
}

// Begin for a request with target and auth fields.
template <typename Request>
absl::StatusOr<Opened> BeginFor(CardContext& ctx, const Request& request, uint32_t aid,
                                const std::optional<FileRef>& file = std::nullopt) {
  return Begin(ctx, request.target(), aid, request.has_auth(), request.auth(), file);
}

// Runs `body`, resetting the session memo when it fails (see "Sessions and transactions").
template <typename Response>
absl::StatusOr<Response> RunOp(CardContext& ctx, absl::FunctionRef<absl::Status(Response&)> body) {
  Response response;
  absl::Status status = body(response);
  if (!status.ok()) {
    ctx.session.Reset();
    return status;
  }
  return response;
}

// A change was made with `commit` (CommitTransaction sent) or left open.
void NoteChange(CardContext& ctx, bool commit) { ctx.session.pending = !commit; }

absl::Status WrongFileType(uint8_t file_no, FileType type, absl::string_view op) {
  return apdu::WithReason(absl::FailedPreconditionError(absl::StrFormat(
                              "%s: file %d is a %s file", op, file_no, FileTypeName(type))),
                          desfire::kReasonWrongFileType);
}

// --- File settings and the communication mode override ----------------------------------

// How to guess a file's settings when the card will not tell (see the header).
struct Guess {
  bool allowed = true;
  FileType type = FileType::kStandardData;
  uint32_t record_size = 0;
};

// The settings an operation works with.
struct FileUse {
  desfire::FileSettings settings;
  bool guessed = false;
  std::optional<desfire::FileSettings> restore;  // put back in the cache afterwards
};

bool RefusedListing(const absl::Status& status) {
  return status.code() == absl::StatusCode::kPermissionDenied ||
         status.code() == absl::StatusCode::kUnauthenticated ||
         apdu::GetReason(status) == std::string(desfire::kReasonNotAuthenticated);
}

desfire::FileSettings GuessSettings(const Guess& guess, CommMode mode, const Opened& opened) {
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

absl::StatusOr<FileUse> UseFile(CardContext& ctx, const Opened& opened, uint8_t file_no,
                                v1::CommunicationMode mode, const Guess& guess,
                                bool refresh = false) {
  // Keep the guess an earlier call of this session made (the card would refuse again).
  const bool keep_guess = guess.allowed && ctx.session.guessed.contains(file_no);
  absl::StatusOr<desfire::FileSettings> read =
      ctx.card->GetFileSettings(file_no, refresh && !keep_guess);
  if (mode == v1::COMMUNICATION_MODE_UNSPECIFIED) {
    if (!read.ok()) return read.status();
    return FileUse{*read, false, std::nullopt};
  }
  const CommMode override_mode = ModeFromProto(mode);
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

// BeginFor + UseFile for a request that names aid, file_no and communication_mode: the
// session and the file's settings, with the job checked after each step.
struct OpenedFile {
  Opened opened;
  FileUse use;
};
template <typename Request>
absl::StatusOr<OpenedFile> OpenFile(CardContext& ctx, const Request& request, const Guess& guess,
                                    bool refresh = false) {
  const uint8_t file_no = static_cast<uint8_t>(request.file_no());
  DESFIRED_ASSIGN_OR_RETURN(
      Opened opened,
      BeginFor(ctx, request, request.aid(), FileRef{file_no, request.communication_mode()}));
  DESFIRED_RETURN_IF_ERROR(Alive(ctx));
  DESFIRED_ASSIGN_OR_RETURN(
      FileUse use, UseFile(ctx, opened, file_no, request.communication_mode(), guess, refresh));
  DESFIRED_RETURN_IF_ERROR(Alive(ctx));
  return OpenedFile{opened, std::move(use)};
}

void Release(CardContext& ctx, uint8_t file_no, const FileUse& use) {
  if (use.restore.has_value()) ctx.card->AssumeFileSettings(file_no, *use.restore);
}

// --- Shared operation bodies ---------------------------------------------------------------

// The session may read the value: GetValue is allowed by a free right, by a right naming the
// authenticated key, or by the free GetValue option.
bool CanReadValue(const desfire::FileSettings& s, const Opened& opened) {
  if (s.type != FileType::kValue) return false;
  if (s.free_get_value) return true;
  for (uint8_t right : {s.access.read, s.access.write, s.access.read_write}) {
    if (right == desfire::kAccessFree) return true;
    if (opened.key.key != nullptr && right == opened.key.number) return true;
  }
  return false;
}

using ValueChangeFn = absl::Status (desfire::DesfireCard::*)(uint8_t, int32_t, desfire::TxOptions);

template <typename Request>
absl::Status ChangeValue(CardContext& ctx, const Request& request, ValueChangeFn change,
                         v1::ValueChange* out) {
  const uint8_t file_no = static_cast<uint8_t>(request.file_no());
  DESFIRED_ASSIGN_OR_RETURN(OpenedFile file, OpenFile(ctx, request, {.type = FileType::kValue}));
  const Opened& opened = file.opened;
  const FileUse& use = file.use;
  const bool readable = CanReadValue(use.settings, opened);
  if (readable) {
    DESFIRED_ASSIGN_OR_RETURN(int32_t before, ctx.card->GetValue(file_no));
    out->set_value_before(before);
    DESFIRED_RETURN_IF_ERROR(Alive(ctx));
  }
  const bool commit = !request.defer_commit();
  PendingValue pending;
  if (out->has_value_before()) {
    pending.value_before = out->value_before();
    const int64_t delta = change == &desfire::DesfireCard::Debit ? -int64_t{request.amount()}
                                                                 : int64_t{request.amount()};
    const int64_t after = int64_t{out->value_before()} + delta;
    if (after >= std::numeric_limits<int32_t>::min() &&
        after <= std::numeric_limits<int32_t>::max()) {
      pending.expected_after = static_cast<int32_t>(after);
    }
  }
  desfire::TxOptions tx{.commit = commit};
  if (ctx.before_commit) tx.before_commit = [&ctx, &pending] { return ctx.before_commit(pending); };
  DESFIRED_RETURN_IF_ERROR((ctx.card->*change)(file_no, request.amount(), std::move(tx)));
  NoteChange(ctx, commit);
  out->set_committed(commit);
  if (readable && commit && Alive(ctx).ok()) {
    // The change is committed: a failed read-back leaves value_after unset, no more.
    absl::StatusOr<int32_t> after = ctx.card->GetValue(file_no);
    if (after.ok()) out->set_value_after(*after);
  }
  Release(ctx, file_no, use);
  return absl::OkStatus();
}

const tap::TapPipelineConfig& TapConfig(const CardContext& ctx, tap::TapPipelineConfig& local) {
  if (ctx.taps != nullptr) return *ctx.taps;
  local.keys = ctx.keys;
  return local;
}

// The newest `max_records` (0: all) records of a tap log, oldest first.
absl::StatusOr<std::vector<Bytes>> ReadTapRecords(CardContext& ctx, uint8_t file_no,
                                                  const FileUse& use, uint32_t max_records) {
  if (use.guessed) {
    // The count is unknown: read everything, keep the newest.
    DESFIRED_ASSIGN_OR_RETURN(std::vector<Bytes> all, ctx.card->ReadRecords(file_no, 0, 0));
    if (max_records != 0 && all.size() > max_records) {
      all.erase(all.begin(), all.end() - static_cast<std::ptrdiff_t>(max_records));
    }
    return all;
  }
  if (!desfire::IsRecordFile(use.settings.type)) {
    return WrongFileType(file_no, use.settings.type, "ReadTapLog");
  }
  const uint32_t total = use.settings.current_records;
  const uint32_t count = max_records == 0 ? total : std::min(max_records, total);
  if (count == 0) return std::vector<Bytes>();
  return ctx.card->ReadRecords(file_no, 0, count);
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
  DESFIRED_RETURN_IF_ERROR(Check24("offset", request.offset()));
  DESFIRED_RETURN_IF_ERROR(Check24("length", request.length()));
  return CheckCommMode(request.communication_mode());
}

absl::Status Validate(const v1::WriteDataRequest& request) {
  DESFIRED_RETURN_IF_ERROR(CheckFileCall(request));
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
  DESFIRED_RETURN_IF_ERROR(CheckCommMode(request.communication_mode()));
  return CheckPaging(request.page_size(), request.page_token());
}

absl::Status Validate(const v1::WriteRecordRequest& request) {
  DESFIRED_RETURN_IF_ERROR(CheckFileCall(request));
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
    if (request.df_name().empty() || request.df_name().size() > kMaxDfName) {
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

absl::Status Validate(const v1::ChangeKeySettingsRequest& request) {
  DESFIRED_RETURN_IF_ERROR(CheckTarget(request.target()));
  DESFIRED_RETURN_IF_ERROR(CheckAid(request.aid(), /*card_level_ok=*/true));
  const bool card_level = request.aid() == 0;
  DESFIRED_RETURN_IF_ERROR(CheckAuthOf(request, KeyNeed::kRequired, card_level));
  DESFIRED_RETURN_IF_ERROR(
      CheckKeySettings(request.has_key_settings(), request.key_settings(), card_level));
  return CheckRequestId(request.request_id());
}

// --- Card and applications ------------------------------------------------------------------

absl::StatusOr<v1::GetCardInfoResponse> GetCardInfo(CardContext& ctx,
                                                    const v1::GetCardInfoRequest& request) {
  return RunOp<v1::GetCardInfoResponse>(ctx, [&](v1::GetCardInfoResponse& out) -> absl::Status {
    DESFIRED_ASSIGN_OR_RETURN(Opened opened, BeginFor(ctx, request, 0));
    out.set_reader(ctx.reader);
    out.set_atr(AsString(ctx.atr));
    DESFIRED_RETURN_IF_ERROR(Alive(ctx));
    DESFIRED_ASSIGN_OR_RETURN(desfire::CardVersion version, ctx.card->GetVersion());
    VersionToProto(version, out.mutable_version());
    DESFIRED_RETURN_IF_ERROR(Alive(ctx));
    DESFIRED_ASSIGN_OR_RETURN(uint32_t free_memory, ctx.card->FreeMemory());
    out.set_free_memory(free_memory);
    DESFIRED_RETURN_IF_ERROR(Alive(ctx));
    DESFIRED_ASSIGN_OR_RETURN(uint8_t key_version, ctx.card->GetKeyVersion(0));
    out.set_master_key_version(key_version);
    Bytes uid = version.uid;
    if (opened.key.key != nullptr && opened.key.scheme != desfire::AuthScheme::kLegacy) {
      DESFIRED_RETURN_IF_ERROR(Alive(ctx));
      DESFIRED_ASSIGN_OR_RETURN(uid, ctx.card->GetCardUid());
    }
    const bool zero_version_uid =
        std::all_of(version.uid.begin(), version.uid.end(), [](uint8_t b) { return b == 0; });
    const bool random_reader_uid =
        ctx.uid.size() == kRandomUidLength && ctx.uid[0] == kRandomUidPrefix;
    out.set_random_uid(zero_version_uid || random_reader_uid || uid != version.uid);
    out.set_uid(AsString(uid));
    DESFIRED_RETURN_IF_ERROR(Alive(ctx));
    absl::StatusOr<desfire::KeySettings> settings = ctx.card->GetKeySettings();
    if (!settings.ok()) {
      // Without the master key some cards keep their settings (and so the listing) to
      // themselves: report what is known.
      return RefusedListing(settings.status()) ? absl::OkStatus() : settings.status();
    }
    KeySettingsToProto(settings->settings, out.mutable_key_settings());
    out.set_master_key_family(FamilyToProto(settings->key_family));
    if ((settings->settings & desfire::kKeySettingFreeDirectoryList) == 0 &&
        opened.key.key == nullptr) {
      return absl::OkStatus();
    }
    DESFIRED_RETURN_IF_ERROR(Alive(ctx));
    DESFIRED_ASSIGN_OR_RETURN(std::vector<uint32_t> aids, ctx.card->GetApplicationIds());
    std::sort(aids.begin(), aids.end());
    for (uint32_t aid : aids) out.add_aids(aid);
    out.set_aids_listed(true);
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::ListApplicationsResponse> ListApplications(
    CardContext& ctx, const v1::ListApplicationsRequest& request) {
  return RunOp<v1::ListApplicationsResponse>(
      ctx, [&](v1::ListApplicationsResponse& out) -> absl::Status {
        DESFIRED_ASSIGN_OR_RETURN(Page page, PageOf(request.page_size(), request.page_token()));
        DESFIRED_RETURN_IF_ERROR(BeginFor(ctx, request, 0).status());
        DESFIRED_RETURN_IF_ERROR(Alive(ctx));
        DESFIRED_ASSIGN_OR_RETURN(std::vector<uint32_t> aids, ctx.card->GetApplicationIds());
        std::sort(aids.begin(), aids.end());
        if (page.start >= aids.size()) return absl::OkStatus();
        const size_t end = std::min(aids.size(), page.start + page.size);
        DESFIRED_RETURN_IF_ERROR(Alive(ctx));
        absl::StatusOr<std::vector<desfire::DfName>> names = ctx.card->GetDfNames();
        if (!names.ok() && names.status().code() != absl::StatusCode::kUnimplemented) {
          return names.status();
        }
        for (size_t i = page.start; i < end; ++i) {
          v1::Application* app = out.add_applications();
          app->set_aid(aids[i]);
          if (!names.ok()) continue;
          for (const desfire::DfName& name : *names) {
            if (name.aid != aids[i]) continue;
            app->set_iso_file_id(name.iso_file_id);
            app->set_df_name(AsString(name.name));
          }
        }
        out.set_next_page_token(NextPageToken(end, aids.size()));
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::ListFilesResponse> ListFiles(CardContext& ctx,
                                                const v1::ListFilesRequest& request) {
  return RunOp<v1::ListFilesResponse>(ctx, [&](v1::ListFilesResponse& out) -> absl::Status {
    DESFIRED_ASSIGN_OR_RETURN(Page page, PageOf(request.page_size(), request.page_token()));
    DESFIRED_RETURN_IF_ERROR(BeginFor(ctx, request, request.aid()).status());
    DESFIRED_RETURN_IF_ERROR(Alive(ctx));
    DESFIRED_ASSIGN_OR_RETURN(std::vector<uint8_t> ids, ctx.card->GetFileIds());
    std::sort(ids.begin(), ids.end());
    const size_t end = std::min(ids.size(), page.start + page.size);
    for (size_t i = page.start; i < end; ++i) {
      v1::FileEntry* entry = out.add_files();
      entry->set_file_no(ids[i]);
      if (!request.include_settings()) continue;
      DESFIRED_RETURN_IF_ERROR(Alive(ctx));
      DESFIRED_ASSIGN_OR_RETURN(desfire::FileSettings settings,
                                ctx.card->GetFileSettings(ids[i], /*refresh=*/true));
      SettingsToProto(settings, entry->mutable_settings());
    }
    out.set_next_page_token(NextPageToken(std::max(end, page.start), ids.size()));
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::GetFileSettingsResponse> GetFileSettings(
    CardContext& ctx, const v1::GetFileSettingsRequest& request) {
  return RunOp<v1::GetFileSettingsResponse>(
      ctx, [&](v1::GetFileSettingsResponse& out) -> absl::Status {
        DESFIRED_RETURN_IF_ERROR(BeginFor(ctx, request, request.aid()).status());
        DESFIRED_RETURN_IF_ERROR(Alive(ctx));
        DESFIRED_ASSIGN_OR_RETURN(
            desfire::FileSettings settings,
            ctx.card->GetFileSettings(static_cast<uint8_t>(request.file_no()), /*refresh=*/true));
        SettingsToProto(settings, out.mutable_settings());
        return absl::OkStatus();
      });
}

// --- Data files -------------------------------------------------------------------------------

absl::StatusOr<v1::ReadDataResponse> ReadData(CardContext& ctx,
                                              const v1::ReadDataRequest& request) {
  return RunOp<v1::ReadDataResponse>(ctx, [&](v1::ReadDataResponse& out) -> absl::Status {
    const uint8_t file_no = static_cast<uint8_t>(request.file_no());
    DESFIRED_ASSIGN_OR_RETURN(OpenedFile file, OpenFile(ctx, request, {}));
    const FileUse& use = file.use;
    DESFIRED_ASSIGN_OR_RETURN(Bytes data,
                              ctx.card->ReadData(file_no, request.offset(), request.length()));
    Release(ctx, file_no, use);
    out.set_data(AsString(data));
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::WriteDataResponse> WriteData(CardContext& ctx,
                                                const v1::WriteDataRequest& request) {
  return RunOp<v1::WriteDataResponse>(ctx, [&](v1::WriteDataResponse& out) -> absl::Status {
    const uint8_t file_no = static_cast<uint8_t>(request.file_no());
    DESFIRED_ASSIGN_OR_RETURN(OpenedFile file,
                              OpenFile(ctx, request, {.type = FileType::kBackupData}));
    const FileUse& use = file.use;
    const bool commit = !request.defer_commit();
    DESFIRED_RETURN_IF_ERROR(ctx.card->WriteData(file_no, request.offset(), AsBytes(request.data()),
                                                 {.commit = commit}));
    const bool transactional = use.guessed || use.settings.type == FileType::kBackupData;
    if (transactional) NoteChange(ctx, commit);
    out.set_committed(!transactional || commit);
    Release(ctx, file_no, use);
    return absl::OkStatus();
  });
}

// --- Value files ------------------------------------------------------------------------------

absl::StatusOr<v1::GetValueResponse> GetValue(CardContext& ctx,
                                              const v1::GetValueRequest& request) {
  return RunOp<v1::GetValueResponse>(ctx, [&](v1::GetValueResponse& out) -> absl::Status {
    const uint8_t file_no = static_cast<uint8_t>(request.file_no());
    DESFIRED_ASSIGN_OR_RETURN(OpenedFile file, OpenFile(ctx, request, {.type = FileType::kValue}));
    const FileUse& use = file.use;
    DESFIRED_ASSIGN_OR_RETURN(int32_t value, ctx.card->GetValue(file_no));
    Release(ctx, file_no, use);
    out.set_value(value);
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::CreditResponse> Credit(CardContext& ctx, const v1::CreditRequest& request) {
  return RunOp<v1::CreditResponse>(ctx, [&](v1::CreditResponse& out) {
    return ChangeValue(ctx, request, &desfire::DesfireCard::Credit, out.mutable_change());
  });
}

absl::StatusOr<v1::DebitResponse> Debit(CardContext& ctx, const v1::DebitRequest& request) {
  return RunOp<v1::DebitResponse>(ctx, [&](v1::DebitResponse& out) {
    return ChangeValue(ctx, request, &desfire::DesfireCard::Debit, out.mutable_change());
  });
}

absl::StatusOr<v1::LimitedCreditResponse> LimitedCredit(CardContext& ctx,
                                                        const v1::LimitedCreditRequest& request) {
  return RunOp<v1::LimitedCreditResponse>(ctx, [&](v1::LimitedCreditResponse& out) {
    return ChangeValue(ctx, request, &desfire::DesfireCard::LimitedCredit, out.mutable_change());
  });
}

// --- Record files -----------------------------------------------------------------------------

absl::StatusOr<v1::ReadRecordsResponse> ReadRecords(CardContext& ctx,
                                                    const v1::ReadRecordsRequest& request) {
  return RunOp<v1::ReadRecordsResponse>(ctx, [&](v1::ReadRecordsResponse& out) -> absl::Status {
    DESFIRED_ASSIGN_OR_RETURN(Page page, PageOf(request.page_size(), request.page_token()));
    const uint8_t file_no = static_cast<uint8_t>(request.file_no());
    // The count must be the card's: fresh settings, no guessing.
    DESFIRED_ASSIGN_OR_RETURN(OpenedFile file,
                              OpenFile(ctx, request, {.allowed = false}, /*refresh=*/true));
    const FileUse& use = file.use;
    if (!desfire::IsRecordFile(use.settings.type)) {
      return WrongFileType(file_no, use.settings.type, "ReadRecords");
    }
    const size_t total = use.settings.current_records;
    out.set_total_records(use.settings.current_records);
    if (page.start < total) {
      const size_t count = std::min(page.size, total - page.start);
      DESFIRED_RETURN_IF_ERROR(Alive(ctx));
      DESFIRED_ASSIGN_OR_RETURN(std::vector<Bytes> records,
                                ctx.card->ReadRecords(file_no, static_cast<uint32_t>(page.start),
                                                      static_cast<uint32_t>(count)));
      // The card answers oldest first.
      for (size_t i = 0; i < records.size(); ++i) {
        v1::ReadRecordsResponse::Record* record = out.add_records();
        record->set_offset(static_cast<uint32_t>(page.start + i));
        record->set_data(AsString(records[records.size() - 1 - i]));
      }
      out.set_next_page_token(NextPageToken(page.start + count, total));
    }
    Release(ctx, file_no, use);
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::WriteRecordResponse> WriteRecord(CardContext& ctx,
                                                    const v1::WriteRecordRequest& request) {
  return RunOp<v1::WriteRecordResponse>(ctx, [&](v1::WriteRecordResponse& out) -> absl::Status {
    const uint8_t file_no = static_cast<uint8_t>(request.file_no());
    DESFIRED_ASSIGN_OR_RETURN(OpenedFile file,
                              OpenFile(ctx, request, {.type = FileType::kCyclicRecord}));
    const FileUse& use = file.use;
    const bool commit = !request.defer_commit();
    DESFIRED_RETURN_IF_ERROR(ctx.card->WriteRecord(file_no, request.offset(),
                                                   AsBytes(request.data()), {.commit = commit}));
    NoteChange(ctx, commit);
    out.set_committed(commit);
    Release(ctx, file_no, use);
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::ClearRecordFileResponse> ClearRecordFile(
    CardContext& ctx, const v1::ClearRecordFileRequest& request) {
  return RunOp<v1::ClearRecordFileResponse>(
      ctx, [&](v1::ClearRecordFileResponse& out) -> absl::Status {
        const uint8_t file_no = static_cast<uint8_t>(request.file_no());
        DESFIRED_RETURN_IF_ERROR(BeginFor(ctx, request, request.aid(), FileRef{file_no}).status());
        DESFIRED_RETURN_IF_ERROR(Alive(ctx));
        const bool commit = !request.defer_commit();
        DESFIRED_RETURN_IF_ERROR(ctx.card->ClearRecordFile(file_no, {.commit = commit}));
        NoteChange(ctx, commit);
        out.set_committed(commit);
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::ReadTapLogResponse> ReadTapLog(CardContext& ctx,
                                                  const v1::ReadTapLogRequest& request) {
  return RunOp<v1::ReadTapLogResponse>(ctx, [&](v1::ReadTapLogResponse& out) -> absl::Status {
    const uint8_t file_no = static_cast<uint8_t>(request.file_no());
    tap::TapPipelineConfig local;
    DESFIRED_ASSIGN_OR_RETURN(std::unique_ptr<tap::TapPipeline> pipeline,
                              tap::TapPipeline::Create(TapConfig(ctx, local)));
    const Guess guess{.type = FileType::kCyclicRecord,
                      .record_size = static_cast<uint32_t>(tap::kRecordSize)};
    DESFIRED_ASSIGN_OR_RETURN(OpenedFile file, OpenFile(ctx, request, guess, /*refresh=*/true));
    const FileUse& use = file.use;
    DESFIRED_ASSIGN_OR_RETURN(std::vector<Bytes> records,
                              ReadTapRecords(ctx, file_no, use, request.max_records()));
    Release(ctx, file_no, use);
    tap::TapResult result;
    for (size_t i = 0; i < records.size(); ++i) {
      pipeline->Process(i, records[i], std::nullopt, &result);
      desfired::ToProto(result, out.add_results());
    }
    desfired::ToProto(pipeline->summary(), out.mutable_summary());
    return absl::OkStatus();
  });
}

// --- Transactions -----------------------------------------------------------------------------

absl::StatusOr<v1::CommitTransactionResponse> CommitTransaction(
    CardContext& ctx, const v1::CommitTransactionRequest& request) {
  return RunOp<v1::CommitTransactionResponse>(
      ctx, [&](v1::CommitTransactionResponse& out) -> absl::Status {
        DESFIRED_RETURN_IF_ERROR(CheckExpectedUid(ctx, request.target()));
        DESFIRED_ASSIGN_OR_RETURN(KeyChoice key,
                                  ChooseKey(ctx, request.has_auth(), request.auth()));
        if (!CanContinue(ctx, request.aid(), key, std::nullopt) || !ctx.session.pending) {
          return absl::OkStatus();  // the transaction was lost (or there was none)
        }
        DESFIRED_RETURN_IF_ERROR(Alive(ctx));
        DESFIRED_RETURN_IF_ERROR(ctx.card->CommitTransaction());
        ctx.session.pending = false;
        out.set_committed(true);
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::AbortTransactionResponse> AbortTransaction(
    CardContext& ctx, const v1::AbortTransactionRequest& request) {
  return RunOp<v1::AbortTransactionResponse>(
      ctx, [&](v1::AbortTransactionResponse&) -> absl::Status {
        DESFIRED_RETURN_IF_ERROR(CheckExpectedUid(ctx, request.target()));
        DESFIRED_ASSIGN_OR_RETURN(KeyChoice key,
                                  ChooseKey(ctx, request.has_auth(), request.auth()));
        if (!CanContinue(ctx, request.aid(), key, std::nullopt) || !ctx.session.pending) {
          return absl::OkStatus();  // nothing open in this session
        }
        DESFIRED_RETURN_IF_ERROR(Alive(ctx));
        DESFIRED_RETURN_IF_ERROR(ctx.card->AbortTransaction());
        ctx.session.pending = false;
        return absl::OkStatus();
      });
}

// --- Issuing cards ----------------------------------------------------------------------------

absl::StatusOr<v1::FormatCardResponse> FormatCard(CardContext& ctx,
                                                  const v1::FormatCardRequest& request) {
  return RunOp<v1::FormatCardResponse>(ctx, [&](v1::FormatCardResponse&) -> absl::Status {
    DESFIRED_RETURN_IF_ERROR(BeginFor(ctx, request, 0).status());
    DESFIRED_RETURN_IF_ERROR(Alive(ctx));
    DESFIRED_RETURN_IF_ERROR(ctx.card->FormatPicc());
    ctx.session.guessed.clear();
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::CreateApplicationResponse> CreateApplication(
    CardContext& ctx, const v1::CreateApplicationRequest& request) {
  return RunOp<v1::CreateApplicationResponse>(
      ctx, [&](v1::CreateApplicationResponse&) -> absl::Status {
        DESFIRED_RETURN_IF_ERROR(BeginFor(ctx, request, 0).status());
        desfire::ApplicationSpec spec{.aid = request.aid(),
                                      .key_settings = KeySettingsFromProto(request.key_settings()),
                                      .num_keys = static_cast<uint8_t>(request.key_count()),
                                      .key_family = FamilyFromProto(request.key_family())};
        if (request.has_iso_file_id()) {
          spec.iso_file_id = static_cast<uint16_t>(request.iso_file_id());
          spec.df_name = Bytes(request.df_name().begin(), request.df_name().end());
        }
        DESFIRED_RETURN_IF_ERROR(Alive(ctx));
        return ctx.card->CreateApplication(spec);
      });
}

absl::StatusOr<v1::DeleteApplicationResponse> DeleteApplication(
    CardContext& ctx, const v1::DeleteApplicationRequest& request) {
  return RunOp<v1::DeleteApplicationResponse>(
      ctx, [&](v1::DeleteApplicationResponse&) -> absl::Status {
        absl::StatusOr<Opened> opened = BeginFor(ctx, request, 0);
        if (!opened.ok() &&
            apdu::GetReason(opened.status()) == std::string(desfire::kReasonAuthenticationFailed)) {
          // Not the card master key: perhaps the application's.
          DESFIRED_RETURN_IF_ERROR(Alive(ctx));
          opened = BeginFor(ctx, request, request.aid());
        }
        DESFIRED_RETURN_IF_ERROR(opened.status());
        DESFIRED_RETURN_IF_ERROR(Alive(ctx));
        DESFIRED_RETURN_IF_ERROR(ctx.card->DeleteApplication(request.aid()));
        if (opened->aid != 0) ctx.session.Reset();  // the card is back at the card level
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::CreateFileResponse> CreateFile(CardContext& ctx,
                                                  const v1::CreateFileRequest& request) {
  return RunOp<v1::CreateFileResponse>(ctx, [&](v1::CreateFileResponse&) -> absl::Status {
    const uint8_t file_no = static_cast<uint8_t>(request.file_no());
    DESFIRED_RETURN_IF_ERROR(BeginFor(ctx, request, request.aid()).status());
    DESFIRED_RETURN_IF_ERROR(Alive(ctx));
    const v1::FileSettings& s = request.settings();
    const CommMode mode = ModeFromProto(s.communication_mode());
    const desfire::AccessRights access = RightsFromProto(s.access_rights());
    std::optional<uint16_t> iso;
    if (request.has_iso_file_id()) iso = static_cast<uint16_t>(request.iso_file_id());
    ctx.session.guessed.erase(file_no);
    switch (s.file_type()) {
      case v1::FILE_TYPE_STANDARD:
      case v1::FILE_TYPE_BACKUP:
        return ctx.card->CreateDataFile({.file_no = file_no,
                                         .backup = s.file_type() == v1::FILE_TYPE_BACKUP,
                                         .iso_file_id = iso,
                                         .comm_mode = mode,
                                         .access = access,
                                         .size = s.data().size()});
      case v1::FILE_TYPE_VALUE:
        return ctx.card->CreateValueFile(
            {.file_no = file_no,
             .comm_mode = mode,
             .access = access,
             .lower_limit = s.value().lower_limit(),
             .upper_limit = s.value().upper_limit(),
             .value = request.initial_value(),
             .limited_credit_enabled = s.value().limited_credit_enabled(),
             .free_get_value = s.value().free_get_value()});
      case v1::FILE_TYPE_LINEAR_RECORD:
      case v1::FILE_TYPE_CYCLIC_RECORD:
        return ctx.card->CreateRecordFile({.file_no = file_no,
                                           .cyclic = s.file_type() == v1::FILE_TYPE_CYCLIC_RECORD,
                                           .iso_file_id = iso,
                                           .comm_mode = mode,
                                           .access = access,
                                           .record_size = s.record().record_size(),
                                           .max_records = s.record().max_records()});
      default:
        return InvalidFieldError("settings.file_type", "CreateFile cannot create this file type");
    }
  });
}

absl::StatusOr<v1::DeleteFileResponse> DeleteFile(CardContext& ctx,
                                                  const v1::DeleteFileRequest& request) {
  return RunOp<v1::DeleteFileResponse>(ctx, [&](v1::DeleteFileResponse&) -> absl::Status {
    const uint8_t file_no = static_cast<uint8_t>(request.file_no());
    DESFIRED_RETURN_IF_ERROR(BeginFor(ctx, request, request.aid()).status());
    DESFIRED_RETURN_IF_ERROR(Alive(ctx));
    ctx.session.guessed.erase(file_no);
    return ctx.card->DeleteFile(file_no);
  });
}

namespace {

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

absl::StatusOr<v1::ChangeKeyResponse> ChangeKey(CardContext& ctx,
                                                const v1::ChangeKeyRequest& request) {
  return RunOp<v1::ChangeKeyResponse>(ctx, [&](v1::ChangeKeyResponse&) -> absl::Status {
    DESFIRED_ASSIGN_OR_RETURN(Opened opened, BeginFor(ctx, request, request.aid()));
    if (opened.key.key == nullptr) {
      return InvalidFieldError("auth.key_name", "ChangeKey needs an authenticated session");
    }
    DESFIRED_ASSIGN_OR_RETURN(const keys::Key* new_key,
                              FindChangeKey(ctx, "new_key_name", request.new_key_name(), opened));
    DESFIRED_ASSIGN_OR_RETURN(keys::SecretBytes new_value,
                              keys::CardKeyFor(*new_key, ctx.uid, request.aid()));
    const desfire::CardKey new_card_key{new_key->type, new_value.view(), new_key->version};
    std::optional<desfire::CardKey> old_card_key;
    keys::SecretBytes old_value;
    if (request.key_number() != request.auth().key_number()) {
      DESFIRED_ASSIGN_OR_RETURN(const keys::Key* old_key,
                                FindChangeKey(ctx, "old_key_name", request.old_key_name(), opened));
      DESFIRED_ASSIGN_OR_RETURN(old_value, keys::CardKeyFor(*old_key, ctx.uid, request.aid()));
      old_card_key = desfire::CardKey{old_key->type, old_value.view(), old_key->version};
    }
    DESFIRED_RETURN_IF_ERROR(Alive(ctx));
    absl::Status changed =
        ctx.card->ChangeKey(static_cast<uint8_t>(request.key_number()), new_card_key,
                            old_card_key.has_value() ? &*old_card_key : nullptr);
    ctx.session.Reset();  // changing the authenticated key ends the session; start afresh
    return changed;
  });
}

absl::StatusOr<v1::ChangeKeySettingsResponse> ChangeKeySettings(
    CardContext& ctx, const v1::ChangeKeySettingsRequest& request) {
  return RunOp<v1::ChangeKeySettingsResponse>(
      ctx, [&](v1::ChangeKeySettingsResponse&) -> absl::Status {
        DESFIRED_RETURN_IF_ERROR(BeginFor(ctx, request, request.aid()).status());
        DESFIRED_RETURN_IF_ERROR(Alive(ctx));
        return ctx.card->ChangeKeySettings(KeySettingsFromProto(request.key_settings()));
      });
}

}  // namespace desfired::server
