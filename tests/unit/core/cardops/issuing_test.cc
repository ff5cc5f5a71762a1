// The issuing calls (issuing.h) on a blank emulated card: format, applications, files of every
// type, keys (from the store, diversified), key settings, and the communication mode override
// when an application will not list its file settings (file_access.h).
#include "core/cardops/issuing.h"

#include "core/cardops/card_info.h"
#include "core/cardops/data.h"
#include "core/cardops/file_info.h"
#include "core/cardops/values.h"
#include "gtest/gtest.h"
#include "tests/unit/core/cardops/fixture.h"

namespace desfired::cardops {
namespace {

using desfire::CommMode;
using desfire::FileType;

TEST_F(AdminTest, FormatCreateListChangeAndDelete) {
  // Format (the server requires the expected UID: card_validation_test).
  FormatCardRequest format{.target = {.reader = kReader, .expected_uid = ctx_.uid},
                           .auth = Key("picc", 0)};
  CreateApp(0x0C0C0C, 0x0F);
  ASSERT_EQ(state().applications.size(), 1u);
  absl::Status formatted = FormatCard(ctx_, format);
  ASSERT_TRUE(formatted.ok()) << formatted;
  EXPECT_TRUE(state().applications.empty());

  // An application with one file of each type.
  CreateApp(kAid, 0x0B);
  ASSERT_NE(SimApp(kAid), nullptr);
  EXPECT_EQ(SimApp(kAid)->key_settings, 0x0B);
  EXPECT_EQ(SimApp(kAid)->keys.size(), 3u);
  const FileType types[] = {FileType::kStandardData, FileType::kBackupData, FileType::kValue,
                            FileType::kLinearRecord, FileType::kCyclicRecord};
  for (uint8_t i = 0; i < 5; ++i) {
    absl::Status made = MakeFile(static_cast<uint8_t>(i + 1), types[i], CommMode::kMac);
    ASSERT_TRUE(made.ok()) << "file " << i + 1 << ": " << made;
  }
  EXPECT_EQ(MakeFile(1, FileType::kStandardData, CommMode::kMac).code(),
            absl::StatusCode::kAlreadyExists);
  auto list = On<ListFilesRequest>(kAid);
  list.include_settings = true;
  auto listed = ListFiles(ctx_, list);
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->files.size(), 5u);
  for (size_t i = 0; i < 5; ++i) {
    ASSERT_TRUE(listed->files[i].settings.has_value()) << i;
    EXPECT_EQ(listed->files[i].settings->type, types[i]) << i;
    EXPECT_EQ(listed->files[i].settings->comm_mode, CommMode::kMac);
  }
  EXPECT_EQ(listed->files[2].settings->upper_limit, 1000);
  EXPECT_EQ(listed->files[4].settings->max_records, 4u);
  EXPECT_EQ(SimFile(kAid, 3).value, 100);

  auto remove = On<DeleteFileRequest>(kAid);
  remove.auth = Key("zero_aes", 0);
  remove.file_no = 4;
  ASSERT_TRUE(DeleteFile(ctx_, remove).ok());
  listed = ListFiles(ctx_, list);
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_EQ(listed->files.size(), 4u);

  // Key 1 from the store (needs the old value), then key 0 (the authenticated key).
  ChangeKeyRequest change = ChangeKey1To("new_key1");
  absl::Status changed = ChangeKey(ctx_, change);
  ASSERT_TRUE(changed.ok()) << changed;
  EXPECT_EQ(SimApp(kAid)->keys[1].value, Hex("f0e1d2c3b4a5968778695a4b3c2d1e0f"));
  EXPECT_EQ(SimApp(kAid)->keys[1].version, 7);
  auto get = OnFile<GetValueRequest>(3, Key("new_key1", 1), kAid);
  auto value = GetValue(ctx_, get);
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(*value, 100);

  change.key_no = 0;
  change.new_key_name = "app_master";
  change.old_key_name.clear();
  changed = ChangeKey(ctx_, change);
  ASSERT_TRUE(changed.ok()) << changed;
  EXPECT_EQ(SimApp(kAid)->keys[0].value, Hex("00112233445566778899aabbccddeeff"));

  // A DES key does not suit the AES application.
  change.key_no = 2;
  change.new_key_name = "picc";
  change.old_key_name = "zero_aes";
  change.auth = Key("app_master", 0);
  absl::Status unsuitable = ChangeKey(ctx_, change);
  EXPECT_EQ(Field(unsuitable), "new_key_name") << unsuitable;

  // Key settings: listing now needs the master key; key 1 changes keys.
  auto settings = On<ChangeKeySettingsRequest>(kAid);
  settings.auth = Key("app_master", 0);
  settings.key_settings = desfire::kKeySettingAllowChangeMasterKey |
                          desfire::kKeySettingConfigurationChangeable | 1 << 4;
  absl::Status set = ChangeKeySettings(ctx_, settings);
  ASSERT_TRUE(set.ok()) << set;
  EXPECT_EQ(SimApp(kAid)->key_settings, 0x19);
  auto unlisted = ListFiles(ctx_, On<ListFilesRequest>(kAid));
  EXPECT_FALSE(unlisted.ok());

  // Deleted with the card master key.
  DeleteApplicationRequest drop{.target = {.reader = kReader}, .auth = Key("picc", 0), .aid = kAid};
  absl::Status dropped = DeleteApplication(ctx_, drop);
  ASSERT_TRUE(dropped.ok()) << dropped;
  EXPECT_EQ(SimApp(kAid), nullptr);
  drop.aid = 0x0D0D0D;
  EXPECT_EQ(DeleteApplication(ctx_, drop).code(), absl::StatusCode::kNotFound);
}

TEST_F(AdminTest, DeleteApplicationWithItsOwnMasterKey) {
  CreateApp(kAid, 0x0B);
  DeleteApplicationRequest drop{.target = {.reader = kReader},
                                .auth = Key("zero_aes", 0),  // not the card master key (DES)
                                .aid = kAid};
  absl::Status dropped = DeleteApplication(ctx_, drop);
  ASSERT_TRUE(dropped.ok()) << dropped;
  EXPECT_EQ(SimApp(kAid), nullptr);
  EXPECT_FALSE(ctx_.session.open);
}

TEST_F(AdminTest, ChangeKeyToDiversifiedKeyAuthenticatesWithTheStoreKey) {
  CreateApp(kAid, 0x0B);
  ASSERT_TRUE(MakeFile(1, FileType::kValue, CommMode::kFull).ok());
  ChangeKeyRequest change = ChangeKey1To("cards");
  absl::Status changed = ChangeKey(ctx_, change);
  ASSERT_TRUE(changed.ok()) << changed;
  // The card holds the diversified key, not the master.
  const keys::Key& cards = *keys_.Find("cards");
  auto diversified = keys::CardKeyFor(cards, ctx_.uid, kAid);
  ASSERT_TRUE(diversified.ok()) << diversified.status();
  const Bytes expected(diversified->view().begin(), diversified->view().end());
  EXPECT_EQ(SimApp(kAid)->keys[1].value, expected);
  EXPECT_NE(expected, Hex("00112233445566778899aabbccddeeff"));
  auto get = OnFile<GetValueRequest>(1, Key("cards", 1), kAid);
  auto value = GetValue(ctx_, get);
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(*value, 100);
}

TEST_F(AdminTest, CommunicationModeOverrideWhenSettingsCannotBeListed) {
  // Key settings 0x09: listing (and so GetFileSettings) needs the master key.
  CreateApp(kAid, 0x09);
  ASSERT_TRUE(MakeFile(1, FileType::kStandardData, CommMode::kFull).ok());
  ASSERT_TRUE(MakeFile(2, FileType::kValue, CommMode::kFull).ok());
  // Key 1 may write and read the file but not list its settings.
  auto write = OnFile<WriteDataRequest>(1, Key("zero_aes", 1), kAid);
  write.data = Pattern(48, 3);
  auto refused_write = WriteData(ctx_, write);
  EXPECT_FALSE(refused_write.ok());
  write.comm_mode = CommMode::kFull;
  auto written = WriteData(ctx_, write);
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_TRUE(written->committed);
  EXPECT_EQ(SimFile(kAid, 1).data, Pattern(48, 3));

  auto read = OnFile<ReadDataRequest>(1, Key("zero_aes", 1), kAid);
  auto refused = ReadData(ctx_, read);
  EXPECT_FALSE(refused.ok());
  read.comm_mode = CommMode::kFull;
  auto data = ReadData(ctx_, read);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(*data, Pattern(48, 3));
  EXPECT_TRUE(ctx_.session.guessed.contains(1));
  // The guess stays for calls with the same override.
  const size_t before = transport_->transmitted();
  data = ReadData(ctx_, read);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_LE(transport_->transmitted() - before, 2u);  // the read alone (one or two frames)

  // Value changes too; the values are read around the debit.
  auto debit = OnFile<ValueChangeRequest>(2, Key("zero_aes", 1), kAid);
  debit.amount = 30;
  debit.comm_mode = CommMode::kFull;
  auto debited = Debit(ctx_, debit);
  ASSERT_TRUE(debited.ok()) << debited.status();
  EXPECT_EQ(debited->value_before, 100);
  EXPECT_EQ(debited->value_after, 70);
  EXPECT_EQ(SimFile(kAid, 2).value, 70);
}

// DES-family key versions live in the key's parity bits: ChangeKey writes the store's version
// there (not the parity bits the store's value happens to have: 0x55 for 0011223344556677), so
// the card's GetKeyVersion (GetCardInfo's master key version) reads back the store's version,
// and authenticating with the store's key (other parity bits) still works.
TEST_F(AdminTest, ChangeKeyWritesTheStoreVersionOfDesFamilyKeys) {
  constexpr char kDesKeys[] = R"(
key picc   DES    0000000000000000
key m2     2TDEA  00112233445566778899aabbccddeeff  version=9
key m3     3TDEA  00112233445566778899aabbccddeeff0123456789abcdef  version=33
key mdes   DES    0011223344556677  version=5
key z2     2TDEA  00000000000000000000000000000000
key m2same 2TDEA  0123456789abcdef0123456789abcdef  version=5
)";
  ASSERT_NO_FATAL_FAILURE(Load("blank.json", kDesKeys));
  struct Step {
    const char* from;
    const char* to;
    uint8_t version;
  };
  for (const Step& step : {Step{"picc", "m2", 9}, Step{"m2", "m3", 33}, Step{"m3", "mdes", 5}}) {
    ChangeKeyRequest change{.target = {.reader = kReader},
                            .aid = 0,
                            .auth = Key(step.from, 0),
                            .key_no = 0,
                            .new_key_name = step.to};
    absl::Status changed = ChangeKey(ctx_, change);
    ASSERT_TRUE(changed.ok()) << step.to << ": " << changed;
    auto info = GetCardInfo(ctx_, {.target = {.reader = kReader}, .auth = Key(step.to, 0)});
    ASSERT_TRUE(info.ok()) << step.to << ": " << info.status();
    EXPECT_EQ(info->master_key_version, step.version) << step.to;
    EXPECT_EQ(state().picc_key.version, step.version) << step.to;
  }

  // An application key other than the authenticated one: the old key's version is part of what
  // the card XORs with, so the second change needs the first one's version right.
  absl::Status created =
      CreateApplication(ctx_, {.target = {.reader = kReader},
                               .auth = Key("mdes", 0),
                               .application = {.aid = kAid,
                                               .key_settings = 0x0B,
                                               .num_keys = 2,
                                               .key_family = desfire::KeyFamily::kDes}});
  ASSERT_TRUE(created.ok()) << created;
  for (const Step& step : {Step{"z2", "m2", 9}, Step{"m2", "m2same", 5}}) {
    ChangeKeyRequest change{.target = {.reader = kReader},
                            .aid = kAid,
                            .auth = Key("picc", 0),
                            .key_no = 1,
                            .new_key_name = step.to,
                            .old_key_name = step.from};
    absl::Status changed = ChangeKey(ctx_, change);
    ASSERT_TRUE(changed.ok()) << step.to << ": " << changed;
    EXPECT_EQ(SimApp(kAid)->keys[1].version, step.version) << step.to;
  }
  ASSERT_TRUE(card_->SelectApplication(kAid).ok());
  auto version = card_->GetKeyVersion(1);
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_EQ(*version, 5);
  // m2same has equal halves: a single DES key, on the card too (its version in both halves).
  EXPECT_EQ(SimApp(kAid)->keys[1].value, Hex("0022446688abccef"));
  const Bytes m2same = Hex("0123456789abcdef0123456789abcdef");
  EXPECT_TRUE(card_->Authenticate(1, {crypto::KeyType::k2Tdea, m2same}).ok());
}

}  // namespace
}  // namespace desfired::cardops
