#include "proto/convert/card_convert.h"

#include "core/util/bytes.h"

namespace desfired {
namespace {

using desfire::CommMode;
using desfire::FileType;

constexpr uint8_t kVendorNxp = 0x04;
constexpr uint8_t kKeySettingsLowBits = 0x0F;
constexpr int kChangeKeyAccessShift = 4;

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

}  // namespace

std::optional<CommMode> ModeFromProto(v1::CommunicationMode mode) {
  switch (mode) {
    case v1::COMMUNICATION_MODE_UNSPECIFIED:
      return std::nullopt;
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

desfire::AuthScheme AuthSchemeFromProto(v1::AuthScheme scheme) {
  switch (scheme) {
    case v1::AUTH_SCHEME_LEGACY:
      return desfire::AuthScheme::kLegacy;
    case v1::AUTH_SCHEME_ISO:
      return desfire::AuthScheme::kIso;
    case v1::AUTH_SCHEME_AES:
      return desfire::AuthScheme::kAes;
    case v1::AUTH_SCHEME_EV2:
      return desfire::AuthScheme::kEv2;
    default:
      return desfire::AuthScheme::kNone;
  }
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

std::optional<FileType> FileTypeFromProto(v1::FileType type) {
  switch (type) {
    case v1::FILE_TYPE_STANDARD:
      return FileType::kStandardData;
    case v1::FILE_TYPE_BACKUP:
      return FileType::kBackupData;
    case v1::FILE_TYPE_VALUE:
      return FileType::kValue;
    case v1::FILE_TYPE_LINEAR_RECORD:
      return FileType::kLinearRecord;
    case v1::FILE_TYPE_CYCLIC_RECORD:
      return FileType::kCyclicRecord;
    case v1::FILE_TYPE_TRANSACTION_MAC:
      return FileType::kTransactionMac;
    default:
      return std::nullopt;
  }
}

void AccessRightsToProto(const desfire::AccessRights& in, v1::AccessRights* out) {
  out->set_read(in.read);
  out->set_write(in.write);
  out->set_read_write(in.read_write);
  out->set_change_settings(in.change);
}

desfire::AccessRights AccessRightsFromProto(const v1::AccessRights& in) {
  return {.read = static_cast<uint8_t>(in.read()),
          .write = static_cast<uint8_t>(in.write()),
          .read_write = static_cast<uint8_t>(in.read_write()),
          .change = static_cast<uint8_t>(in.change_settings())};
}

void FileSettingsToProto(const desfire::FileSettings& in, v1::FileSettings* out) {
  out->set_file_type(FileTypeToProto(in.type));
  out->set_communication_mode(ModeToProto(in.comm_mode));
  AccessRightsToProto(in.access, out->mutable_access_rights());
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

std::optional<desfire::FileSettings> FileSettingsFromProto(const v1::FileSettings& in) {
  const std::optional<FileType> type = FileTypeFromProto(in.file_type());
  if (!type.has_value()) return std::nullopt;
  desfire::FileSettings out;
  out.type = *type;
  out.comm_mode = ModeFromProto(in.communication_mode()).value_or(CommMode::kPlain);
  out.access = AccessRightsFromProto(in.access_rights());
  out.file_size = in.data().size();
  out.lower_limit = in.value().lower_limit();
  out.upper_limit = in.value().upper_limit();
  out.limited_credit_value = in.value().limited_credit_value();
  out.limited_credit_enabled = in.value().limited_credit_enabled();
  out.free_get_value = in.value().free_get_value();
  out.record_size = in.record().record_size();
  out.max_records = in.record().max_records();
  out.current_records = in.record().current_records();
  return out;
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

v1::KeyFamily KeyFamilyToProto(desfire::KeyFamily family) {
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

desfire::KeyFamily KeyFamilyFromProto(v1::KeyFamily family) {
  switch (family) {
    case v1::KEY_FAMILY_3TDEA:
      return desfire::KeyFamily::k3k3Des;
    case v1::KEY_FAMILY_AES:
      return desfire::KeyFamily::kAes;
    default:
      return desfire::KeyFamily::kDes;
  }
}

v1::CardGeneration CardGenerationToProto(desfire::CardGeneration generation) {
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

void CardVersionToProto(const desfire::CardVersion& in, v1::CardVersion* out) {
  VersionPartToProto(in.hardware, out->mutable_hardware());
  VersionPartToProto(in.software, out->mutable_software());
  out->set_uid(AsString(in.uid));
  out->set_batch_number(AsString(in.batch_number));
  out->set_production_week(FromBcd(in.production_week));
  out->set_production_year(2000 + FromBcd(in.production_year));
  out->set_generation(CardGenerationToProto(in.generation));
  out->set_vendor(in.hardware.vendor_id == kVendorNxp ? "NXP" : "");
  out->set_storage_size_bytes(in.storage_bytes);
  out->set_storage_size_exceeds(in.storage_larger);
}

}  // namespace desfired
