// Validate (server/rpc/card_validation.h) of the SDM settings of CreateFile (`settings.sdm`,
// checked against the file's size) and ChangeFileSettings (`sdm`, the size unknown until the
// card answers): each bad field is INVALID_ARGUMENT naming its proto path, in the metadata
// "field" and in a message that says what is wrong; good settings pass. The rules are
// core/desfire/sdm_settings.h's; the example is AN12196 §6.9 p.34 (40 00E0 C1 F121 200000
// 430000 430000: PICCData under key 2 at 0x20, SDMMAC under key 1 at 0x43 over an empty input).
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/convert/status_convert.h"
#include "server/rpc/card_validation.h"
#include "tests/unit/server/rpc/card_requests.h"

namespace desfired::server {
namespace {

using testing::Field;
using ::testing::HasSubstr;
using testing::MakeFileOf;

v1::SdmSettings An12196() {
  v1::SdmSettings sdm;
  sdm.set_uid_mirror(true);
  sdm.set_read_counter_mirror(true);
  sdm.set_meta_read(2);
  sdm.set_file_read(1);
  sdm.set_counter_retrieval(1);
  sdm.set_picc_data_offset(0x20);
  sdm.set_mac_input_offset(0x43);
  sdm.set_mac_offset(0x43);
  return sdm;
}

// Plain UID and counter mirrors, enciphered file data, a MAC and a limit: every offset used.
v1::SdmSettings EveryField() {
  v1::SdmSettings sdm;
  sdm.set_uid_mirror(true);
  sdm.set_read_counter_mirror(true);
  sdm.set_encrypted_file_data(true);
  sdm.set_meta_read(14);
  sdm.set_file_read(3);
  sdm.set_counter_retrieval(14);
  sdm.set_uid_offset(10);
  sdm.set_read_counter_offset(30);
  sdm.set_mac_input_offset(40);
  sdm.set_encrypted_data_offset(40);
  sdm.set_encrypted_data_length(32);
  sdm.set_mac_offset(80);
  sdm.set_read_counter_limit(1000);
  return sdm;
}

// A standard file of `size` bytes with `sdm`.
v1::CreateFileRequest CreateWith(const v1::SdmSettings& sdm, uint32_t size = 256) {
  v1::CreateFileRequest r = MakeFileOf(2, v1::FILE_TYPE_STANDARD, v1::COMMUNICATION_MODE_PLAIN);
  r.mutable_settings()->mutable_data()->set_size(size);
  *r.mutable_settings()->mutable_sdm() = sdm;
  return r;
}

v1::ChangeFileSettingsRequest ChangeWith(const v1::SdmSettings& sdm) {
  auto r = testing::OnFile<v1::ChangeFileSettingsRequest>(2, "app_master", 0);
  r.set_communication_mode(v1::COMMUNICATION_MODE_PLAIN);
  r.mutable_access_rights()->set_read(14);
  r.mutable_access_rights()->set_write(0);
  r.mutable_access_rights()->set_read_write(0);
  r.mutable_access_rights()->set_change_settings(0);
  *r.mutable_sdm() = sdm;
  return r;
}

struct Case {
  const char* name;
  std::function<void(v1::SdmSettings&)> change;  // applied to An12196()
  const char* field;                             // after the "settings.sdm." / "sdm." prefix
  const char* says;                              // in the message
};

// Bad settings that are bad whatever the file's size.
std::vector<Case> BadAnywhere() {
  return {
      {"meta_read 16", [](v1::SdmSettings& s) { s.set_meta_read(16); }, "meta_read",
       "key number 0..13, 14 (plain) or 15 (none)"},
      {"meta_read beyond a byte (0x10E is not 14)",
       [](v1::SdmSettings& s) { s.set_meta_read(0x10E); }, "meta_read", "key number 0..13"},
      {"file_read 14", [](v1::SdmSettings& s) { s.set_file_read(14); }, "file_read", "0..13 or 15"},
      {"counter_retrieval 16", [](v1::SdmSettings& s) { s.set_counter_retrieval(16); },
       "counter_retrieval", "0..15"},
      {"counter_retrieval beyond a byte",
       [](v1::SdmSettings& s) { s.set_counter_retrieval(0x10001); }, "counter_retrieval", "0..15"},
      {"mirrors without a meta_read",
       [](v1::SdmSettings& s) {
         s.set_meta_read(15);
         s.clear_picc_data_offset();
       },
       "meta_read", "needs meta_read 0..14"},
      {"meta_read without mirrors",
       [](v1::SdmSettings& s) {
         s.clear_uid_mirror();
         s.clear_read_counter_mirror();
       },
       "meta_read", "neither the UID nor the counter is mirrored"},
      {"an offset the settings do not use", [](v1::SdmSettings& s) { s.set_uid_offset(5); },
       "uid_offset", "is set but the other settings do not use it"},
      {"MAC offsets without a file_read key", [](v1::SdmSettings& s) { s.set_file_read(15); },
       "mac_input_offset", "is set but the other settings do not use it"},
      {"an offset beyond 24 bits", [](v1::SdmSettings& s) { s.set_picc_data_offset(0x1000000); },
       "picc_data_offset", "does not fit in 24 bits"},
      {"the MAC input after the MAC", [](v1::SdmSettings& s) { s.set_mac_input_offset(0x50); },
       "mac_input_offset", "must not lie after mac_offset"},
      {"PICCData and MAC overlapping",
       [](v1::SdmSettings& s) {
         s.set_mac_input_offset(0x30);
         s.set_mac_offset(0x30);
       },
       "mac_offset", "overlaps the one at picc_data_offset"},
      {"enciphered data without a file_read key",
       [](v1::SdmSettings& s) {
         s.set_encrypted_file_data(true);
         s.set_file_read(15);
       },
       "file_read", "needs a file_read key"},
      {"enciphered data without both mirrors",
       [](v1::SdmSettings& s) {
         s.set_encrypted_file_data(true);
         s.clear_read_counter_mirror();
       },
       "encrypted_file_data", "both the UID and counter mirrors"},
      {"enciphered data of 20 characters",
       [](v1::SdmSettings& s) {
         s.set_encrypted_file_data(true);
         s.set_encrypted_data_offset(0x43);
         s.set_encrypted_data_length(20);
       },
       "encrypted_data_length", "multiple of 32"},
      {"enciphered data outside the MAC input",
       [](v1::SdmSettings& s) {
         s.set_encrypted_file_data(true);
         s.set_mac_offset(0x90);
         s.set_encrypted_data_offset(0x70);
         s.set_encrypted_data_length(64);
       },
       "encrypted_data_offset", "between mac_input_offset and mac_offset"},
      {"enciphered data settings without enciphered data",
       [](v1::SdmSettings& s) { s.set_encrypted_data_length(32); }, "encrypted_data_length",
       "is set but the other settings do not use it"},
      {"a read counter limit beyond 24 bits",
       [](v1::SdmSettings& s) { s.set_read_counter_limit(0x1000000); }, "read_counter_limit",
       "does not fit in 24 bits"},
  };
}

void ExpectInvalid(const absl::Status& status, const std::string& field, const char* says,
                   const char* name) {
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << name << ": " << status;
  EXPECT_EQ(Field(status), field) << name << ": " << status;
  EXPECT_EQ(ToErrorInfo(status).reason(), "INVALID_ARGUMENT") << name;
  // The message names the field and says what is wrong with it.
  EXPECT_THAT(std::string(status.message()), HasSubstr(field)) << name;
  EXPECT_THAT(std::string(status.message()), HasSubstr(says)) << name;
}

TEST(SdmValidationTest, GoodSettingsPass) {
  absl::Status s = Validate(CreateWith(An12196()));
  EXPECT_TRUE(s.ok()) << s;
  s = Validate(CreateWith(EveryField(), 96));  // the MAC's 16 characters end at 96
  EXPECT_TRUE(s.ok()) << s;
  v1::SdmSettings no_access;  // SDM on, nothing mirrored, no MAC, the counter free to read
  no_access.set_meta_read(15);
  no_access.set_file_read(15);
  no_access.set_counter_retrieval(14);
  s = Validate(CreateWith(no_access));
  EXPECT_TRUE(s.ok()) << s;
  s = Validate(ChangeWith(An12196()));
  EXPECT_TRUE(s.ok()) << s;
  s = Validate(ChangeWith(EveryField()));
  EXPECT_TRUE(s.ok()) << s;
}

TEST(SdmValidationTest, CreateFileNamesEachBadField) {
  for (const Case& c : BadAnywhere()) {
    v1::SdmSettings sdm = An12196();
    c.change(sdm);
    ExpectInvalid(Validate(CreateWith(sdm)), std::string("settings.sdm.") + c.field, c.says,
                  c.name);
  }
}

TEST(SdmValidationTest, ChangeFileSettingsNamesEachBadField) {
  for (const Case& c : BadAnywhere()) {
    v1::SdmSettings sdm = An12196();
    c.change(sdm);
    ExpectInvalid(Validate(ChangeWith(sdm)), std::string("sdm.") + c.field, c.says, c.name);
  }
}

TEST(SdmValidationTest, CreateFileChecksTheMirrorsAgainstTheFileSize) {
  // The MAC's 16 characters at 0x43 end at 83.
  EXPECT_TRUE(Validate(CreateWith(An12196(), 83)).ok());
  ExpectInvalid(Validate(CreateWith(An12196(), 82)), "settings.sdm.mac_offset",
                "ends beyond the 82-byte file", "the MAC one byte beyond");
  // The PICCData (32 characters at 0x20) beyond a 48-byte file is named before the MAC.
  ExpectInvalid(Validate(CreateWith(An12196(), 48)), "settings.sdm.picc_data_offset",
                "(32 characters at 32) ends beyond the 48-byte file", "PICCData beyond");
  v1::SdmSettings plain = EveryField();
  ExpectInvalid(Validate(CreateWith(plain, 95)), "settings.sdm.mac_offset",
                "ends beyond the 95-byte file", "plain mirrors, MAC beyond");
  // ChangeFileSettings cannot know the size: offsets anywhere in 24 bits pass here (the card
  // operation checks them against GetFileSettings before sending).
  v1::SdmSettings far = An12196();
  far.set_picc_data_offset(0xFFFF00);
  far.set_mac_input_offset(0xFFFFE0);
  far.set_mac_offset(0xFFFFE0);
  absl::Status s = Validate(ChangeWith(far));
  EXPECT_TRUE(s.ok()) << s;
  ExpectInvalid(Validate(CreateWith(far)), "settings.sdm.picc_data_offset", "beyond",
                "far offsets in a file");
}

TEST(SdmValidationTest, CreateFileTakesSdmOnStandardFilesOnly) {
  for (v1::FileType type : {v1::FILE_TYPE_BACKUP, v1::FILE_TYPE_VALUE, v1::FILE_TYPE_LINEAR_RECORD,
                            v1::FILE_TYPE_CYCLIC_RECORD}) {
    v1::CreateFileRequest r = MakeFileOf(2, type, v1::COMMUNICATION_MODE_PLAIN);
    *r.mutable_settings()->mutable_sdm() = An12196();
    const absl::Status s = Validate(r);
    EXPECT_EQ(Field(s), "settings.sdm") << s;
    EXPECT_EQ(std::string(s.message()),
              "SDM applies to standard data files only, not " + v1::FileType_Name(type));
  }
}

TEST(SdmValidationTest, AnEmptySdmMessageIsRefusedWithAHint) {
  // proto3's zeros read as key 0 for meta_read, file_read and counter_retrieval (not "none"):
  // settings that enable SDM and configure nothing must say which value means none.
  const absl::Status s = Validate(CreateWith(v1::SdmSettings()));
  ExpectInvalid(s, "settings.sdm.meta_read", "neither the UID nor the counter is mirrored",
                "empty");
  EXPECT_THAT(std::string(s.message()), HasSubstr("15"));
}

}  // namespace
}  // namespace desfired::server
