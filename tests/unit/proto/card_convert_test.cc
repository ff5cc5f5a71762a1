// The card conversions of proto/convert/card_convert.h: every enum value both ways, settings
// (SDM settings field by field) and key settings round trips, the version's BCD dates and
// vendor name.
#include "proto/convert/card_convert.h"

#include <cstdint>
#include <optional>

#include "gtest/gtest.h"

namespace desfired {
namespace {

using desfire::CommMode;
using desfire::FileType;

TEST(CardConvertTest, CommunicationModes) {
  EXPECT_EQ(ModeFromProto(v1::COMMUNICATION_MODE_UNSPECIFIED), std::nullopt);
  EXPECT_EQ(ModeFromProto(v1::COMMUNICATION_MODE_PLAIN), CommMode::kPlain);
  EXPECT_EQ(ModeFromProto(v1::COMMUNICATION_MODE_MAC), CommMode::kMac);
  EXPECT_EQ(ModeFromProto(v1::COMMUNICATION_MODE_FULL), CommMode::kFull);
  for (CommMode mode : {CommMode::kPlain, CommMode::kMac, CommMode::kFull}) {
    EXPECT_EQ(ModeFromProto(ModeToProto(mode)), mode);
  }
}

TEST(CardConvertTest, AuthSchemes) {
  EXPECT_EQ(AuthSchemeFromProto(v1::AUTH_SCHEME_UNSPECIFIED), desfire::AuthScheme::kNone);
  EXPECT_EQ(AuthSchemeFromProto(v1::AUTH_SCHEME_LEGACY), desfire::AuthScheme::kLegacy);
  EXPECT_EQ(AuthSchemeFromProto(v1::AUTH_SCHEME_ISO), desfire::AuthScheme::kIso);
  EXPECT_EQ(AuthSchemeFromProto(v1::AUTH_SCHEME_AES), desfire::AuthScheme::kAes);
  EXPECT_EQ(AuthSchemeFromProto(v1::AUTH_SCHEME_EV2), desfire::AuthScheme::kEv2);
  EXPECT_EQ(AuthSchemeFromProto(v1::AUTH_SCHEME_LRP), desfire::AuthScheme::kLrp);
  EXPECT_EQ(AuthSchemeFromProto(static_cast<v1::AuthScheme>(7)), desfire::AuthScheme::kNone);
}

TEST(CardConvertTest, FileTypesBothWays) {
  const std::pair<FileType, v1::FileType> all[] = {
      {FileType::kStandardData, v1::FILE_TYPE_STANDARD},
      {FileType::kBackupData, v1::FILE_TYPE_BACKUP},
      {FileType::kValue, v1::FILE_TYPE_VALUE},
      {FileType::kLinearRecord, v1::FILE_TYPE_LINEAR_RECORD},
      {FileType::kCyclicRecord, v1::FILE_TYPE_CYCLIC_RECORD},
      {FileType::kTransactionMac, v1::FILE_TYPE_TRANSACTION_MAC}};
  for (const auto& [core, proto] : all) {
    EXPECT_EQ(FileTypeToProto(core), proto);
    EXPECT_EQ(FileTypeFromProto(proto), core);
  }
  EXPECT_EQ(FileTypeFromProto(v1::FILE_TYPE_UNSPECIFIED), std::nullopt);
}

TEST(CardConvertTest, FileSettingsByType) {
  desfire::FileSettings value;
  value.type = FileType::kValue;
  value.comm_mode = CommMode::kFull;
  value.access = {.read = 1, .write = 2, .read_write = 3, .change = 0};
  value.lower_limit = -5;
  value.upper_limit = 100000;
  value.limited_credit_value = 40;
  value.limited_credit_enabled = true;
  value.free_get_value = true;
  v1::FileSettings out;
  FileSettingsToProto(value, &out);
  EXPECT_EQ(out.file_type(), v1::FILE_TYPE_VALUE);
  EXPECT_EQ(out.communication_mode(), v1::COMMUNICATION_MODE_FULL);
  EXPECT_EQ(out.access_rights().read(), 1u);
  EXPECT_EQ(out.access_rights().write(), 2u);
  EXPECT_EQ(out.access_rights().read_write(), 3u);
  EXPECT_EQ(out.access_rights().change_settings(), 0u);
  ASSERT_EQ(out.type_settings_case(), v1::FileSettings::kValue);
  EXPECT_EQ(out.value().lower_limit(), -5);
  EXPECT_EQ(out.value().upper_limit(), 100000);
  EXPECT_EQ(out.value().limited_credit_value(), 40);
  EXPECT_TRUE(out.value().limited_credit_enabled());
  EXPECT_TRUE(out.value().free_get_value());
  std::optional<desfire::FileSettings> back = FileSettingsFromProto(out);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->type, FileType::kValue);
  EXPECT_EQ(back->comm_mode, CommMode::kFull);
  EXPECT_EQ(back->access, value.access);
  EXPECT_EQ(back->lower_limit, -5);
  EXPECT_EQ(back->upper_limit, 100000);
  EXPECT_TRUE(back->limited_credit_enabled);
  EXPECT_TRUE(back->free_get_value);

  desfire::FileSettings backup;
  backup.type = FileType::kBackupData;
  backup.comm_mode = CommMode::kMac;
  backup.file_size = 32;
  out.Clear();
  FileSettingsToProto(backup, &out);
  ASSERT_EQ(out.type_settings_case(), v1::FileSettings::kData);
  EXPECT_EQ(out.data().size(), 32u);
  back = FileSettingsFromProto(out);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->type, FileType::kBackupData);
  EXPECT_EQ(back->file_size, 32u);

  desfire::FileSettings records;
  records.type = FileType::kCyclicRecord;
  records.record_size = 32;
  records.max_records = 11;
  records.current_records = 6;
  out.Clear();
  FileSettingsToProto(records, &out);
  ASSERT_EQ(out.type_settings_case(), v1::FileSettings::kRecord);
  EXPECT_EQ(out.communication_mode(), v1::COMMUNICATION_MODE_PLAIN);
  EXPECT_EQ(out.record().record_size(), 32u);
  EXPECT_EQ(out.record().max_records(), 11u);
  EXPECT_EQ(out.record().current_records(), 6u);
  back = FileSettingsFromProto(out);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->record_size, 32u);
  EXPECT_EQ(back->max_records, 11u);

  desfire::FileSettings tmac;
  tmac.type = FileType::kTransactionMac;
  tmac.tmac_key_option = 0x02;
  tmac.tmac_key_version = 7;
  out.Clear();
  FileSettingsToProto(tmac, &out);
  EXPECT_EQ(out.type_settings_case(), v1::FileSettings::kTransactionMac);
  EXPECT_EQ(out.transaction_mac().key_version(), 7u);
  EXPECT_TRUE(out.transaction_mac().key_name().empty());  // never output
  back = FileSettingsFromProto(out);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->type, FileType::kTransactionMac);
  EXPECT_EQ(back->tmac_key_version, 7);

  // A file to create needs a type; a mode left unspecified reads as plain.
  v1::FileSettings no_type;
  EXPECT_FALSE(FileSettingsFromProto(no_type).has_value());
  no_type.set_file_type(v1::FILE_TYPE_STANDARD);
  back = FileSettingsFromProto(no_type);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->comm_mode, CommMode::kPlain);
  EXPECT_EQ(back->file_size, 0u);
}

// Every SdmSettings field with a value of its own, so that a field written to or read from
// another one shows.
desfire::SdmSettings EveryField() {
  return {.uid_mirror = true,
          .read_ctr_mirror = true,
          .enc_file_data = true,
          .meta_read = 3,
          .file_read = 4,
          .ctr_ret = 5,
          .uid_offset = 101,
          .read_ctr_offset = 202,
          .picc_data_offset = 303,
          .mac_input_offset = 404,
          .enc_offset = 505,
          .enc_length = 64,
          .mac_offset = 0xFFFFFF,
          .read_ctr_limit = 707};
}

TEST(CardConvertTest, SdmSettingsEveryFieldBothWays) {
  v1::SdmSettings out;
  SdmSettingsToProto(EveryField(), &out);
  EXPECT_TRUE(out.uid_mirror());
  EXPECT_TRUE(out.read_counter_mirror());
  EXPECT_TRUE(out.encrypted_file_data());
  EXPECT_EQ(out.meta_read(), 3u);
  EXPECT_EQ(out.file_read(), 4u);
  EXPECT_EQ(out.counter_retrieval(), 5u);
  EXPECT_EQ(out.uid_offset(), 101u);
  EXPECT_EQ(out.read_counter_offset(), 202u);
  EXPECT_EQ(out.picc_data_offset(), 303u);
  EXPECT_EQ(out.mac_input_offset(), 404u);
  EXPECT_EQ(out.encrypted_data_offset(), 505u);
  EXPECT_EQ(out.encrypted_data_length(), 64u);
  EXPECT_EQ(out.mac_offset(), 0xFFFFFFu);
  ASSERT_TRUE(out.has_read_counter_limit());
  EXPECT_EQ(out.read_counter_limit(), 707u);
  EXPECT_EQ(SdmSettingsFromProto(out), EveryField());

  // Each boolean alone, so that one cannot stand in for another.
  for (int bit = 0; bit < 3; ++bit) {
    desfire::SdmSettings one;
    one.uid_mirror = bit == 0;
    one.read_ctr_mirror = bit == 1;
    one.enc_file_data = bit == 2;
    out.Clear();
    SdmSettingsToProto(one, &out);
    EXPECT_EQ(SdmSettingsFromProto(out), one) << bit;
  }

  // No limit: the optional field stays unset both ways (0 is a limit).
  desfire::SdmSettings no_limit = EveryField();
  no_limit.read_ctr_limit.reset();
  out.Clear();
  SdmSettingsToProto(no_limit, &out);
  EXPECT_FALSE(out.has_read_counter_limit());
  EXPECT_EQ(SdmSettingsFromProto(out).read_ctr_limit, std::nullopt);
  out.set_read_counter_limit(0);
  EXPECT_EQ(SdmSettingsFromProto(out).read_ctr_limit, std::optional<uint32_t>(0));
}

TEST(CardConvertTest, SdmAccessValuesBeyondAByteStayOutOfRange) {
  // The access values are nibbles on the card; a value that does not fit a byte must not wrap
  // into a valid one (0x10E would be 14, plain) but stay out of range for the encoder to refuse.
  v1::SdmSettings in;
  in.set_meta_read(0x10E);
  in.set_file_read(0x101);
  in.set_counter_retrieval(0xFFFFFFFF);
  desfire::SdmSettings out = SdmSettingsFromProto(in);
  EXPECT_EQ(out.meta_read, 0xFF);
  EXPECT_EQ(out.file_read, 0xFF);
  EXPECT_EQ(out.ctr_ret, 0xFF);
  // Within a byte a value is kept as given (16 is refused by the encoder, not changed here).
  in.set_meta_read(16);
  EXPECT_EQ(SdmSettingsFromProto(in).meta_read, 16);
  // Offsets and lengths are carried in full (the encoder refuses what exceeds 24 bits).
  in.set_mac_offset(0x1000000);
  in.set_encrypted_data_length(0xFFFFFFFF);
  EXPECT_EQ(SdmSettingsFromProto(in).mac_offset, 0x1000000u);
  EXPECT_EQ(SdmSettingsFromProto(in).enc_length, 0xFFFFFFFFu);
}

TEST(CardConvertTest, SdmSettingsOfAnEmptyMessageAreKeyZeroNotNone) {
  // proto3 gives 0 for an unset field, and 0 is key 0: an empty SdmSettings is not "no SDM
  // access" (15) as desfire::SdmSettings' defaults are.
  const desfire::SdmSettings out = SdmSettingsFromProto(v1::SdmSettings());
  EXPECT_EQ(out.meta_read, 0);
  EXPECT_EQ(out.file_read, 0);
  EXPECT_EQ(out.ctr_ret, 0);
  EXPECT_FALSE(out.uid_mirror || out.read_ctr_mirror || out.enc_file_data);
  EXPECT_EQ(out.read_ctr_limit, std::nullopt);
}

TEST(CardConvertTest, FileSettingsCarrySdmOfDataFilesOnly) {
  desfire::FileSettings file;
  file.type = FileType::kStandardData;
  file.file_size = 256;
  file.sdm = EveryField();
  v1::FileSettings out;
  FileSettingsToProto(file, &out);
  ASSERT_TRUE(out.has_sdm());
  EXPECT_EQ(out.data().size(), 256u);
  EXPECT_EQ(SdmSettingsFromProto(out.sdm()), EveryField());
  std::optional<desfire::FileSettings> back = FileSettingsFromProto(out);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->sdm, EveryField());

  // Without SDM none comes back (not an SdmSettings of zeros).
  file.sdm.reset();
  out.Clear();
  FileSettingsToProto(file, &out);
  EXPECT_FALSE(out.has_sdm());
  back = FileSettingsFromProto(out);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->sdm, std::nullopt);

  // A value file's answer has no SDM settings to carry, whatever the core struct holds.
  desfire::FileSettings value;
  value.type = FileType::kValue;
  value.sdm = EveryField();
  out.Clear();
  FileSettingsToProto(value, &out);
  EXPECT_FALSE(out.has_sdm());
}

TEST(CardConvertTest, KeySettingsByteBothWays) {
  v1::KeySettings settings;
  settings.set_master_key_changeable(true);
  settings.set_configuration_changeable(true);
  settings.set_change_key_access(1);
  EXPECT_EQ(KeySettingsFromProto(settings), 0x19);
  for (int byte = 0; byte < 256; ++byte) {
    v1::KeySettings out;
    KeySettingsToProto(static_cast<uint8_t>(byte), &out);
    EXPECT_EQ(KeySettingsFromProto(out), byte);
  }
  v1::KeySettings transit;
  KeySettingsToProto(0x0B, &transit);
  EXPECT_TRUE(transit.master_key_changeable());
  EXPECT_TRUE(transit.free_directory_list());
  EXPECT_FALSE(transit.free_create_delete());
  EXPECT_TRUE(transit.configuration_changeable());
  EXPECT_EQ(transit.change_key_access(), 0u);
}

TEST(CardConvertTest, KeyFamiliesAndGenerations) {
  const std::pair<desfire::KeyFamily, v1::KeyFamily> families[] = {
      {desfire::KeyFamily::kDes, v1::KEY_FAMILY_DES},
      {desfire::KeyFamily::k3k3Des, v1::KEY_FAMILY_3TDEA},
      {desfire::KeyFamily::kAes, v1::KEY_FAMILY_AES}};
  for (const auto& [core, proto] : families) {
    EXPECT_EQ(KeyFamilyToProto(core), proto);
    EXPECT_EQ(KeyFamilyFromProto(proto), core);
  }
  EXPECT_EQ(KeyFamilyFromProto(v1::KEY_FAMILY_UNSPECIFIED), desfire::KeyFamily::kDes);

  EXPECT_EQ(CardGenerationToProto(desfire::CardGeneration::kEv0), v1::CARD_GENERATION_EV0);
  EXPECT_EQ(CardGenerationToProto(desfire::CardGeneration::kEv1), v1::CARD_GENERATION_EV1);
  EXPECT_EQ(CardGenerationToProto(desfire::CardGeneration::kEv2), v1::CARD_GENERATION_EV2);
  EXPECT_EQ(CardGenerationToProto(desfire::CardGeneration::kEv3), v1::CARD_GENERATION_EV3);
  EXPECT_EQ(CardGenerationToProto(desfire::CardGeneration::kLight), v1::CARD_GENERATION_LIGHT);
  EXPECT_EQ(CardGenerationToProto(desfire::CardGeneration::kUnknown),
            v1::CARD_GENERATION_UNSPECIFIED);
}

TEST(CardConvertTest, EveryProduct) {
  const std::pair<desfire::CardProduct, v1::CardProduct> all[] = {
      {desfire::CardProduct::kUnknown, v1::CARD_PRODUCT_UNSPECIFIED},
      {desfire::CardProduct::kDesfireEv0, v1::CARD_PRODUCT_DESFIRE_EV0},
      {desfire::CardProduct::kDesfireEv1, v1::CARD_PRODUCT_DESFIRE_EV1},
      {desfire::CardProduct::kDesfireEv2, v1::CARD_PRODUCT_DESFIRE_EV2},
      {desfire::CardProduct::kDesfireEv2Xl, v1::CARD_PRODUCT_DESFIRE_EV2_XL},
      {desfire::CardProduct::kDesfireEv3, v1::CARD_PRODUCT_DESFIRE_EV3},
      {desfire::CardProduct::kDesfireLight, v1::CARD_PRODUCT_DESFIRE_LIGHT},
      {desfire::CardProduct::kNtag424Dna, v1::CARD_PRODUCT_NTAG_424_DNA}};
  for (const auto& [core, proto] : all) EXPECT_EQ(CardProductToProto(core), proto);
  EXPECT_EQ(CardProductToProto(static_cast<desfire::CardProduct>(99)),
            v1::CARD_PRODUCT_UNSPECIFIED);
}

TEST(CardConvertTest, CardVersionDecodesBcdDatesAndNamesNxp) {
  desfire::CardVersion version;
  version.hardware = {.vendor_id = 0x04,
                      .type = 0x01,
                      .subtype = 0x01,
                      .major_version = 0x01,
                      .minor_version = 0x00,
                      .storage_size = 0x1A,
                      .protocol = 0x05};
  version.software = version.hardware;
  version.software.major_version = 0x01;
  version.uid = {0x04, 0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6};
  version.batch_number = {1, 2, 3, 4, 5};
  version.production_week = 0x49;
  version.production_year = 0x13;
  version.generation = desfire::CardGeneration::kEv1;
  version.storage_bytes = 8192;
  version.storage_larger = false;
  v1::CardVersion out;
  CardVersionToProto(version, &out);
  EXPECT_EQ(out.production_week(), 49u);
  EXPECT_EQ(out.production_year(), 2013u);
  EXPECT_EQ(out.vendor(), "NXP");
  EXPECT_EQ(out.hardware().vendor_id(), 0x04u);
  EXPECT_EQ(out.hardware().storage_size_code(), 0x1Au);
  EXPECT_EQ(out.hardware().protocol(), 0x05u);
  EXPECT_EQ(out.uid(), std::string("\x04\xa1\xb2\xc3\xd4\xe5\xf6", 7));
  EXPECT_EQ(out.batch_number(), std::string("\x01\x02\x03\x04\x05", 5));
  EXPECT_EQ(out.generation(), v1::CARD_GENERATION_EV1);
  EXPECT_EQ(out.product(), v1::CARD_PRODUCT_UNSPECIFIED);  // not set on `version`
  EXPECT_EQ(out.product_name(), "");
  version.product = desfire::CardProduct::kDesfireEv1;
  CardVersionToProto(version, &out);
  EXPECT_EQ(out.product(), v1::CARD_PRODUCT_DESFIRE_EV1);
  EXPECT_EQ(out.product_name(), "DESFire EV1");
  EXPECT_EQ(out.storage_size_bytes(), 8192u);
  EXPECT_FALSE(out.storage_size_exceeds());

  version.hardware.vendor_id = 0x05;
  CardVersionToProto(version, &out);
  EXPECT_EQ(out.vendor(), "");
}

}  // namespace
}  // namespace desfired
