// server/rpc/card_ops.h over the in-process emulator: the translation of desfired.v1 requests
// into core card operations (core/cardops) and of their results into responses — what is
// proto-specific: version, settings, key settings and tap results as messages, optional fields
// (value_after, iso_file_id), paging tokens, the override from communication_mode, and errors
// as the client sees them (ToErrorInfo). The card policy itself is tested without protos in
// tests/unit/core/cardops (the tests of the same names), the validation in
// card_validation_test.cc.
#include "server/rpc/card_ops.h"

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "core/apdu/error_metadata.h"
#include "core/apdu/status_payload.h"
#include "core/cardops/context.h"
#include "core/desfire/card.h"
#include "core/desfire/status.h"
#include "core/keys/key_store.h"
#include "core/tap/pipeline.h"
#include "gtest/gtest.h"
#include "proto/convert/status_convert.h"
#include "server/rpc/card_validation.h"
#include "sim/card/card.h"
#include "sim/image/image.h"
#include "tests/testing/emulated_card_test.h"
#include "tests/unit/hex_testing.h"
#include "tests/unit/server/rpc/card_requests.h"

namespace desfired::server {
namespace {

using apdu::kReasonCardMismatch;
using apdu::kReasonKeyNotFound;

using test_util::Hex;
using testing::CreateAppOf;
using testing::DebitOf;
using testing::Field;
using testing::kAdminAid;
using testing::kReader;
using testing::kTransitAid;
using testing::MakeFileOf;
using testing::On;
using testing::OnFile;
using testing::ReadTapsOf;
using testing::SetAuth;

std::string Str(const Bytes& b) { return std::string(b.begin(), b.end()); }
std::string Str(absl::string_view hex) { return Str(Hex(hex)); }

Bytes Pattern(size_t n, uint8_t seed) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(seed + 5 * i);
  return b;
}

std::string Reason(const absl::Status& status) { return apdu::GetReason(status).value_or(""); }

class CardOpsTranslationTest : public desfired::testing::EmulatedCardTest {
 protected:
  void SetUp() override { Load("transit.json"); }

  // Debit on the transit value file with the debit key.
  absl::StatusOr<v1::DebitResponse> DebitBy(int32_t amount, bool defer = false) {
    v1::DebitRequest r = DebitOf(amount, defer);
    EXPECT_TRUE(Validate(r).ok());
    return Debit(ctx_, r);
  }

  absl::StatusOr<v1::ReadRecordsResponse> ReadTaps(int32_t page_size, std::string token) {
    v1::ReadRecordsRequest r = ReadTapsOf(page_size, std::move(token));
    EXPECT_TRUE(Validate(r).ok());
    return ReadRecords(ctx_, r);
  }
};

// --- Card and applications --------------------------------------------------------------------

TEST_F(CardOpsTranslationTest, GetCardInfoReportsVersionUidMemoryAndApplications) {
  v1::GetCardInfoRequest request;
  request.mutable_target()->set_reader(kReader);
  ASSERT_TRUE(Validate(request).ok());
  auto info = GetCardInfo(ctx_, request);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->reader(), kReader);
  EXPECT_EQ(info->uid(), Str("04a1b2c3d4e5f6"));
  EXPECT_FALSE(info->random_uid());
  EXPECT_EQ(info->atr(), Str(ctx_.atr));
  EXPECT_EQ(info->version().generation(), v1::CARD_GENERATION_EV1);
  EXPECT_EQ(info->version().vendor(), "NXP");
  EXPECT_EQ(info->version().hardware().vendor_id(), 0x04u);
  EXPECT_EQ(info->version().storage_size_bytes(), 8192u);
  EXPECT_EQ(info->version().production_year(), 2013u);
  EXPECT_EQ(info->version().production_week(), 49u);
  EXPECT_EQ(info->free_memory(), state().FreeMemory());
  EXPECT_GT(info->free_memory(), 0u);
  EXPECT_LT(info->free_memory(), 7936u);
  EXPECT_TRUE(info->key_settings().free_directory_list());
  EXPECT_TRUE(info->key_settings().configuration_changeable());
  EXPECT_EQ(info->master_key_family(), v1::KEY_FAMILY_DES);
  EXPECT_EQ(info->master_key_version(), 0u);
  EXPECT_TRUE(info->aids_listed());
  ASSERT_EQ(info->aids_size(), 1);
  EXPECT_EQ(info->aids(0), kTransitAid);
}

TEST_F(CardOpsTranslationTest, ListApplicationsPagesWithDfNames) {
  Load("blank.json");
  for (uint32_t aid : {0x000003u, 0x000001u, 0x000002u}) {
    auto create = On<v1::CreateApplicationRequest>(aid);
    SetAuth(create.mutable_auth(), "picc", 0);
    create.mutable_key_settings()->set_master_key_changeable(true);
    create.mutable_key_settings()->set_configuration_changeable(true);
    create.set_key_count(1);
    create.set_key_family(v1::KEY_FAMILY_AES);
    if (aid == 2) {
      create.set_iso_file_id(0xE105);
      create.set_df_name("DESFIRED");
    }
    ASSERT_TRUE(Validate(create).ok()) << Validate(create);
    auto created = CreateApplication(ctx_, create);
    ASSERT_TRUE(created.ok()) << created.status();
  }
  v1::ListApplicationsRequest request;
  request.mutable_target()->set_reader(kReader);
  request.set_page_size(1);
  std::vector<uint32_t> seen;
  for (int page = 0; page < 3; ++page) {
    ASSERT_TRUE(Validate(request).ok());
    auto listed = ListApplications(ctx_, request);
    ASSERT_TRUE(listed.ok()) << listed.status();
    ASSERT_EQ(listed->applications_size(), 1);
    const v1::Application& app = listed->applications(0);
    seen.push_back(app.aid());
    if (app.aid() == 2) {
      EXPECT_TRUE(app.has_iso_file_id());
      EXPECT_EQ(app.iso_file_id(), 0xE105u);
      EXPECT_EQ(app.df_name(), "DESFIRED");
    } else {
      EXPECT_FALSE(app.has_iso_file_id());
      EXPECT_TRUE(app.df_name().empty());
    }
    EXPECT_EQ(listed->next_page_token().empty(), page == 2);
    request.set_page_token(listed->next_page_token());
  }
  EXPECT_EQ(seen, (std::vector<uint32_t>{1, 2, 3}));
  // One page with the default size holds them all.
  request.set_page_size(0);
  request.clear_page_token();
  auto all = ListApplications(ctx_, request);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->applications_size(), 3);
  EXPECT_TRUE(all->next_page_token().empty());
}

TEST_F(CardOpsTranslationTest, ListFilesPagesAndIncludesSettings) {
  auto request = On<v1::ListFilesRequest>();
  request.set_page_size(2);
  request.set_include_settings(true);
  std::vector<uint32_t> seen;
  for (int page = 0; page < 3; ++page) {
    ASSERT_TRUE(Validate(request).ok());
    auto listed = ListFiles(ctx_, request);
    ASSERT_TRUE(listed.ok()) << listed.status();
    ASSERT_EQ(listed->files_size(), page < 2 ? 2 : 1);
    for (const v1::FileEntry& f : listed->files()) {
      seen.push_back(f.file_no());
      EXPECT_TRUE(f.has_settings());
    }
    if (page == 0) {
      const v1::FileSettings& value = listed->files(0).settings();
      EXPECT_EQ(value.file_type(), v1::FILE_TYPE_VALUE);
      EXPECT_EQ(value.communication_mode(), v1::COMMUNICATION_MODE_FULL);
      EXPECT_EQ(value.access_rights().read(), 1u);
      EXPECT_EQ(value.access_rights().write(), 2u);
      EXPECT_EQ(value.access_rights().read_write(), 3u);
      EXPECT_EQ(value.access_rights().change_settings(), 0u);
      EXPECT_EQ(value.value().upper_limit(), 100000);
      EXPECT_TRUE(value.value().limited_credit_enabled());
      const v1::FileSettings& backup = listed->files(1).settings();
      EXPECT_EQ(backup.file_type(), v1::FILE_TYPE_BACKUP);
      EXPECT_EQ(backup.communication_mode(), v1::COMMUNICATION_MODE_MAC);
      EXPECT_EQ(backup.data().size(), 32u);
    }
    EXPECT_EQ(listed->next_page_token().empty(), page == 2);
    request.set_page_token(listed->next_page_token());
  }
  EXPECT_EQ(seen, (std::vector<uint32_t>{1, 2, 3, 4, 5}));
  // Without settings.
  request.set_include_settings(false);
  request.set_page_size(0);
  request.clear_page_token();
  auto plain = ListFiles(ctx_, request);
  ASSERT_TRUE(plain.ok()) << plain.status();
  ASSERT_EQ(plain->files_size(), 5);
  EXPECT_FALSE(plain->files(0).has_settings());
}

// --- Value and record files ---------------------------------------------------------------

TEST_F(CardOpsTranslationTest, DeferredDebitsCommitTogether) {
  auto first = DebitBy(100, /*defer=*/true);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->change().committed());
  EXPECT_EQ(first->change().value_before(), 2500);
  EXPECT_FALSE(first->change().has_value_after());
  EXPECT_TRUE(ctx_.session.pending);
  // The same application and key: the session (and its transaction) goes on, no new select.
  const size_t before_second = transport_->transmitted();
  auto second = DebitBy(50, /*defer=*/true);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_FALSE(second->change().committed());
  EXPECT_LE(transport_->transmitted() - before_second, 2u);  // GetValue and Debit only
  EXPECT_EQ(SimValue(), 2500);

  auto commit = On<v1::CommitTransactionRequest>();
  SetAuth(commit.mutable_auth(), "app_debit", 2);
  auto committed = CommitTransaction(ctx_, commit);
  ASSERT_TRUE(committed.ok()) << committed.status();
  EXPECT_TRUE(committed->committed());
  EXPECT_EQ(SimValue(), 2350);
}

TEST_F(CardOpsTranslationTest, DebitBeyondValueIsInsufficientValue) {
  auto debited = DebitBy(1000000);
  ASSERT_FALSE(debited.ok());
  EXPECT_EQ(debited.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(Reason(debited.status()), desfire::kReasonInsufficientValue);
  EXPECT_EQ(apdu::GetCommitState(debited.status()), apdu::CommitState::kNotCommitted);
  EXPECT_EQ(ToErrorInfo(debited.status()).reason(), "INSUFFICIENT_VALUE");
  EXPECT_EQ(SimValue(), 2500);
  EXPECT_FALSE(ctx_.session.open);
}

TEST_F(CardOpsTranslationTest, ReadRecordsNewestFirstWithPaging) {
  const std::deque<Bytes> records = SimFile(kTransitAid, 3).records;  // oldest first
  ASSERT_EQ(records.size(), 6u);
  auto first = ReadTaps(4, "");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->total_records(), 6u);
  ASSERT_EQ(first->records_size(), 4);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(first->records(i).offset(), static_cast<uint32_t>(i));
    EXPECT_EQ(first->records(i).data(), Str(records[5 - i])) << i;
  }
  ASSERT_FALSE(first->next_page_token().empty());
  auto second = ReadTaps(4, first->next_page_token());
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_EQ(second->records_size(), 2);
  EXPECT_EQ(second->records(0).offset(), 4u);
  EXPECT_EQ(second->records(0).data(), Str(records[1]));
  EXPECT_EQ(second->records(1).offset(), 5u);
  EXPECT_EQ(second->records(1).data(), Str(records[0]));
  EXPECT_TRUE(second->next_page_token().empty());
  // Past the end: an empty last page.
  auto past = ReadTaps(4, "6");
  ASSERT_TRUE(past.ok()) << past.status();
  EXPECT_EQ(past->records_size(), 0);
  EXPECT_TRUE(past->next_page_token().empty());
}

TEST_F(CardOpsTranslationTest, ReadTapLogParsesTransitTapsAsValid) {
  const std::deque<Bytes> records = SimFile(kTransitAid, 3).records;
  auto request = OnFile<v1::ReadTapLogRequest>(3, "app_read", 1);
  ASSERT_TRUE(Validate(request).ok());
  auto log = ReadTapLog(ctx_, request);
  ASSERT_TRUE(log.ok()) << log.status();
  ASSERT_EQ(log->results_size(), 6);
  for (int i = 0; i < 6; ++i) {
    const v1::TapResult& r = log->results(i);
    EXPECT_EQ(r.status(), v1::TapResult::VALID) << i;
    EXPECT_EQ(r.index(), static_cast<uint64_t>(i));
    EXPECT_EQ(r.raw_hex(), HexEncode(records[static_cast<size_t>(i)]));
    EXPECT_EQ(r.key_name(), "tap");
    EXPECT_EQ(r.record().card_uid(), "04a1b2c3d4e5f680");
  }
  EXPECT_EQ(log->results(0).record().terminal_id(), 0x001234u);
  EXPECT_EQ(log->summary().total(), 6u);
  EXPECT_EQ(log->summary().valid(), 6u);

  request.set_max_records(2);
  auto newest = ReadTapLog(ctx_, request);
  ASSERT_TRUE(newest.ok()) << newest.status();
  ASSERT_EQ(newest->results_size(), 2);
  EXPECT_EQ(newest->results(0).raw_hex(), HexEncode(records[4]));
  EXPECT_EQ(newest->results(1).raw_hex(), HexEncode(records[5]));
}

// --- Issuing cards ----------------------------------------------------------------------------

class AdminTranslationTest : public CardOpsTranslationTest {
 protected:
  static constexpr uint32_t kAid = kAdminAid;
  void SetUp() override { Load("blank.json"); }

  // Creates `aid` (AES, 3 keys, all zero) with `settings`.
  void CreateApp(uint32_t aid, uint8_t settings) {
    v1::CreateApplicationRequest create = CreateAppOf(aid, settings);
    ASSERT_TRUE(Validate(create).ok()) << Validate(create);
    auto created = CreateApplication(ctx_, create);
    ASSERT_TRUE(created.ok()) << created.status();
  }

  absl::Status MakeFile(uint32_t file_no, v1::FileType type, v1::CommunicationMode mode,
                        const std::string& key = "zero_aes", uint32_t aid = kAid) {
    v1::CreateFileRequest create = MakeFileOf(file_no, type, mode, key, aid);
    absl::Status valid = Validate(create);
    if (!valid.ok()) return valid;
    return CreateFile(ctx_, create).status();
  }

  sim::Application* SimApp(uint32_t aid) {
    for (sim::Application& app : state().applications) {
      if (app.aid == aid) return &app;
    }
    return nullptr;
  }
};

TEST_F(AdminTranslationTest, FormatCreateListChangeAndDelete) {
  // Format (needs the expected UID).
  v1::FormatCardRequest format;
  format.mutable_target()->set_reader(kReader);
  SetAuth(format.mutable_auth(), "picc", 0);
  EXPECT_EQ(Field(Validate(format)), "target.expected_uid");
  format.mutable_target()->set_expected_uid(Str(ctx_.uid));
  ASSERT_TRUE(Validate(format).ok());
  CreateApp(0x0C0C0C, 0x0F);
  ASSERT_EQ(state().applications.size(), 1u);
  auto formatted = FormatCard(ctx_, format);
  ASSERT_TRUE(formatted.ok()) << formatted.status();
  EXPECT_TRUE(state().applications.empty());

  // An application with one file of each type.
  CreateApp(kAid, 0x0B);
  ASSERT_NE(SimApp(kAid), nullptr);
  EXPECT_EQ(SimApp(kAid)->key_settings, 0x0B);
  EXPECT_EQ(SimApp(kAid)->keys.size(), 3u);
  const v1::FileType types[] = {v1::FILE_TYPE_STANDARD, v1::FILE_TYPE_BACKUP, v1::FILE_TYPE_VALUE,
                                v1::FILE_TYPE_LINEAR_RECORD, v1::FILE_TYPE_CYCLIC_RECORD};
  for (uint32_t i = 0; i < 5; ++i) {
    absl::Status made = MakeFile(i + 1, types[i], v1::COMMUNICATION_MODE_MAC);
    ASSERT_TRUE(made.ok()) << "file " << i + 1 << ": " << made;
  }
  EXPECT_EQ(MakeFile(1, v1::FILE_TYPE_STANDARD, v1::COMMUNICATION_MODE_MAC).code(),
            absl::StatusCode::kAlreadyExists);
  auto list = On<v1::ListFilesRequest>(kAid);
  list.set_include_settings(true);
  auto listed = ListFiles(ctx_, list);
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->files_size(), 5);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(listed->files(i).settings().file_type(), types[i]) << i;
    EXPECT_EQ(listed->files(i).settings().communication_mode(), v1::COMMUNICATION_MODE_MAC);
  }
  EXPECT_EQ(listed->files(2).settings().value().upper_limit(), 1000);
  EXPECT_EQ(listed->files(4).settings().record().max_records(), 4u);
  EXPECT_EQ(SimFile(kAid, 3).value, 100);

  auto remove = On<v1::DeleteFileRequest>(kAid);
  SetAuth(remove.mutable_auth(), "zero_aes", 0);
  remove.set_file_no(4);
  ASSERT_TRUE(Validate(remove).ok());
  ASSERT_TRUE(DeleteFile(ctx_, remove).ok());
  listed = ListFiles(ctx_, list);
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_EQ(listed->files_size(), 4);

  // Key 1 from the store (needs the old value), then key 0 (the authenticated key).
  auto change = On<v1::ChangeKeyRequest>(kAid);
  SetAuth(change.mutable_auth(), "zero_aes", 0);
  change.set_key_number(1);
  change.set_new_key_name("new_key1");
  EXPECT_EQ(Field(Validate(change)), "old_key_name");
  change.set_old_key_name("zero_aes");
  ASSERT_TRUE(Validate(change).ok());
  auto changed = ChangeKey(ctx_, change);
  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_EQ(SimApp(kAid)->keys[1].value, Hex("f0e1d2c3b4a5968778695a4b3c2d1e0f"));
  EXPECT_EQ(SimApp(kAid)->keys[1].version, 7);
  auto get = OnFile<v1::GetValueRequest>(3, "new_key1", 1, kAid);
  auto value = GetValue(ctx_, get);
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(value->value(), 100);

  change.set_key_number(0);
  change.set_new_key_name("app_master");
  change.clear_old_key_name();
  ASSERT_TRUE(Validate(change).ok());
  changed = ChangeKey(ctx_, change);
  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_EQ(SimApp(kAid)->keys[0].value, Hex("00112233445566778899aabbccddeeff"));

  // A DES key does not suit the AES application.
  change.set_key_number(2);
  change.set_new_key_name("picc");
  change.set_old_key_name("zero_aes");
  SetAuth(change.mutable_auth(), "app_master", 0);
  auto unsuitable = ChangeKey(ctx_, change);
  EXPECT_EQ(Field(unsuitable.status()), "new_key_name") << unsuitable.status();

  // Key settings: listing now needs the master key; key 1 changes keys.
  auto settings = On<v1::ChangeKeySettingsRequest>(kAid);
  SetAuth(settings.mutable_auth(), "app_master", 0);
  settings.mutable_key_settings()->set_master_key_changeable(true);
  settings.mutable_key_settings()->set_configuration_changeable(true);
  settings.mutable_key_settings()->set_change_key_access(1);
  ASSERT_TRUE(Validate(settings).ok());
  auto set = ChangeKeySettings(ctx_, settings);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(SimApp(kAid)->key_settings, 0x19);
  auto unlisted = ListFiles(ctx_, On<v1::ListFilesRequest>(kAid));
  EXPECT_FALSE(unlisted.ok());

  // Deleted with the card master key.
  auto drop = On<v1::DeleteApplicationRequest>(kAid);
  SetAuth(drop.mutable_auth(), "picc", 0);
  ASSERT_TRUE(Validate(drop).ok());
  auto dropped = DeleteApplication(ctx_, drop);
  ASSERT_TRUE(dropped.ok()) << dropped.status();
  EXPECT_EQ(SimApp(kAid), nullptr);
  drop.set_aid(0x0D0D0D);
  EXPECT_EQ(DeleteApplication(ctx_, drop).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(AdminTranslationTest, CommunicationModeOverrideWhenSettingsCannotBeListed) {
  // Key settings 0x09: listing (and so GetFileSettings) needs the master key.
  CreateApp(kAid, 0x09);
  ASSERT_TRUE(MakeFile(1, v1::FILE_TYPE_STANDARD, v1::COMMUNICATION_MODE_FULL).ok());
  ASSERT_TRUE(MakeFile(2, v1::FILE_TYPE_VALUE, v1::COMMUNICATION_MODE_FULL).ok());
  // Key 1 may write and read the file but not list its settings.
  auto write = OnFile<v1::WriteDataRequest>(1, "zero_aes", 1, kAid);
  write.set_data(Str(Pattern(48, 3)));
  auto refused_write = WriteData(ctx_, write);
  EXPECT_FALSE(refused_write.ok());
  write.set_communication_mode(v1::COMMUNICATION_MODE_FULL);
  auto written = WriteData(ctx_, write);
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_TRUE(written->committed());
  EXPECT_EQ(SimFile(kAid, 1).data, Pattern(48, 3));

  auto read = OnFile<v1::ReadDataRequest>(1, "zero_aes", 1, kAid);
  auto refused = ReadData(ctx_, read);
  EXPECT_FALSE(refused.ok());
  read.set_communication_mode(v1::COMMUNICATION_MODE_FULL);
  auto data = ReadData(ctx_, read);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->data(), Str(Pattern(48, 3)));
  EXPECT_TRUE(ctx_.session.guessed.contains(1));
  // The guess stays for calls with the same override.
  const size_t before = transport_->transmitted();
  data = ReadData(ctx_, read);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_LE(transport_->transmitted() - before, 2u);  // the read alone (one or two frames)

  // Value changes too; the values are read around the debit.
  auto debit = OnFile<v1::DebitRequest>(2, "zero_aes", 1, kAid);
  debit.set_amount(30);
  debit.set_communication_mode(v1::COMMUNICATION_MODE_FULL);
  auto debited = Debit(ctx_, debit);
  ASSERT_TRUE(debited.ok()) << debited.status();
  EXPECT_EQ(debited->change().value_before(), 100);
  EXPECT_EQ(debited->change().value_after(), 70);
  EXPECT_EQ(SimFile(kAid, 2).value, 70);
}

// --- Errors as the client sees them ---------------------------------------------------------

TEST_F(CardOpsTranslationTest, ExpectedUidMismatchSendsNothing) {
  auto debit = On<v1::DebitRequest>();
  debit.mutable_target()->set_expected_uid(Str("04ffffffffffff"));
  debit.set_file_no(1);
  SetAuth(debit.mutable_auth(), "app_debit", 2);
  debit.set_amount(100);
  ASSERT_TRUE(Validate(debit).ok());
  auto debited = Debit(ctx_, debit);
  ASSERT_FALSE(debited.ok());
  EXPECT_EQ(debited.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Reason(debited.status()), kReasonCardMismatch);
  const google::rpc::ErrorInfo info = ToErrorInfo(debited.status());
  EXPECT_EQ(info.metadata().at("expected_uid"), "04ffffffffffff");
  EXPECT_EQ(info.metadata().at("uid"), "04a1b2c3d4e5f6");
  EXPECT_EQ(info.metadata().at("reader"), kReader);
  EXPECT_EQ(transport_->transmitted(), 0u);
  EXPECT_EQ(SimValue(), 2500);

  debit.mutable_target()->set_expected_uid(Str(ctx_.uid));
  auto matched = Debit(ctx_, debit);
  ASSERT_TRUE(matched.ok()) << matched.status();
  EXPECT_EQ(SimValue(), 2400);
}

TEST_F(CardOpsTranslationTest, UnknownKeyNameIsKeyNotFoundBeforeAnyApdu) {
  auto read = OnFile<v1::ReadDataRequest>(5, "no_such_key", 1);
  auto refused = ReadData(ctx_, read);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Reason(refused.status()), kReasonKeyNotFound);
  EXPECT_EQ(ToErrorInfo(refused.status()).metadata().at("key_name"), "no_such_key");
  EXPECT_EQ(transport_->transmitted(), 0u);

  ctx_.keys = nullptr;  // no key store at all
  SetAuth(read.mutable_auth(), "app_read", 1);
  EXPECT_EQ(Reason(ReadData(ctx_, read).status()), kReasonKeyNotFound);
}

TEST_F(CardOpsTranslationTest, KeyTypeThatDoesNotSuitTheSchemeNamesAuthScheme) {
  auto read = On<v1::ReadDataRequest>();
  read.set_file_no(5);
  SetAuth(read.mutable_auth(), "app_read", 1, v1::AUTH_SCHEME_LEGACY);
  auto refused = ReadData(ctx_, read);
  EXPECT_EQ(Field(refused.status()), "auth.scheme") << refused.status();
  EXPECT_EQ(refused.status().message().find("a0a1a2"), std::string::npos);
  EXPECT_EQ(transport_->transmitted(), 0u);
  // EV2 secure messaging with the same AES key works.
  SetAuth(read.mutable_auth(), "app_read", 1, v1::AUTH_SCHEME_EV2);
  auto ev2 = ReadData(ctx_, read);
  EXPECT_TRUE(ev2.ok()) << ev2.status();
}

}  // namespace
}  // namespace desfired::server
