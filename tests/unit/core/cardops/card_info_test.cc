// GetCardInfo, ListApplications (card_info.h), ListFiles and GetFileSettings (file_info.h) over
// the emulated transit card.
#include "core/cardops/card_info.h"

#include <cstdint>
#include <vector>

#include "core/cardops/file_info.h"
#include "gtest/gtest.h"
#include "tests/unit/core/cardops/fixture.h"

namespace desfired::cardops {
namespace {

TEST_F(CardOpsTest, GetCardInfoReportsVersionUidMemoryAndApplications) {
  auto info = GetCardInfo(ctx_, {.target = {.reader = kReader}});
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->reader, kReader);
  EXPECT_EQ(info->uid, Hex("04a1b2c3d4e5f6"));
  EXPECT_FALSE(info->random_uid);
  EXPECT_EQ(info->atr, ctx_.atr);
  EXPECT_EQ(info->version.generation, desfire::CardGeneration::kEv1);
  EXPECT_EQ(info->version.hardware.vendor_id, 0x04u);  // NXP
  EXPECT_EQ(info->version.storage_bytes, 8192u);
  EXPECT_EQ(info->version.production_year, 0x13);  // BCD: 2013
  EXPECT_EQ(info->version.production_week, 0x49);  // BCD: week 49
  EXPECT_EQ(info->free_memory, state().FreeMemory());
  EXPECT_GT(info->free_memory, 0u);
  EXPECT_LT(info->free_memory, 7936u);
  ASSERT_TRUE(info->key_settings.has_value());
  EXPECT_NE(info->key_settings->settings & desfire::kKeySettingFreeDirectoryList, 0);
  EXPECT_NE(info->key_settings->settings & desfire::kKeySettingConfigurationChangeable, 0);
  EXPECT_EQ(info->key_settings->key_family, desfire::KeyFamily::kDes);
  EXPECT_EQ(info->master_key_version, 0u);
  EXPECT_TRUE(info->aids_listed);
  EXPECT_EQ(info->aids, std::vector<uint32_t>{kTransitAid});
}

TEST_F(CardOpsTest, GetCardInfoWithMasterKeyReadsUidFromCard) {
  auto info = GetCardInfo(ctx_, {.target = {.reader = kReader}, .auth = Key("picc", 0)});
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->uid, Hex("04a1b2c3d4e5f6"));
  EXPECT_FALSE(info->random_uid);
  EXPECT_TRUE(info->aids_listed);
}

TEST_F(CardOpsTest, ListApplicationsPagesWithDfNames) {
  Load("blank.json");
  for (uint32_t aid : {0x000003u, 0x000001u, 0x000002u}) {
    CreateApplicationRequest create{
        .target = {.reader = kReader},
        .auth = Key("picc", 0),
        .application = {.aid = aid,
                        .key_settings = desfire::kKeySettingAllowChangeMasterKey |
                                        desfire::kKeySettingConfigurationChangeable,
                        .num_keys = 1,
                        .key_family = desfire::KeyFamily::kAes}};
    if (aid == 2) {
      create.application.iso_file_id = 0xE105;
      create.application.df_name = BytesOf("DESFIRED");
    }
    absl::Status created = CreateApplication(ctx_, create);
    ASSERT_TRUE(created.ok()) << created;
  }
  ListApplicationsRequest request{.target = {.reader = kReader}, .page_size = 1};
  std::vector<uint32_t> seen;
  for (int page = 0; page < 3; ++page) {
    auto listed = ListApplications(ctx_, request);
    ASSERT_TRUE(listed.ok()) << listed.status();
    ASSERT_EQ(listed->applications.size(), 1u);
    const Application& app = listed->applications[0];
    seen.push_back(app.aid);
    if (app.aid == 2) {
      EXPECT_TRUE(app.iso_file_id.has_value());
      EXPECT_EQ(app.iso_file_id, 0xE105u);
      EXPECT_EQ(app.df_name, BytesOf("DESFIRED"));
    } else {
      EXPECT_FALSE(app.iso_file_id.has_value());
      EXPECT_TRUE(app.df_name.empty());
    }
    EXPECT_EQ(listed->next_page_token.empty(), page == 2);
    request.page_token = listed->next_page_token;
  }
  EXPECT_EQ(seen, (std::vector<uint32_t>{1, 2, 3}));
  // One page with the default size holds them all.
  request.page_size = 0;
  request.page_token.clear();
  auto all = ListApplications(ctx_, request);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->applications.size(), 3u);
  EXPECT_TRUE(all->next_page_token.empty());
}

TEST_F(CardOpsTest, ListFilesPagesAndIncludesSettings) {
  auto request = On<ListFilesRequest>();
  request.page_size = 2;
  request.include_settings = true;
  std::vector<uint32_t> seen;
  for (int page = 0; page < 3; ++page) {
    auto listed = ListFiles(ctx_, request);
    ASSERT_TRUE(listed.ok()) << listed.status();
    ASSERT_EQ(listed->files.size(), page < 2 ? 2u : 1u);
    for (const FileEntry& f : listed->files) {
      seen.push_back(f.file_no);
      EXPECT_TRUE(f.settings.has_value());
    }
    if (page == 0) {
      ASSERT_TRUE(listed->files[0].settings.has_value());
      const desfire::FileSettings& value = *listed->files[0].settings;
      EXPECT_EQ(value.type, desfire::FileType::kValue);
      EXPECT_EQ(value.comm_mode, desfire::CommMode::kFull);
      EXPECT_EQ(value.access.read, 1u);
      EXPECT_EQ(value.access.write, 2u);
      EXPECT_EQ(value.access.read_write, 3u);
      EXPECT_EQ(value.access.change, 0u);
      EXPECT_EQ(value.upper_limit, 100000);
      EXPECT_TRUE(value.limited_credit_enabled);
      ASSERT_TRUE(listed->files[1].settings.has_value());
      const desfire::FileSettings& backup = *listed->files[1].settings;
      EXPECT_EQ(backup.type, desfire::FileType::kBackupData);
      EXPECT_EQ(backup.comm_mode, desfire::CommMode::kMac);
      EXPECT_EQ(backup.file_size, 32u);
    }
    EXPECT_EQ(listed->next_page_token.empty(), page == 2);
    request.page_token = listed->next_page_token;
  }
  EXPECT_EQ(seen, (std::vector<uint32_t>{1, 2, 3, 4, 5}));
  // Without settings.
  request.include_settings = false;
  request.page_size = 0;
  request.page_token.clear();
  auto plain = ListFiles(ctx_, request);
  ASSERT_TRUE(plain.ok()) << plain.status();
  ASSERT_EQ(plain->files.size(), 5u);
  EXPECT_FALSE(plain->files[0].settings.has_value());
}

TEST_F(CardOpsTest, GetFileSettingsOfRecordAndDataFiles) {
  auto request = On<GetFileSettingsRequest>();
  request.file_no = 3;
  auto records = GetFileSettings(ctx_, request);
  ASSERT_TRUE(records.ok()) << records.status();
  EXPECT_EQ(records->type, desfire::FileType::kCyclicRecord);
  EXPECT_EQ(records->comm_mode, desfire::CommMode::kMac);
  EXPECT_EQ(records->record_size, 32u);
  EXPECT_EQ(records->max_records, 11u);
  EXPECT_EQ(records->current_records, 6u);

  request.file_no = 4;
  auto standard = GetFileSettings(ctx_, request);
  ASSERT_TRUE(standard.ok()) << standard.status();
  EXPECT_EQ(standard->type, desfire::FileType::kStandardData);
  EXPECT_EQ(standard->comm_mode, desfire::CommMode::kPlain);
  EXPECT_EQ(standard->access.read, 14u);
  EXPECT_EQ(standard->file_size, 32u);

  request.file_no = 9;
  auto missing = GetFileSettings(ctx_, request);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound) << missing.status();
}

}  // namespace
}  // namespace desfired::cardops
