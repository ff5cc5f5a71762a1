// SDM settings of ChangeFileSettings (core/desfire/sdm_settings.h): the AN12196 example, the
// checks before anything is sent, and the GetFileSettings tail decoded back.
#include "core/desfire/sdm_settings.h"

#include <gtest/gtest.h>

#include <string>

#include "core/apdu/scripted_transport.h"
#include "core/desfire/card.h"
#include "test_util.h"

namespace desfired::desfire {
namespace {

using testing::H;

// AN12196 §6.9 p.34 (as transcribed in MichaelsPlayground/TalkToYourDESFireCard DesfireEv3.java
// changeFileSettingsNtag424Dna): CmdData 40 00E0 C1 F121 200000 430000 430000 — UID and counter
// mirrored as PICCData under key 2, SDMMAC under key 1 over an empty input, SDMCtrRet 1.
SdmSettings An12196() {
  return {.uid_mirror = true,
          .read_ctr_mirror = true,
          .meta_read = 2,
          .file_read = 1,
          .ctr_ret = 1,
          .picc_data_offset = 0x20,
          .mac_input_offset = 0x43,
          .mac_offset = 0x43};
}

TEST(SdmSettingsTest, EncodesTheAn12196Example) {
  absl::StatusOr<Bytes> tail = EncodeSdmSettings(An12196(), {.file_size = 256});
  ASSERT_TRUE(tail.ok()) << tail.status();
  EXPECT_EQ(HexEncode(*tail), HexEncode(H("C1 F121 200000 430000 430000")));
  absl::StatusOr<SdmSettings> back = DecodeSdmSettings(*tail);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, An12196());
}

TEST(SdmSettingsTest, EncodesEveryField) {
  // Plain mirrors, file data, limit: UID, counter, MAC input, ENC offset and length, MAC, limit.
  const SdmSettings s{.uid_mirror = true,
                      .read_ctr_mirror = true,
                      .enc_file_data = true,
                      .meta_read = kSdmPlain,
                      .file_read = 3,
                      .ctr_ret = kSdmPlain,
                      .uid_offset = 10,
                      .read_ctr_offset = 30,
                      .mac_input_offset = 40,
                      .enc_offset = 40,
                      .enc_length = 32,
                      .mac_offset = 80,
                      .read_ctr_limit = 1000};
  absl::StatusOr<Bytes> tail = EncodeSdmSettings(s, {.file_size = 96});
  ASSERT_TRUE(tail.ok()) << tail.status();
  EXPECT_EQ(HexEncode(*tail),
            HexEncode(H("F1 FE E3 0A0000 1E0000 280000 280000 200000 500000 E80300")));
  EXPECT_EQ(*DecodeSdmSettings(*tail), s);
  EXPECT_FALSE(DecodeSdmSettings(H("F1 FE E3 0A0000")).ok());
  EXPECT_FALSE(DecodeSdmSettings(H("C1 F121 200000 430000 430000 00")).ok());
  EXPECT_FALSE(DecodeSdmSettings(H("C0 F121 200000 430000 430000")).ok());  // binary
}

TEST(SdmSettingsTest, RefusesSettingsThatDoNotFit) {
  struct Case {
    const char* name;
    SdmSettings sdm;
    uint32_t size;
    bool lrp;
    const char* field;
  };
  SdmSettings beyond = An12196();
  SdmSettings overlap = An12196();
  overlap.mac_input_offset = overlap.mac_offset = 0x30;
  SdmSettings unused = An12196();
  unused.uid_offset = 5;
  SdmSettings after = An12196();
  after.mac_input_offset = 0x50;
  SdmSettings enc = An12196();
  enc.enc_file_data = true;
  enc.enc_offset = 0x43;
  enc.enc_length = 20;
  SdmSettings nothing;
  nothing.meta_read = 1;
  SdmSettings file_plain = An12196();
  file_plain.file_read = kSdmPlain;
  SdmSettings big = An12196();
  big.read_ctr_limit = 0x1000000;
  const Case cases[] = {
      {"mac beyond the file", beyond, 0x50, false, "sdm.mac_offset"},
      {"lrp picc data into the mac", An12196(), 256, true, "sdm.mac_offset"},
      {"overlap", overlap, 256, false, "sdm.mac_offset"},
      {"unused field", unused, 256, false, "sdm.uid_offset"},
      {"input after mac", after, 256, false, "sdm.mac_input_offset"},
      {"enc length", enc, 256, false, "sdm.encrypted_data_length"},
      {"meta_read without mirrors", nothing, 256, false, "sdm.meta_read"},
      {"file_read 14", file_plain, 256, false, "sdm.file_read"},
      {"limit beyond 24 bits", big, 256, false, "sdm.read_counter_limit"},
  };
  for (const Case& c : cases) {
    absl::Status s = EncodeSdmSettings(c.sdm, {.file_size = c.size, .lrp = c.lrp}).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_NE(s.message().find(c.field), std::string::npos) << c.name << ": " << s;
  }
}

TEST(SdmSettingsTest, ChangeFileSettingsSendsTheSdmSettings) {
  // Change right free: sent plain. GetFileSettings first (the size bounds the mirrors), then
  // the settings, then GetFileSettings shows them.
  auto transport = *apdu::ScriptedTransport::FromHex({
      {"90 F5 00 00 01 02 00", "00 00 0EE0 000100 9100"},
      {"90 5F 00 00 10 02 40 0EE0 C1 F121 200000 430000 430000 00", "9100"},
      {"90 F5 00 00 01 02 00", "00 40 0EE0 000100 C1 F121 200000 430000 430000 9100"},
  });
  DesfireCard card(transport);
  const AccessRights access{
      .read = kAccessFree, .write = 0, .read_write = 0, .change = kAccessFree};
  ASSERT_TRUE(card.ChangeFileSettings(2, CommMode::kPlain, access, An12196()).ok());
  absl::StatusOr<FileSettings> settings = card.GetFileSettings(2);
  ASSERT_TRUE(settings.ok()) << settings.status();
  ASSERT_TRUE(settings->sdm.has_value());
  EXPECT_EQ(*settings->sdm, An12196());
  EXPECT_EQ(settings->file_size, 256u);
  EXPECT_TRUE(transport.Finished()) << transport.Remaining();
}

TEST(SdmSettingsTest, CheckedAgainstTheFileBeforeSending) {
  auto transport = *apdu::ScriptedTransport::FromHex({
      {"90 F5 00 00 01 02 00", "00 00 0EE0 400000 9100"},  // 64 bytes: the MAC does not fit
      {"90 F5 00 00 01 03 00", "01 00 0EE0 400000 9100"},  // a backup file
  });
  DesfireCard card(transport);
  EXPECT_EQ(card.ChangeFileSettings(2, CommMode::kPlain, {}, An12196()).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(card.ChangeFileSettings(3, CommMode::kPlain, {}, An12196()).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(transport.Finished()) << transport.Remaining();
}

TEST(SdmSettingsTest, CreateDataFileSetsTheSdmOption) {
  auto transport = *apdu::ScriptedTransport::FromHex({
      {"90 CD 00 00 07 02 40 0EE0 000100 00", "9100"},
  });
  DesfireCard card(transport);
  const AccessRights access{
      .read = kAccessFree, .write = 0, .read_write = 0, .change = kAccessFree};
  EXPECT_TRUE(card.CreateDataFile({.file_no = 2, .access = access, .size = 256, .sdm = true}).ok());
  EXPECT_EQ(
      card.CreateDataFile({.file_no = 3, .backup = true, .access = {}, .size = 32, .sdm = true})
          .code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(transport.Finished()) << transport.Remaining();
}

}  // namespace
}  // namespace desfired::desfire
