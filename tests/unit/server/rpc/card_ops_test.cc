// server/card_ops over the in-process emulator (desfire-sim's card model): every CardService
// operation on the demo transit card (sim/images/transit.json: application F51001, AES keys
// 0 master, 1 read, 2 debit, 3 credit; value file 1 full, backup 2 MAC, cyclic tap records 3
// MAC, standard 4 plain with free read, standard 5 full) or on a blank card for the admin calls,
// with a key store that holds the card's keys; and the request validation.
#include "server/rpc/card_ops.h"

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/apdu/error_metadata.h"
#include "core/apdu/status_payload.h"
#include "core/desfire/card.h"
#include "core/desfire/status.h"
#include "core/keys/key_store.h"
#include "gtest/gtest.h"
#include "proto/convert/status_convert.h"
#include "sim/card/card.h"
#include "sim/image/image.h"
#include "tests/testing/emulator_transport.h"
#include "tests/unit/hex_testing.h"

namespace desfired::server {
namespace {

using desfired::testing::EmulatorTransport;
using test_util::Hex;

constexpr uint32_t kTransitAid = 0xF51001;
constexpr char kReader[] = "Emulated Reader 00 00";

// The transit card's keys (make_transit.py), the blank card's PICC key, and keys to issue with.
constexpr char kKeyFile[] = R"(
key picc        DES     0000000000000000
key app_master  AES128  00112233445566778899aabbccddeeff  version=1
key app_read    AES128  a0a1a2a3a4a5a6a7a8a9aaabacadaeaf  version=1
key app_debit   AES128  b0b1b2b3b4b5b6b7b8b9babbbcbdbebf  version=1
key app_credit  AES128  c0c1c2c3c4c5c6c7c8c9cacbcccdcecf  version=1
key zero_aes    AES128  00000000000000000000000000000000
key new_key1    AES128  f0e1d2c3b4a5968778695a4b3c2d1e0f  version=7
key cards       AES128  00112233445566778899aabbccddeeff  diversify=an10922 system=4e5850
key tap         AES128  2b7e151628aed2a6abf7158809cf4f3c
tap static key=tap
)";

std::string Str(const Bytes& b) { return std::string(b.begin(), b.end()); }
std::string Str(absl::string_view hex) { return Str(Hex(hex)); }

Bytes Pattern(size_t n, uint8_t seed) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(seed + 5 * i);
  return b;
}

std::string Reason(const absl::Status& status) { return apdu::GetReason(status).value_or(""); }

// The "field" of an INVALID_ARGUMENT from the server's checks; "" otherwise.
std::string Field(const absl::Status& status) {
  if (status.code() != absl::StatusCode::kInvalidArgument) return "";
  const google::rpc::ErrorInfo info = ToErrorInfo(status);
  auto it = info.metadata().find(std::string(apdu::kMetadataField));
  return it == info.metadata().end() ? "" : it->second;
}

void SetAuth(v1::KeyRef* auth, const std::string& name, uint32_t number,
             v1::AuthScheme scheme = v1::AUTH_SCHEME_UNSPECIFIED) {
  auth->set_key_name(name);
  auth->set_key_number(number);
  auth->set_scheme(scheme);
}

class CardOpsTest : public ::testing::Test {
 protected:
  void SetUp() override { Load("transit.json"); }

  void Load(const std::string& image) {
    auto state = sim::LoadImage(std::string(SOURCE_DIR) + "/sim/images/" + image);
    ASSERT_TRUE(state.ok()) << state.status();
    const Bytes uid = state->uid;
    transport_ = std::make_unique<EmulatorTransport>(*std::move(state));
    card_ = std::make_unique<desfire::DesfireCard>(*transport_);
    auto keys = keys::KeyStore::Parse(kKeyFile, "test-keys");
    ASSERT_TRUE(keys.ok()) << keys.status();
    keys_ = *std::move(keys);
    taps_.keys = &keys_;
    ctx_ = CardContext();
    ctx_.card = card_.get();
    ctx_.uid = uid;
    ctx_.atr = Hex("3b8180018080");
    ctx_.reader = kReader;
    ctx_.keys = &keys_;
    ctx_.taps = &taps_;
  }

  // A request on the transit application (or `aid`) with the card named.
  template <typename Request>
  Request On(uint32_t aid = kTransitAid) {
    Request r;
    r.mutable_target()->set_reader(kReader);
    r.set_aid(aid);
    return r;
  }

  sim::CardState& state() { return transport_->card().mutable_state(); }
  sim::File& SimFile(uint32_t aid, uint8_t file_no) {
    for (sim::Application& app : state().applications) {
      if (app.aid != aid) continue;
      if (sim::File* f = app.FindFile(file_no)) return *f;
    }
    ADD_FAILURE() << "no file " << int{file_no};
    static sim::File none;
    return none;
  }
  int32_t SimValue() { return SimFile(kTransitAid, 1).value; }

  // Debit on the transit value file with the debit key.
  absl::StatusOr<v1::DebitResponse> DebitBy(int32_t amount, bool defer = false) {
    auto r = On<v1::DebitRequest>();
    r.set_file_no(1);
    SetAuth(r.mutable_auth(), "app_debit", 2);
    r.set_amount(amount);
    r.set_defer_commit(defer);
    EXPECT_TRUE(Validate(r).ok());
    return Debit(ctx_, r);
  }

  absl::StatusOr<v1::ReadRecordsResponse> ReadTaps(int32_t page_size, std::string token) {
    auto r = On<v1::ReadRecordsRequest>();
    r.set_file_no(3);
    SetAuth(r.mutable_auth(), "app_read", 1);
    r.set_page_size(page_size);
    r.set_page_token(std::move(token));
    EXPECT_TRUE(Validate(r).ok());
    return ReadRecords(ctx_, r);
  }

  std::unique_ptr<EmulatorTransport> transport_;
  std::unique_ptr<desfire::DesfireCard> card_;
  keys::KeyStore keys_;
  tap::TapPipelineConfig taps_;
  CardContext ctx_;
};

// --- Card and applications --------------------------------------------------------------------

TEST_F(CardOpsTest, GetCardInfoReportsVersionUidMemoryAndApplications) {
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

TEST_F(CardOpsTest, GetCardInfoWithMasterKeyReadsUidFromCard) {
  v1::GetCardInfoRequest request;
  request.mutable_target()->set_reader(kReader);
  SetAuth(request.mutable_auth(), "picc", 0);
  ASSERT_TRUE(Validate(request).ok());
  auto info = GetCardInfo(ctx_, request);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->uid(), Str("04a1b2c3d4e5f6"));
  EXPECT_FALSE(info->random_uid());
  EXPECT_TRUE(info->aids_listed());
}

TEST_F(CardOpsTest, ListApplicationsPagesWithDfNames) {
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

TEST_F(CardOpsTest, ListFilesPagesAndIncludesSettings) {
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

TEST_F(CardOpsTest, GetFileSettingsOfRecordAndDataFiles) {
  auto request = On<v1::GetFileSettingsRequest>();
  request.set_file_no(3);
  ASSERT_TRUE(Validate(request).ok());
  auto records = GetFileSettings(ctx_, request);
  ASSERT_TRUE(records.ok()) << records.status();
  EXPECT_EQ(records->settings().file_type(), v1::FILE_TYPE_CYCLIC_RECORD);
  EXPECT_EQ(records->settings().communication_mode(), v1::COMMUNICATION_MODE_MAC);
  EXPECT_EQ(records->settings().record().record_size(), 32u);
  EXPECT_EQ(records->settings().record().max_records(), 11u);
  EXPECT_EQ(records->settings().record().current_records(), 6u);

  request.set_file_no(4);
  auto standard = GetFileSettings(ctx_, request);
  ASSERT_TRUE(standard.ok()) << standard.status();
  EXPECT_EQ(standard->settings().file_type(), v1::FILE_TYPE_STANDARD);
  EXPECT_EQ(standard->settings().communication_mode(), v1::COMMUNICATION_MODE_PLAIN);
  EXPECT_EQ(standard->settings().access_rights().read(), 14u);
  EXPECT_EQ(standard->settings().data().size(), 32u);

  request.set_file_no(9);
  auto missing = GetFileSettings(ctx_, request);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound) << missing.status();
}

// --- Data files -------------------------------------------------------------------------------

TEST_F(CardOpsTest, ReadDataPlainWithoutKeyAndFullAndMacWithKey) {
  auto plain = On<v1::ReadDataRequest>();
  plain.set_file_no(4);
  ASSERT_TRUE(Validate(plain).ok());
  auto issuer = ReadData(ctx_, plain);
  ASSERT_TRUE(issuer.ok()) << issuer.status();
  EXPECT_EQ(issuer->data(), std::string("desfired demo issuer, not valid\0", 32));

  auto full = On<v1::ReadDataRequest>();
  full.set_file_no(5);
  SetAuth(full.mutable_auth(), "app_read", 1);
  auto secret = ReadData(ctx_, full);
  ASSERT_TRUE(secret.ok()) << secret.status();
  EXPECT_EQ(secret->data(),
            Str("5345435245540000000102030405060708090a0b0c0d0e0f1011121314151617"));
  full.set_offset(8);
  full.set_length(4);
  auto part = ReadData(ctx_, full);
  ASSERT_TRUE(part.ok()) << part.status();
  EXPECT_EQ(part->data(), Str("00010203"));

  auto mac = On<v1::ReadDataRequest>();
  mac.set_file_no(2);
  SetAuth(mac.mutable_auth(), "app_read", 1);
  auto profile = ReadData(ctx_, mac);
  ASSERT_TRUE(profile.ok()) << profile.status();
  EXPECT_EQ(profile->data(), "DESFIRED DEMO TRANSIT PROFILE 01");

  // The full file without a key: the card wants a session.
  auto no_key = On<v1::ReadDataRequest>();
  no_key.set_file_no(5);
  auto refused = ReadData(ctx_, no_key);
  EXPECT_FALSE(refused.ok());
  EXPECT_FALSE(ctx_.session.open);  // a failed call starts the next one afresh
}

TEST_F(CardOpsTest, WriteDataToFullStandardFile) {
  auto write = On<v1::WriteDataRequest>();
  write.set_file_no(5);
  SetAuth(write.mutable_auth(), "app_master", 0);
  write.set_offset(3);
  write.set_data(Str(Pattern(20, 0x40)));
  write.set_defer_commit(true);  // ignored by standard files
  ASSERT_TRUE(Validate(write).ok());
  auto written = WriteData(ctx_, write);
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_TRUE(written->committed());
  EXPECT_FALSE(ctx_.session.pending);

  auto read = On<v1::ReadDataRequest>();
  read.set_file_no(5);
  SetAuth(read.mutable_auth(), "app_read", 1);
  read.set_offset(3);
  read.set_length(20);
  auto back = ReadData(ctx_, read);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->data(), Str(Pattern(20, 0x40)));
  const Bytes& stored = SimFile(kTransitAid, 5).data;
  EXPECT_EQ(Bytes(stored.begin() + 3, stored.begin() + 23), Pattern(20, 0x40));
}

TEST_F(CardOpsTest, WriteDataToBackupFileCommitsUnlessDeferred) {
  auto write = On<v1::WriteDataRequest>();
  write.set_file_no(2);
  SetAuth(write.mutable_auth(), "app_debit", 2);
  write.set_data("NEW");
  auto written = WriteData(ctx_, write);
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_TRUE(written->committed());
  EXPECT_EQ(Str(SimFile(kTransitAid, 2).data).substr(0, 8), "NEWFIRED");

  write.set_data("XYZ");
  write.set_defer_commit(true);
  auto deferred = WriteData(ctx_, write);
  ASSERT_TRUE(deferred.ok()) << deferred.status();
  EXPECT_FALSE(deferred->committed());
  EXPECT_TRUE(ctx_.session.pending);
  EXPECT_EQ(Str(SimFile(kTransitAid, 2).data).substr(0, 3), "NEW");  // not yet

  auto commit = On<v1::CommitTransactionRequest>();
  SetAuth(commit.mutable_auth(), "app_debit", 2);
  ASSERT_TRUE(Validate(commit).ok());
  auto committed = CommitTransaction(ctx_, commit);
  ASSERT_TRUE(committed.ok()) << committed.status();
  EXPECT_TRUE(committed->committed());
  EXPECT_EQ(Str(SimFile(kTransitAid, 2).data).substr(0, 3), "XYZ");
  // Nothing left to commit.
  auto again = CommitTransaction(ctx_, commit);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->committed());
}

// --- Value files ------------------------------------------------------------------------------

TEST_F(CardOpsTest, ValueOperationsReportValueBeforeAndAfter) {
  auto get = On<v1::GetValueRequest>();
  get.set_file_no(1);
  SetAuth(get.mutable_auth(), "app_read", 1);
  ASSERT_TRUE(Validate(get).ok());
  auto value = GetValue(ctx_, get);
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(value->value(), 2500);

  auto debited = DebitBy(100);
  ASSERT_TRUE(debited.ok()) << debited.status();
  EXPECT_TRUE(debited->change().committed());
  EXPECT_FALSE(debited->change().replayed());
  EXPECT_EQ(debited->change().value_before(), 2500);
  EXPECT_EQ(debited->change().value_after(), 2400);

  // A refund of part of the last debit, with the debit key.
  auto limited = On<v1::LimitedCreditRequest>();
  limited.set_file_no(1);
  SetAuth(limited.mutable_auth(), "app_debit", 2);
  limited.set_amount(40);
  ASSERT_TRUE(Validate(limited).ok());
  auto refunded = LimitedCredit(ctx_, limited);
  ASSERT_TRUE(refunded.ok()) << refunded.status();
  EXPECT_EQ(refunded->change().value_before(), 2400);
  EXPECT_EQ(refunded->change().value_after(), 2440);

  auto credit = On<v1::CreditRequest>();
  credit.set_file_no(1);
  SetAuth(credit.mutable_auth(), "app_credit", 3);
  credit.set_amount(500);
  ASSERT_TRUE(Validate(credit).ok());
  auto credited = Credit(ctx_, credit);
  ASSERT_TRUE(credited.ok()) << credited.status();
  EXPECT_TRUE(credited->change().committed());
  EXPECT_EQ(credited->change().value_before(), 2440);
  EXPECT_EQ(credited->change().value_after(), 2940);
  EXPECT_EQ(SimValue(), 2940);

  // Credit needs the read-write key: the debit key is refused.
  SetAuth(credit.mutable_auth(), "app_debit", 2);
  auto refused = Credit(ctx_, credit);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied) << refused.status();
  EXPECT_EQ(SimValue(), 2940);
}

TEST_F(CardOpsTest, DebitBeyondValueIsInsufficientValue) {
  auto debited = DebitBy(1000000);
  ASSERT_FALSE(debited.ok());
  EXPECT_EQ(debited.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(Reason(debited.status()), desfire::kReasonInsufficientValue);
  EXPECT_EQ(apdu::GetCommitState(debited.status()), apdu::CommitState::kNotCommitted);
  EXPECT_EQ(ToErrorInfo(debited.status()).reason(), "INSUFFICIENT_VALUE");
  EXPECT_EQ(SimValue(), 2500);
  EXPECT_FALSE(ctx_.session.open);
}

TEST_F(CardOpsTest, DeferredDebitsCommitTogether) {
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

TEST_F(CardOpsTest, AbortTransactionDiscardsDeferredDebit) {
  auto debited = DebitBy(100, /*defer=*/true);
  ASSERT_TRUE(debited.ok()) << debited.status();
  auto abort = On<v1::AbortTransactionRequest>();
  SetAuth(abort.mutable_auth(), "app_debit", 2);
  ASSERT_TRUE(Validate(abort).ok());
  ASSERT_TRUE(AbortTransaction(ctx_, abort).ok());
  EXPECT_FALSE(SimFile(kTransitAid, 1).pending_value.has_value());
  auto commit = On<v1::CommitTransactionRequest>();
  SetAuth(commit.mutable_auth(), "app_debit", 2);
  auto committed = CommitTransaction(ctx_, commit);
  ASSERT_TRUE(committed.ok()) << committed.status();
  EXPECT_FALSE(committed->committed());
  EXPECT_EQ(SimValue(), 2500);
}

TEST_F(CardOpsTest, CallWithAnotherKeyLosesDeferredDebit) {
  ASSERT_TRUE(DebitBy(100, /*defer=*/true).ok());
  auto read = On<v1::ReadDataRequest>();
  read.set_file_no(4);  // no key: another session
  ASSERT_TRUE(ReadData(ctx_, read).ok());
  auto commit = On<v1::CommitTransactionRequest>();
  SetAuth(commit.mutable_auth(), "app_debit", 2);
  const size_t before = transport_->transmitted();
  auto committed = CommitTransaction(ctx_, commit);
  ASSERT_TRUE(committed.ok()) << committed.status();
  EXPECT_FALSE(committed->committed());
  EXPECT_EQ(transport_->transmitted(), before);  // nothing to send
  EXPECT_EQ(SimValue(), 2500);
}

// --- Record files -----------------------------------------------------------------------------

TEST_F(CardOpsTest, ReadRecordsNewestFirstWithPaging) {
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

TEST_F(CardOpsTest, WriteRecordThenClearRecordFile) {
  auto write = On<v1::WriteRecordRequest>();
  write.set_file_no(3);
  SetAuth(write.mutable_auth(), "app_debit", 2);
  write.set_data(Str(Pattern(32, 7)));
  ASSERT_TRUE(Validate(write).ok());
  auto written = WriteRecord(ctx_, write);
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_TRUE(written->committed());
  auto newest = ReadTaps(1, "");
  ASSERT_TRUE(newest.ok()) << newest.status();
  EXPECT_EQ(newest->total_records(), 7u);
  ASSERT_EQ(newest->records_size(), 1);
  EXPECT_EQ(newest->records(0).data(), Str(Pattern(32, 7)));
  EXPECT_EQ(newest->next_page_token(), "1");

  auto clear = On<v1::ClearRecordFileRequest>();
  clear.set_file_no(3);
  SetAuth(clear.mutable_auth(), "app_credit", 3);
  ASSERT_TRUE(Validate(clear).ok());
  auto cleared = ClearRecordFile(ctx_, clear);
  ASSERT_TRUE(cleared.ok()) << cleared.status();
  EXPECT_TRUE(cleared->committed());
  auto empty = ReadTaps(10, "");
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(empty->total_records(), 0u);
  EXPECT_EQ(empty->records_size(), 0);
  EXPECT_TRUE(empty->next_page_token().empty());
}

TEST_F(CardOpsTest, ReadTapLogParsesTransitTapsAsValid) {
  const std::deque<Bytes> records = SimFile(kTransitAid, 3).records;
  auto request = On<v1::ReadTapLogRequest>();
  request.set_file_no(3);
  SetAuth(request.mutable_auth(), "app_read", 1);
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

TEST_F(CardOpsTest, ReadTapLogWithoutTapKeyFlagsRecords) {
  tap::TapPipelineConfig no_keys;
  ctx_.taps = &no_keys;
  auto request = On<v1::ReadTapLogRequest>();
  request.set_file_no(3);
  SetAuth(request.mutable_auth(), "app_read", 1);
  auto log = ReadTapLog(ctx_, request);
  ASSERT_TRUE(log.ok()) << log.status();
  ASSERT_EQ(log->results_size(), 6);
  EXPECT_EQ(log->results(0).status(), v1::TapResult::FLAGGED);
  EXPECT_EQ(log->summary().flagged(), 6u);
}

TEST_F(CardOpsTest, ReadTapLogAndReadRecordsOnValueFileAreWrongFileType) {
  auto request = On<v1::ReadTapLogRequest>();
  request.set_file_no(1);
  SetAuth(request.mutable_auth(), "app_read", 1);
  auto log = ReadTapLog(ctx_, request);
  EXPECT_EQ(log.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Reason(log.status()), desfire::kReasonWrongFileType);

  auto records = On<v1::ReadRecordsRequest>();
  records.set_file_no(1);
  SetAuth(records.mutable_auth(), "app_read", 1);
  auto read = ReadRecords(ctx_, records);
  EXPECT_EQ(Reason(read.status()), desfire::kReasonWrongFileType);
}

// --- Issuing cards ----------------------------------------------------------------------------

class AdminTest : public CardOpsTest {
 protected:
  static constexpr uint32_t kAid = 0xA1A2A3;
  void SetUp() override { Load("blank.json"); }

  // Creates kAid (AES, 3 keys, all zero) with `settings`.
  void CreateApp(uint32_t aid, uint8_t settings) {
    auto create = On<v1::CreateApplicationRequest>(aid);
    SetAuth(create.mutable_auth(), "picc", 0);
    v1::KeySettings* ks = create.mutable_key_settings();
    ks->set_master_key_changeable((settings & 0x01) != 0);
    ks->set_free_directory_list((settings & 0x02) != 0);
    ks->set_free_create_delete((settings & 0x04) != 0);
    ks->set_configuration_changeable((settings & 0x08) != 0);
    ks->set_change_key_access(settings >> 4);
    create.set_key_count(3);
    create.set_key_family(v1::KEY_FAMILY_AES);
    ASSERT_TRUE(Validate(create).ok()) << Validate(create);
    auto created = CreateApplication(ctx_, create);
    ASSERT_TRUE(created.ok()) << created.status();
  }

  absl::Status MakeFile(uint32_t file_no, v1::FileType type, v1::CommunicationMode mode,
                        const std::string& key = "zero_aes", uint32_t aid = kAid) {
    auto create = On<v1::CreateFileRequest>(aid);
    SetAuth(create.mutable_auth(), key, 0);
    create.set_file_no(file_no);
    v1::FileSettings* s = create.mutable_settings();
    s->set_file_type(type);
    s->set_communication_mode(mode);
    s->mutable_access_rights()->set_read(1);
    s->mutable_access_rights()->set_write(1);
    s->mutable_access_rights()->set_read_write(1);
    s->mutable_access_rights()->set_change_settings(0);
    switch (type) {
      case v1::FILE_TYPE_STANDARD:
      case v1::FILE_TYPE_BACKUP:
        s->mutable_data()->set_size(48);
        break;
      case v1::FILE_TYPE_VALUE:
        s->mutable_value()->set_upper_limit(1000);
        s->mutable_value()->set_limited_credit_enabled(true);
        create.set_initial_value(100);
        break;
      default:
        s->mutable_record()->set_record_size(16);
        s->mutable_record()->set_max_records(4);
        break;
    }
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

TEST_F(AdminTest, FormatCreateListChangeAndDelete) {
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
  auto get = On<v1::GetValueRequest>(kAid);
  get.set_file_no(3);
  SetAuth(get.mutable_auth(), "new_key1", 1);
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

TEST_F(AdminTest, DeleteApplicationWithItsOwnMasterKey) {
  CreateApp(kAid, 0x0B);
  auto drop = On<v1::DeleteApplicationRequest>(kAid);
  SetAuth(drop.mutable_auth(), "zero_aes", 0);  // not the card master key (DES)
  auto dropped = DeleteApplication(ctx_, drop);
  ASSERT_TRUE(dropped.ok()) << dropped.status();
  EXPECT_EQ(SimApp(kAid), nullptr);
  EXPECT_FALSE(ctx_.session.open);
}

TEST_F(AdminTest, ChangeKeyToDiversifiedKeyAuthenticatesWithTheStoreKey) {
  CreateApp(kAid, 0x0B);
  ASSERT_TRUE(MakeFile(1, v1::FILE_TYPE_VALUE, v1::COMMUNICATION_MODE_FULL).ok());
  auto change = On<v1::ChangeKeyRequest>(kAid);
  SetAuth(change.mutable_auth(), "zero_aes", 0);
  change.set_key_number(1);
  change.set_new_key_name("cards");
  change.set_old_key_name("zero_aes");
  auto changed = ChangeKey(ctx_, change);
  ASSERT_TRUE(changed.ok()) << changed.status();
  // The card holds the diversified key, not the master.
  const keys::Key& cards = *keys_.Find("cards");
  auto diversified = keys::CardKeyFor(cards, ctx_.uid, kAid);
  ASSERT_TRUE(diversified.ok()) << diversified.status();
  const Bytes expected(diversified->view().begin(), diversified->view().end());
  EXPECT_EQ(SimApp(kAid)->keys[1].value, expected);
  EXPECT_NE(expected, Hex("00112233445566778899aabbccddeeff"));
  auto get = On<v1::GetValueRequest>(kAid);
  get.set_file_no(1);
  SetAuth(get.mutable_auth(), "cards", 1);
  auto value = GetValue(ctx_, get);
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(value->value(), 100);
}

TEST_F(AdminTest, CommunicationModeOverrideWhenSettingsCannotBeListed) {
  // Key settings 0x09: listing (and so GetFileSettings) needs the master key.
  CreateApp(kAid, 0x09);
  ASSERT_TRUE(MakeFile(1, v1::FILE_TYPE_STANDARD, v1::COMMUNICATION_MODE_FULL).ok());
  ASSERT_TRUE(MakeFile(2, v1::FILE_TYPE_VALUE, v1::COMMUNICATION_MODE_FULL).ok());
  // Key 1 may write and read the file but not list its settings.
  auto write = On<v1::WriteDataRequest>(kAid);
  write.set_file_no(1);
  SetAuth(write.mutable_auth(), "zero_aes", 1);
  write.set_data(Str(Pattern(48, 3)));
  auto refused_write = WriteData(ctx_, write);
  EXPECT_FALSE(refused_write.ok());
  write.set_communication_mode(v1::COMMUNICATION_MODE_FULL);
  auto written = WriteData(ctx_, write);
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_TRUE(written->committed());
  EXPECT_EQ(SimFile(kAid, 1).data, Pattern(48, 3));

  auto read = On<v1::ReadDataRequest>(kAid);
  read.set_file_no(1);
  SetAuth(read.mutable_auth(), "zero_aes", 1);
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
  auto debit = On<v1::DebitRequest>(kAid);
  debit.set_file_no(2);
  SetAuth(debit.mutable_auth(), "zero_aes", 1);
  debit.set_amount(30);
  debit.set_communication_mode(v1::COMMUNICATION_MODE_FULL);
  auto debited = Debit(ctx_, debit);
  ASSERT_TRUE(debited.ok()) << debited.status();
  EXPECT_EQ(debited->change().value_before(), 100);
  EXPECT_EQ(debited->change().value_after(), 70);
  EXPECT_EQ(SimFile(kAid, 2).value, 70);
}

// --- The prologue -----------------------------------------------------------------------------

TEST_F(CardOpsTest, ExpectedUidMismatchSendsNothing) {
  auto debit = On<v1::DebitRequest>();
  debit.mutable_target()->set_expected_uid(Str("04ffffffffffff"));
  debit.set_file_no(1);
  SetAuth(debit.mutable_auth(), "app_debit", 2);
  debit.set_amount(100);
  ASSERT_TRUE(Validate(debit).ok());
  auto debited = Debit(ctx_, debit);
  ASSERT_FALSE(debited.ok());
  EXPECT_EQ(debited.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Reason(debited.status()), apdu::kReasonCardMismatch);
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

TEST_F(CardOpsTest, UnknownKeyNameIsKeyNotFoundBeforeAnyApdu) {
  auto read = On<v1::ReadDataRequest>();
  read.set_file_no(5);
  SetAuth(read.mutable_auth(), "no_such_key", 1);
  auto refused = ReadData(ctx_, read);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Reason(refused.status()), apdu::kReasonKeyNotFound);
  EXPECT_EQ(ToErrorInfo(refused.status()).metadata().at("key_name"), "no_such_key");
  EXPECT_EQ(transport_->transmitted(), 0u);

  ctx_.keys = nullptr;  // no key store at all
  SetAuth(read.mutable_auth(), "app_read", 1);
  EXPECT_EQ(Reason(ReadData(ctx_, read).status()), apdu::kReasonKeyNotFound);
}

TEST_F(CardOpsTest, KeyTypeThatDoesNotSuitTheSchemeNamesAuthScheme) {
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

TEST_F(CardOpsTest, WrongKeyIsAuthenticationFailed) {
  auto read = On<v1::ReadDataRequest>();
  read.set_file_no(5);
  SetAuth(read.mutable_auth(), "app_read", 2);  // key 2 holds another value
  auto refused = ReadData(ctx_, read);
  EXPECT_EQ(Reason(refused.status()), desfire::kReasonAuthenticationFailed) << refused.status();
}

TEST_F(CardOpsTest, CheckAliveStopsBetweenSteps) {
  int checks = 0;
  ctx_.check_alive = [&checks] {
    return ++checks > 2 ? absl::DeadlineExceededError("deadline passed") : absl::OkStatus();
  };
  v1::GetCardInfoRequest request;
  request.mutable_target()->set_reader(kReader);
  auto info = GetCardInfo(ctx_, request);
  EXPECT_EQ(info.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(checks, 3);
  EXPECT_FALSE(ctx_.session.open);
}

// --- Validation -------------------------------------------------------------------------------

struct InvalidCase {
  const char* name;
  std::function<absl::Status()> validate;
  const char* field;
};

template <typename Request>
Request Valid(uint32_t aid = kTransitAid) {
  Request r;
  r.mutable_target()->set_reader(kReader);
  r.set_aid(aid);
  return r;
}

std::vector<InvalidCase> InvalidCases() {
  std::vector<InvalidCase> cases;
  auto add = [&cases](const char* name, const char* field, std::function<absl::Status()> f) {
    cases.push_back({name, std::move(f), field});
  };
  add("no reader", "target.reader", [] {
    v1::ReadDataRequest r = Valid<v1::ReadDataRequest>();
    r.mutable_target()->clear_reader();
    return Validate(r);
  });
  add("uid of 5 bytes", "target.expected_uid", [] {
    v1::ReadDataRequest r = Valid<v1::ReadDataRequest>();
    r.mutable_target()->set_expected_uid("12345");
    return Validate(r);
  });
  add("aid beyond 24 bits", "aid", [] { return Validate(Valid<v1::ReadDataRequest>(0x1000000)); });
  add("aid 0 for a file", "aid", [] { return Validate(Valid<v1::GetValueRequest>(0)); });
  add("file_no 32", "file_no", [] {
    v1::ReadDataRequest r = Valid<v1::ReadDataRequest>();
    r.set_file_no(32);
    return Validate(r);
  });
  add("offset beyond 24 bits", "offset", [] {
    v1::ReadDataRequest r = Valid<v1::ReadDataRequest>();
    r.set_offset(0x1000000);
    return Validate(r);
  });
  add("length beyond 24 bits", "length", [] {
    v1::ReadDataRequest r = Valid<v1::ReadDataRequest>();
    r.set_length(0x1000000);
    return Validate(r);
  });
  add("unknown communication mode", "communication_mode", [] {
    v1::ReadDataRequest r = Valid<v1::ReadDataRequest>();
    r.set_communication_mode(static_cast<v1::CommunicationMode>(9));
    return Validate(r);
  });
  add("empty write", "data", [] { return Validate(Valid<v1::WriteDataRequest>()); });
  add("write over the limit", "data", [] {
    v1::WriteDataRequest r = Valid<v1::WriteDataRequest>();
    r.set_data(std::string(kMaxWriteBytes + 1, 'x'));
    return Validate(r);
  });
  add("write past 24 bits", "offset", [] {
    v1::WriteRecordRequest r = Valid<v1::WriteRecordRequest>();
    r.set_offset(0xFFFFFF);
    r.set_data("ab");
    return Validate(r);
  });
  add("request id too long", "request_id", [] {
    v1::WriteDataRequest r = Valid<v1::WriteDataRequest>();
    r.set_data("x");
    r.set_request_id(std::string(129, 'a'));
    return Validate(r);
  });
  add("request id with a newline", "request_id", [] {
    v1::ClearRecordFileRequest r = Valid<v1::ClearRecordFileRequest>();
    r.set_request_id("a\nb");
    return Validate(r);
  });
  add("bad key name", "auth.key_name", [] {
    v1::ReadDataRequest r = Valid<v1::ReadDataRequest>();
    r.mutable_auth()->set_key_name("no spaces");
    return Validate(r);
  });
  add("key number without name", "auth.key_name", [] {
    v1::ReadDataRequest r = Valid<v1::ReadDataRequest>();
    r.mutable_auth()->set_key_number(3);
    return Validate(r);
  });
  add("key number 14", "auth.key_number", [] {
    v1::ReadDataRequest r = Valid<v1::ReadDataRequest>();
    SetAuth(r.mutable_auth(), "k", 14);
    return Validate(r);
  });
  add("card level key 1", "auth.key_number", [] {
    v1::GetCardInfoRequest r;
    r.mutable_target()->set_reader(kReader);
    SetAuth(r.mutable_auth(), "k", 1);
    return Validate(r);
  });
  add("unknown scheme", "auth.scheme", [] {
    v1::ReadDataRequest r = Valid<v1::ReadDataRequest>();
    SetAuth(r.mutable_auth(), "k", 1, static_cast<v1::AuthScheme>(7));
    return Validate(r);
  });
  add("debit of 0", "amount", [] { return Validate(Valid<v1::DebitRequest>()); });
  add("negative credit", "amount", [] {
    v1::CreditRequest r = Valid<v1::CreditRequest>();
    r.set_amount(-5);
    return Validate(r);
  });
  add("negative limited credit", "amount", [] {
    v1::LimitedCreditRequest r = Valid<v1::LimitedCreditRequest>();
    r.set_amount(-1);
    return Validate(r);
  });
  add("negative page size", "page_size", [] {
    v1::ReadRecordsRequest r = Valid<v1::ReadRecordsRequest>();
    r.set_page_size(-1);
    return Validate(r);
  });
  add("negative page size (applications)", "page_size", [] {
    v1::ListApplicationsRequest r;
    r.mutable_target()->set_reader(kReader);
    r.set_page_size(-10);
    return Validate(r);
  });
  add("malformed page token", "page_token", [] {
    v1::ListFilesRequest r = Valid<v1::ListFilesRequest>();
    r.set_page_token("abc");
    return Validate(r);
  });
  add("page token with a sign", "page_token", [] {
    v1::ReadRecordsRequest r = Valid<v1::ReadRecordsRequest>();
    r.set_page_token("+4");
    return Validate(r);
  });
  add("tap log max records", "max_records", [] {
    v1::ReadTapLogRequest r = Valid<v1::ReadTapLogRequest>();
    r.set_max_records(0x1000000);
    return Validate(r);
  });
  add("format without key", "auth.key_name", [] {
    v1::FormatCardRequest r;
    r.mutable_target()->set_reader(kReader);
    r.mutable_target()->set_expected_uid(std::string(7, '\x04'));
    return Validate(r);
  });
  add("application aid 0", "aid", [] {
    v1::CreateApplicationRequest r = Valid<v1::CreateApplicationRequest>(0);
    return Validate(r);
  });
  add("application without settings", "key_settings",
      [] { return Validate(Valid<v1::CreateApplicationRequest>(1)); });
  add("application with 15 keys", "key_count", [] {
    v1::CreateApplicationRequest r = Valid<v1::CreateApplicationRequest>(1);
    r.mutable_key_settings()->set_configuration_changeable(true);
    r.set_key_count(15);
    return Validate(r);
  });
  add("application without family", "key_family", [] {
    v1::CreateApplicationRequest r = Valid<v1::CreateApplicationRequest>(1);
    r.mutable_key_settings()->set_configuration_changeable(true);
    r.set_key_count(1);
    return Validate(r);
  });
  add("DF name without ISO id", "iso_file_id", [] {
    v1::CreateApplicationRequest r = Valid<v1::CreateApplicationRequest>(1);
    r.mutable_key_settings()->set_configuration_changeable(true);
    r.set_key_count(1);
    r.set_key_family(v1::KEY_FAMILY_AES);
    r.set_df_name("x");
    return Validate(r);
  });
  add("file without settings", "settings", [] { return Validate(Valid<v1::CreateFileRequest>()); });
  add("transaction MAC file", "settings.file_type", [] {
    v1::CreateFileRequest r = Valid<v1::CreateFileRequest>();
    r.mutable_settings()->set_file_type(v1::FILE_TYPE_TRANSACTION_MAC);
    return Validate(r);
  });
  add("value file with record settings", "settings.value", [] {
    v1::CreateFileRequest r = Valid<v1::CreateFileRequest>();
    r.mutable_settings()->set_file_type(v1::FILE_TYPE_VALUE);
    r.mutable_settings()->set_communication_mode(v1::COMMUNICATION_MODE_PLAIN);
    r.mutable_settings()->mutable_access_rights();
    r.mutable_settings()->mutable_record()->set_record_size(4);
    return Validate(r);
  });
  add("access right 16", "settings.access_rights.write", [] {
    v1::CreateFileRequest r = Valid<v1::CreateFileRequest>();
    r.mutable_settings()->set_file_type(v1::FILE_TYPE_STANDARD);
    r.mutable_settings()->set_communication_mode(v1::COMMUNICATION_MODE_PLAIN);
    r.mutable_settings()->mutable_access_rights()->set_write(16);
    r.mutable_settings()->mutable_data()->set_size(8);
    return Validate(r);
  });
  add("cyclic file of one record", "settings.record.max_records", [] {
    v1::CreateFileRequest r = Valid<v1::CreateFileRequest>();
    r.mutable_settings()->set_file_type(v1::FILE_TYPE_CYCLIC_RECORD);
    r.mutable_settings()->set_communication_mode(v1::COMMUNICATION_MODE_PLAIN);
    r.mutable_settings()->mutable_access_rights();
    r.mutable_settings()->mutable_record()->set_record_size(4);
    r.mutable_settings()->mutable_record()->set_max_records(1);
    return Validate(r);
  });
  add("initial value outside the limits", "initial_value", [] {
    v1::CreateFileRequest r = Valid<v1::CreateFileRequest>();
    r.mutable_settings()->set_file_type(v1::FILE_TYPE_VALUE);
    r.mutable_settings()->set_communication_mode(v1::COMMUNICATION_MODE_PLAIN);
    r.mutable_settings()->mutable_access_rights();
    r.mutable_settings()->mutable_value()->set_upper_limit(10);
    r.set_initial_value(11);
    return Validate(r);
  });
  add("change key without auth", "auth.key_name", [] {
    v1::ChangeKeyRequest r = Valid<v1::ChangeKeyRequest>();
    r.set_new_key_name("k");
    return Validate(r);
  });
  add("change key 14", "key_number", [] {
    v1::ChangeKeyRequest r = Valid<v1::ChangeKeyRequest>();
    SetAuth(r.mutable_auth(), "m", 0);
    r.set_key_number(14);
    r.set_new_key_name("k");
    return Validate(r);
  });
  add("change key without new key", "new_key_name", [] {
    v1::ChangeKeyRequest r = Valid<v1::ChangeKeyRequest>();
    SetAuth(r.mutable_auth(), "m", 0);
    return Validate(r);
  });
  add("card key settings with change_key_access", "key_settings.change_key_access", [] {
    v1::ChangeKeySettingsRequest r = Valid<v1::ChangeKeySettingsRequest>(0);
    SetAuth(r.mutable_auth(), "m", 0);
    r.mutable_key_settings()->set_change_key_access(1);
    return Validate(r);
  });
  add("commit at card level", "aid", [] {
    v1::CommitTransactionRequest r = Valid<v1::CommitTransactionRequest>(0);
    return Validate(r);
  });
  return cases;
}

TEST(CardOpsValidateTest, RejectsEachBadFieldByName) {
  for (const InvalidCase& c : InvalidCases()) {
    const absl::Status status = c.validate();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.name << ": " << status;
    EXPECT_EQ(Field(status), c.field) << c.name << ": " << status;
    EXPECT_EQ(ToErrorInfo(status).reason(), "INVALID_ARGUMENT") << c.name;
    EXPECT_FALSE(status.message().empty()) << c.name;
  }
}

TEST(CardOpsValidateTest, AcceptsWellFormedRequests) {
  v1::WriteDataRequest write = Valid<v1::WriteDataRequest>();
  write.set_file_no(31);
  write.set_offset(0xFFFFFF - kMaxWriteBytes);
  write.set_data(std::string(kMaxWriteBytes, 'x'));
  write.set_request_id(std::string(128, 'r'));
  SetAuth(write.mutable_auth(), "a.b-c_d", 13, v1::AUTH_SCHEME_EV2);
  EXPECT_TRUE(Validate(write).ok()) << Validate(write);

  v1::ReadRecordsRequest records = Valid<v1::ReadRecordsRequest>();
  records.set_page_size(5000);  // more than the maximum: the maximum
  records.set_page_token("16777215");
  EXPECT_TRUE(Validate(records).ok()) << Validate(records);

  v1::DebitRequest debit = Valid<v1::DebitRequest>(0xFFFFFF);
  debit.set_amount(2147483647);
  debit.mutable_target()->set_expected_uid(std::string(7, '\x04'));
  EXPECT_TRUE(Validate(debit).ok()) << Validate(debit);

  v1::ChangeKeyRequest change = Valid<v1::ChangeKeyRequest>(0);
  SetAuth(change.mutable_auth(), "picc", 0);
  change.set_new_key_name("new");
  EXPECT_TRUE(Validate(change).ok()) << Validate(change);

  v1::CreateFileRequest file = Valid<v1::CreateFileRequest>();
  file.set_iso_file_id(0xE104);
  file.mutable_settings()->set_file_type(v1::FILE_TYPE_LINEAR_RECORD);
  file.mutable_settings()->set_communication_mode(v1::COMMUNICATION_MODE_FULL);
  file.mutable_settings()->mutable_access_rights()->set_read(14);
  file.mutable_settings()->mutable_record()->set_record_size(32);
  file.mutable_settings()->mutable_record()->set_max_records(1);
  EXPECT_TRUE(Validate(file).ok()) << Validate(file);
}

}  // namespace
}  // namespace desfired::server
