#include "proto/convert/card_convert.h"

#include "core/util/bytes.h"
#include "core/util/enum_table.h"

namespace desfired {
namespace {

using desfire::CommMode;
using desfire::FileType;

constexpr uint8_t kVendorNxp = 0x04;
constexpr uint8_t kKeySettingsLowBits = 0x0F;
constexpr int kChangeKeyAccessShift = 4;

// Each core enum beside its proto spelling (core/util/enum_table.h): the key is the core value.
constexpr EnumRow<CommMode, v1::CommunicationMode> kModes[] = {
    {CommMode::kPlain, v1::COMMUNICATION_MODE_PLAIN},
    {CommMode::kMac, v1::COMMUNICATION_MODE_MAC},
    {CommMode::kFull, v1::COMMUNICATION_MODE_FULL},
};

constexpr EnumRow<desfire::AuthScheme, v1::AuthScheme> kAuthSchemes[] = {
    {desfire::AuthScheme::kLegacy, v1::AUTH_SCHEME_LEGACY},
    {desfire::AuthScheme::kIso, v1::AUTH_SCHEME_ISO},
    {desfire::AuthScheme::kAes, v1::AUTH_SCHEME_AES},
    {desfire::AuthScheme::kEv2, v1::AUTH_SCHEME_EV2},
    {desfire::AuthScheme::kLrp, v1::AUTH_SCHEME_LRP},
};

constexpr EnumRow<FileType, v1::FileType> kFileTypes[] = {
    {FileType::kStandardData, v1::FILE_TYPE_STANDARD},
    {FileType::kBackupData, v1::FILE_TYPE_BACKUP},
    {FileType::kValue, v1::FILE_TYPE_VALUE},
    {FileType::kLinearRecord, v1::FILE_TYPE_LINEAR_RECORD},
    {FileType::kCyclicRecord, v1::FILE_TYPE_CYCLIC_RECORD},
    {FileType::kTransactionMac, v1::FILE_TYPE_TRANSACTION_MAC},
};

constexpr EnumRow<desfire::KeyFamily, v1::KeyFamily> kKeyFamilies[] = {
    {desfire::KeyFamily::kDes, v1::KEY_FAMILY_DES},
    {desfire::KeyFamily::k3k3Des, v1::KEY_FAMILY_3TDEA},
    {desfire::KeyFamily::kAes, v1::KEY_FAMILY_AES},
};

// kUnknown has no proto spelling (CARD_GENERATION_UNSPECIFIED).
constexpr EnumRow<desfire::CardGeneration, v1::CardGeneration> kGenerations[] = {
    {desfire::CardGeneration::kEv0, v1::CARD_GENERATION_EV0},
    {desfire::CardGeneration::kEv1, v1::CARD_GENERATION_EV1},
    {desfire::CardGeneration::kEv2, v1::CARD_GENERATION_EV2},
    {desfire::CardGeneration::kEv3, v1::CARD_GENERATION_EV3},
    {desfire::CardGeneration::kLight, v1::CARD_GENERATION_LIGHT},
};

template <typename Core, typename Proto, size_t N>
std::optional<Proto> ProtoOf(const EnumRow<Core, Proto> (&table)[N], Core core) {
  return ValueOf(table, core);
}

template <typename Core, typename Proto, size_t N>
std::optional<Core> CoreOf(const EnumRow<Core, Proto> (&table)[N], Proto proto) {
  return KeyOf(table, proto);
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

}  // namespace

std::optional<CommMode> ModeFromProto(v1::CommunicationMode mode) {
  if (mode == v1::COMMUNICATION_MODE_UNSPECIFIED) return std::nullopt;
  return CoreOf(kModes, mode).value_or(CommMode::kPlain);
}

v1::CommunicationMode ModeToProto(CommMode mode) {
  return ProtoOf(kModes, mode).value_or(v1::COMMUNICATION_MODE_UNSPECIFIED);
}

desfire::AuthScheme AuthSchemeFromProto(v1::AuthScheme scheme) {
  return CoreOf(kAuthSchemes, scheme).value_or(desfire::AuthScheme::kNone);
}

v1::FileType FileTypeToProto(FileType type) {
  return ProtoOf(kFileTypes, type).value_or(v1::FILE_TYPE_UNSPECIFIED);
}

std::optional<FileType> FileTypeFromProto(v1::FileType type) { return CoreOf(kFileTypes, type); }

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
    if (in.sdm.has_value()) SdmSettingsToProto(*in.sdm, out->mutable_sdm());
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
  } else if (in.type == FileType::kTransactionMac) {
    out->mutable_transaction_mac()->set_key_version(in.tmac_key_version);
  }
}

void SdmSettingsToProto(const desfire::SdmSettings& in, v1::SdmSettings* out) {
  out->set_uid_mirror(in.uid_mirror);
  out->set_read_counter_mirror(in.read_ctr_mirror);
  out->set_encrypted_file_data(in.enc_file_data);
  out->set_meta_read(in.meta_read);
  out->set_file_read(in.file_read);
  out->set_counter_retrieval(in.ctr_ret);
  out->set_uid_offset(in.uid_offset);
  out->set_read_counter_offset(in.read_ctr_offset);
  out->set_picc_data_offset(in.picc_data_offset);
  out->set_mac_input_offset(in.mac_input_offset);
  out->set_encrypted_data_offset(in.enc_offset);
  out->set_encrypted_data_length(in.enc_length);
  out->set_mac_offset(in.mac_offset);
  if (in.read_ctr_limit.has_value()) out->set_read_counter_limit(*in.read_ctr_limit);
}

desfire::SdmSettings SdmSettingsFromProto(const v1::SdmSettings& in) {
  // Values beyond a byte stay out of range (0xFF) so that the encoder refuses them.
  auto nibble = [](uint32_t v) { return static_cast<uint8_t>(v > 0xFF ? 0xFF : v); };
  desfire::SdmSettings out{.uid_mirror = in.uid_mirror(),
                           .read_ctr_mirror = in.read_counter_mirror(),
                           .enc_file_data = in.encrypted_file_data(),
                           .meta_read = nibble(in.meta_read()),
                           .file_read = nibble(in.file_read()),
                           .ctr_ret = nibble(in.counter_retrieval()),
                           .uid_offset = in.uid_offset(),
                           .read_ctr_offset = in.read_counter_offset(),
                           .picc_data_offset = in.picc_data_offset(),
                           .mac_input_offset = in.mac_input_offset(),
                           .enc_offset = in.encrypted_data_offset(),
                           .enc_length = in.encrypted_data_length(),
                           .mac_offset = in.mac_offset()};
  if (in.has_read_counter_limit()) out.read_ctr_limit = in.read_counter_limit();
  return out;
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
  if (in.has_sdm()) out.sdm = SdmSettingsFromProto(in.sdm());
  out.tmac_key_version = static_cast<uint8_t>(in.transaction_mac().key_version());
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
  return ProtoOf(kKeyFamilies, family).value_or(v1::KEY_FAMILY_UNSPECIFIED);
}

desfire::KeyFamily KeyFamilyFromProto(v1::KeyFamily family) {
  return CoreOf(kKeyFamilies, family).value_or(desfire::KeyFamily::kDes);
}

v1::CardProduct CardProductToProto(desfire::CardProduct product) {
  // desfired.v1.CardProduct numbers the products in CardProduct's order (kUnknown: 0).
  static_assert(static_cast<int>(desfire::CardProduct::kDesfireEv0) ==
                v1::CARD_PRODUCT_DESFIRE_EV0);
  static_assert(static_cast<int>(desfire::CardProduct::kNtag424Dna) ==
                v1::CARD_PRODUCT_NTAG_424_DNA);
  const int n = static_cast<int>(product);
  return v1::CardProduct_IsValid(n) ? static_cast<v1::CardProduct>(n)
                                    : v1::CARD_PRODUCT_UNSPECIFIED;
}

v1::OriginalityVerdict OriginalityVerdictToProto(desfire::OriginalityVerdict verdict) {
  switch (verdict) {
    case desfire::OriginalityVerdict::kGenuine:
      return v1::ORIGINALITY_VERDICT_GENUINE;
    case desfire::OriginalityVerdict::kNotGenuine:
      return v1::ORIGINALITY_VERDICT_NOT_GENUINE;
    case desfire::OriginalityVerdict::kUnknownProduct:
      return v1::ORIGINALITY_VERDICT_UNKNOWN_PRODUCT;
  }
  return v1::ORIGINALITY_VERDICT_UNSPECIFIED;
}

v1::CardGeneration CardGenerationToProto(desfire::CardGeneration generation) {
  return ProtoOf(kGenerations, generation).value_or(v1::CARD_GENERATION_UNSPECIFIED);
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
  out->set_product(CardProductToProto(in.product));
  if (in.product != desfire::CardProduct::kUnknown) {
    out->set_product_name(std::string(desfire::CardProductName(in.product)));
  }
}

}  // namespace desfired
