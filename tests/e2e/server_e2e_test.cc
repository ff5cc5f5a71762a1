// desfired end to end: the real server on loopback, a gRPC client, a sandboxed pcscd with
// vpcd readers and desfire-sim cards (reader 0: the transit card, reader 1: a blank card).
// One sandbox and one server per test process (libpcsclite reads its socket name once);
// ctest runs every test in its own process.
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "desfired/v1/card.grpc.pb.h"
#include "desfired/v1/taps.grpc.pb.h"
#include "google/rpc/error_details.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/health_check_service_interface.h"
#include "gtest/gtest.h"
#include "server/server.h"
#include "tests/integration/pcsc_sandbox.h"
#include "tests/testing/e2e_support.h"
#include "tests/testing/http_get.h"
#include "tests/testing/prometheus_text.h"
#include "tests/unit/hex_testing.h"

namespace desfired {
namespace {

using test_util::Hex;

using testing::Ctx;
using testing::DesfiredRun;
using testing::InfoOf;
using testing::kTransitAid;
using testing::RunDesfired;

// Besides the transit keys (tests/testing/transit_keys.h): the keys of an application the
// tests create on the blank card.
constexpr char kAppKeys[] =
    "key app-zero       AES128 00000000000000000000000000000000\n"
    "key app-new        AES128 0f0e0d0c0b0a09080706050403020100\n";

std::string HexOf(const std::string& s) { return HexEncode(AsBytes(s)); }

class ServerE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::StartTransitSandbox(&sandbox_, /*blank_card=*/true)) return;
    transit_ = sandbox_->ReaderName(0);
    blank_ = sandbox_->ReaderName(1);

    absl::StatusOr<std::string> keys =
        testing::WriteKeyFile(sandbox_->dir(), absl::StrCat(testing::kTransitKeyFile, kAppKeys));
    ASSERT_TRUE(keys.ok()) << keys.status();
    key_path_ = *keys;

    server::ServerConfig config;
    config.listen = "127.0.0.1:0";
    config.keys_file = key_path_;
    config.queue_limit = 4;
    auto server = server::DesfiredServer::Start(config);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    channel_ = testing::LoopbackChannel(server_->port());
    cards_ = v1::CardService::NewStub(channel_);
    taps_ = v1::TapService::NewStub(channel_);
    // The monitor's snapshot lists both readers before Start returns.
  }

  void TearDown() override {
    if (server_) server_->Shutdown(absl::Seconds(1));
  }

  v1::KeyRef Key(const std::string& name, uint32_t number) {
    v1::KeyRef k;
    k.set_key_name(name);
    k.set_key_number(number);
    return k;
  }

  int32_t Value(const std::string& reader = "") {
    v1::GetValueRequest req;
    req.mutable_target()->set_reader(reader.empty() ? transit_ : reader);
    req.set_aid(kTransitAid);
    req.set_file_no(1);
    *req.mutable_auth() = Key("transit-read", 1);
    v1::GetValueResponse resp;
    grpc::Status s = cards_->GetValue(Ctx().get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return s.ok() ? resp.value() : -1;
  }

  v1::DebitRequest DebitReq(int32_t amount, const std::string& request_id) {
    v1::DebitRequest req;
    req.mutable_target()->set_reader(transit_);
    req.set_aid(kTransitAid);
    req.set_file_no(1);
    *req.mutable_auth() = Key("transit-debit", 2);
    req.set_amount(amount);
    req.set_request_id(request_id);
    return req;
  }

  // A WatchCards stream of `reader` on `ctx`, its snapshot read.
  std::unique_ptr<grpc::ClientReader<v1::WatchCardsResponse>> WatchOne(grpc::ClientContext* ctx,
                                                                       const std::string& reader) {
    v1::WatchCardsRequest req;
    req.add_readers(reader);
    auto stream = cards_->WatchCards(ctx, req);
    v1::WatchCardsResponse snapshot;
    EXPECT_TRUE(stream->Read(&snapshot));
    EXPECT_TRUE(snapshot.has_snapshot());
    return stream;
  }

  std::unique_ptr<testing::PcscSandbox> sandbox_;
  std::string transit_, blank_, key_path_;
  std::unique_ptr<server::DesfiredServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::CardService::Stub> cards_;
  std::unique_ptr<v1::TapService::Stub> taps_;
};

TEST_F(ServerE2eTest, ReadersInfoAndReads) {
  v1::ListReadersResponse readers;
  ASSERT_TRUE(cards_->ListReaders(Ctx().get(), {}, &readers).ok());
  ASSERT_GE(readers.readers_size(), 2);
  EXPECT_EQ(readers.readers(0).name(), transit_);
  EXPECT_TRUE(readers.readers(0).card_present());
  EXPECT_EQ(HexOf(readers.readers(0).atr()), "3b8180018080");

  v1::GetCardInfoRequest info_req;
  info_req.mutable_target()->set_reader(transit_);
  v1::GetCardInfoResponse info;
  grpc::Status s = cards_->GetCardInfo(Ctx().get(), info_req, &info);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(HexOf(info.uid()), "04a1b2c3d4e5f6");
  EXPECT_EQ(info.version().generation(), v1::CARD_GENERATION_EV1);
  EXPECT_EQ(info.version().product(), v1::CARD_PRODUCT_DESFIRE_EV1);
  EXPECT_GT(info.free_memory(), 0u);

  v1::ListApplicationsRequest apps_req;
  apps_req.mutable_target()->set_reader(transit_);
  v1::ListApplicationsResponse apps;
  s = cards_->ListApplications(Ctx().get(), apps_req, &apps);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(apps.applications_size(), 1);
  EXPECT_EQ(apps.applications(0).aid(), kTransitAid);

  v1::ListFilesRequest files_req;
  files_req.mutable_target()->set_reader(transit_);
  files_req.set_aid(kTransitAid);
  files_req.set_include_settings(true);
  v1::ListFilesResponse files;
  s = cards_->ListFiles(Ctx().get(), files_req, &files);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(files.files_size(), 5);

  v1::GetFileSettingsRequest fs_req;
  fs_req.mutable_target()->set_reader(transit_);
  fs_req.set_aid(kTransitAid);
  fs_req.set_file_no(1);
  v1::GetFileSettingsResponse fs;
  s = cards_->GetFileSettings(Ctx().get(), fs_req, &fs);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(fs.settings().file_type(), v1::FILE_TYPE_VALUE);
  EXPECT_EQ(fs.settings().communication_mode(), v1::COMMUNICATION_MODE_FULL);

  EXPECT_EQ(Value(), 2500);

  // Standard file 5 (full mode, read key 1).
  v1::ReadDataRequest read_req;
  read_req.mutable_target()->set_reader(transit_);
  read_req.set_aid(kTransitAid);
  read_req.set_file_no(5);
  *read_req.mutable_auth() = Key("transit-read", 1);
  v1::ReadDataResponse read;
  s = cards_->ReadData(Ctx().get(), read_req, &read);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_GT(read.data().size(), 0u);

  // The tap log parses VALID with the tap key of the store.
  v1::ReadTapLogRequest log_req;
  log_req.mutable_target()->set_reader(transit_);
  log_req.set_aid(kTransitAid);
  log_req.set_file_no(3);
  *log_req.mutable_auth() = Key("transit-read", 1);
  v1::ReadTapLogResponse log;
  s = cards_->ReadTapLog(Ctx().get(), log_req, &log);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_GT(log.results_size(), 0);
  EXPECT_EQ(log.summary().valid(), static_cast<uint64_t>(log.results_size()));

  v1::ReadRecordsRequest rec_req;
  rec_req.mutable_target()->set_reader(transit_);
  rec_req.set_aid(kTransitAid);
  rec_req.set_file_no(3);
  *rec_req.mutable_auth() = Key("transit-read", 1);
  rec_req.set_page_size(2);
  v1::ReadRecordsResponse recs;
  s = cards_->ReadRecords(Ctx().get(), rec_req, &recs);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(recs.records_size(), 2);
  EXPECT_EQ(recs.total_records(), static_cast<uint32_t>(log.results_size()));
  EXPECT_FALSE(recs.next_page_token().empty());
}

TEST_F(ServerE2eTest, ValueChangesAndData) {
  v1::DebitResponse debit;
  grpc::Status s = cards_->Debit(Ctx().get(), DebitReq(150, "d-1"), &debit);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(debit.change().committed());
  EXPECT_EQ(Value(), 2350);

  // Limited credit: at most what the last debit took (150), before any credit.
  v1::LimitedCreditRequest lc_req;
  lc_req.mutable_target()->set_reader(transit_);
  lc_req.set_aid(kTransitAid);
  lc_req.set_file_no(1);
  *lc_req.mutable_auth() = Key("transit-debit", 2);
  lc_req.set_amount(10);
  lc_req.set_request_id("lc-1");
  v1::LimitedCreditResponse lc;
  s = cards_->LimitedCredit(Ctx().get(), lc_req, &lc);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(Value(), 2360);

  v1::CreditRequest credit_req;
  credit_req.mutable_target()->set_reader(transit_);
  credit_req.set_aid(kTransitAid);
  credit_req.set_file_no(1);
  *credit_req.mutable_auth() = Key("transit-credit", 3);
  credit_req.set_amount(50);
  credit_req.set_request_id("c-1");
  v1::CreditResponse credit;
  s = cards_->Credit(Ctx().get(), credit_req, &credit);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(Value(), 2410);
  EXPECT_EQ(credit.change().value_before(), 2360);
  EXPECT_EQ(credit.change().value_after(), 2410);

  // Too much: INSUFFICIENT_VALUE, nothing changes.
  const int32_t before = Value();
  s = cards_->Debit(Ctx().get(), DebitReq(1000000, "d-2"), &debit);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_EQ(InfoOf(s).reason(), "INSUFFICIENT_VALUE");
  EXPECT_EQ(InfoOf(s).metadata().at("desfire_status"), "BE");
  EXPECT_EQ(Value(), before);

  // Backup file 2 (MAC mode): written with key 2, committed, read back with key 1.
  v1::WriteDataRequest w;
  w.mutable_target()->set_reader(transit_);
  w.set_aid(kTransitAid);
  w.set_file_no(2);
  *w.mutable_auth() = Key("transit-debit", 2);
  w.set_offset(0);
  w.set_data("hello desfired");
  w.set_request_id("w-1");
  v1::WriteDataResponse wr;
  s = cards_->WriteData(Ctx().get(), w, &wr);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(wr.committed());
  v1::ReadDataRequest r;
  r.mutable_target()->set_reader(transit_);
  r.set_aid(kTransitAid);
  r.set_file_no(2);
  *r.mutable_auth() = Key("transit-read", 1);
  r.set_length(14);
  v1::ReadDataResponse rr;
  s = cards_->ReadData(Ctx().get(), r, &rr);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(rr.data(), "hello desfired");

  // A record written to the tap log, then the log cleared.
  v1::WriteRecordRequest wrec;
  wrec.mutable_target()->set_reader(transit_);
  wrec.set_aid(kTransitAid);
  wrec.set_file_no(3);
  *wrec.mutable_auth() = Key("transit-debit", 2);
  wrec.set_data(std::string(32, '\x42'));
  wrec.set_request_id("wr-1");
  v1::WriteRecordResponse wrec_resp;
  s = cards_->WriteRecord(Ctx().get(), wrec, &wrec_resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  v1::ReadRecordsRequest rec_req;
  rec_req.mutable_target()->set_reader(transit_);
  rec_req.set_aid(kTransitAid);
  rec_req.set_file_no(3);
  *rec_req.mutable_auth() = Key("transit-read", 1);
  rec_req.set_page_size(1);
  v1::ReadRecordsResponse recs;
  s = cards_->ReadRecords(Ctx().get(), rec_req, &recs);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(recs.records_size(), 1);
  EXPECT_EQ(recs.records(0).data(), std::string(32, '\x42'));  // the newest first

  v1::ClearRecordFileRequest clear;
  clear.mutable_target()->set_reader(transit_);
  clear.set_aid(kTransitAid);
  clear.set_file_no(3);
  *clear.mutable_auth() = Key("transit-credit", 3);  // read&write key
  clear.set_request_id("clr-1");
  v1::ClearRecordFileResponse clear_resp;
  s = cards_->ClearRecordFile(Ctx().get(), clear, &clear_resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  s = cards_->ReadRecords(Ctx().get(), rec_req, &recs);
  // An empty record file: no records (or the card's boundary error, mapped cleanly).
  if (s.ok()) {
    EXPECT_EQ(recs.records_size(), 0);
  } else {
    EXPECT_EQ(s.error_code(), grpc::StatusCode::OUT_OF_RANGE) << s.error_message();
  }

  // A deferred debit is not committed; the next call, with another key, authenticates anew and
  // the card rolls the open transaction back: the value stays.
  const int32_t before_abort = Value();
  v1::DebitRequest deferred = DebitReq(5, "d-3");
  deferred.set_defer_commit(true);
  s = cards_->Debit(Ctx().get(), deferred, &debit);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_FALSE(debit.change().committed());
  EXPECT_EQ(Value(), before_abort);
}

TEST_F(ServerE2eTest, AdminCallsOnTheBlankCard) {
  auto target = [&](auto* req) { req->mutable_target()->set_reader(blank_); };
  v1::FormatCardRequest format;
  target(&format);
  *format.mutable_auth() = Key("picc", 0);
  format.set_request_id("f-1");
  v1::GetCardInfoRequest info_req;
  target(&info_req);
  v1::GetCardInfoResponse info;
  ASSERT_TRUE(cards_->GetCardInfo(Ctx().get(), info_req, &info).ok());
  format.mutable_target()->set_expected_uid(info.uid());
  v1::FormatCardResponse format_resp;
  grpc::Status s = cards_->FormatCard(Ctx().get(), format, &format_resp);
  ASSERT_TRUE(s.ok()) << s.error_message();

  v1::CreateApplicationRequest app;
  target(&app);
  *app.mutable_auth() = Key("picc", 0);
  app.set_aid(0x112233);
  app.mutable_key_settings()->set_master_key_changeable(true);
  app.mutable_key_settings()->set_free_directory_list(true);
  app.mutable_key_settings()->set_free_create_delete(true);
  app.mutable_key_settings()->set_configuration_changeable(true);
  app.set_key_count(2);
  app.set_key_family(v1::KEY_FAMILY_AES);
  app.set_request_id("a-1");
  v1::CreateApplicationResponse app_resp;
  s = cards_->CreateApplication(Ctx().get(), app, &app_resp);
  ASSERT_TRUE(s.ok()) << s.error_message();

  v1::CreateFileRequest file;
  target(&file);
  file.set_aid(0x112233);
  *file.mutable_auth() = Key("app-zero", 0);
  file.set_file_no(7);
  file.mutable_settings()->set_file_type(v1::FILE_TYPE_STANDARD);
  file.mutable_settings()->set_communication_mode(v1::COMMUNICATION_MODE_FULL);
  auto* ar = file.mutable_settings()->mutable_access_rights();
  ar->set_read(1);
  ar->set_write(1);
  ar->set_read_write(1);
  ar->set_change_settings(0);
  file.mutable_settings()->mutable_data()->set_size(64);
  file.set_request_id("cf-1");
  v1::CreateFileResponse file_resp;
  s = cards_->CreateFile(Ctx().get(), file, &file_resp);
  ASSERT_TRUE(s.ok()) << s.error_message();

  v1::ChangeKeyRequest ck;
  target(&ck);
  ck.set_aid(0x112233);
  *ck.mutable_auth() = Key("app-zero", 0);
  ck.set_key_number(1);
  ck.set_new_key_name("app-new");
  ck.set_old_key_name("app-zero");
  ck.set_request_id("ck-1");
  v1::ChangeKeyResponse ck_resp;
  s = cards_->ChangeKey(Ctx().get(), ck, &ck_resp);
  ASSERT_TRUE(s.ok()) << s.error_message();

  // Key 1 is now app-new: it writes and reads the enciphered file.
  v1::WriteDataRequest w;
  target(&w);
  w.set_aid(0x112233);
  w.set_file_no(7);
  *w.mutable_auth() = Key("app-new", 1);
  w.set_data("secret");
  w.set_request_id("w-2");
  v1::WriteDataResponse wr;
  s = cards_->WriteData(Ctx().get(), w, &wr);
  ASSERT_TRUE(s.ok()) << s.error_message();
  v1::ReadDataRequest r;
  target(&r);
  r.set_aid(0x112233);
  r.set_file_no(7);
  *r.mutable_auth() = Key("app-zero", 1);  // the old key no longer works
  r.set_length(6);
  v1::ReadDataResponse rr;
  s = cards_->ReadData(Ctx().get(), r, &rr);
  // The card refused the key: PERMISSION_DENIED (UNAUTHENTICATED is the caller's token only).
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
  EXPECT_EQ(InfoOf(s).reason(), "AUTHENTICATION_FAILED");
  *r.mutable_auth() = Key("app-new", 1);
  s = cards_->ReadData(Ctx().get(), r, &rr);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(rr.data(), "secret");

  v1::ChangeKeySettingsRequest cks;
  target(&cks);
  cks.set_aid(0x112233);
  *cks.mutable_auth() = Key("app-zero", 0);
  cks.mutable_key_settings()->set_master_key_changeable(true);
  cks.mutable_key_settings()->set_configuration_changeable(true);
  cks.set_request_id("cks-1");
  v1::ChangeKeySettingsResponse cks_resp;
  s = cards_->ChangeKeySettings(Ctx().get(), cks, &cks_resp);
  ASSERT_TRUE(s.ok()) << s.error_message();

  v1::DeleteFileRequest df;
  target(&df);
  df.set_aid(0x112233);
  *df.mutable_auth() = Key("app-zero", 0);
  df.set_file_no(7);
  df.set_request_id("df-1");
  v1::DeleteFileResponse df_resp;
  s = cards_->DeleteFile(Ctx().get(), df, &df_resp);
  ASSERT_TRUE(s.ok()) << s.error_message();

  v1::DeleteApplicationRequest da;
  target(&da);
  *da.mutable_auth() = Key("picc", 0);
  da.set_aid(0x112233);
  da.set_request_id("da-1");
  v1::DeleteApplicationResponse da_resp;
  s = cards_->DeleteApplication(Ctx().get(), da, &da_resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  v1::ListApplicationsRequest apps_req;
  target(&apps_req);
  v1::ListApplicationsResponse apps;
  ASSERT_TRUE(cards_->ListApplications(Ctx().get(), apps_req, &apps).ok());
  EXPECT_EQ(apps.applications_size(), 0);
}

// Listing needs a key the request did not name: FAILED_PRECONDITION / NOT_AUTHENTICATED, with a
// hint to name one. A key the card refuses is PERMISSION_DENIED / AUTHENTICATION_FAILED
// (UNAUTHENTICATED is kept for the caller's token).
TEST_F(ServerE2eTest, ListingWithoutTheKeyIsNotAuthenticated) {
  constexpr uint32_t kHiddenAid = 0x445566;
  // Key settings that list the applications (files) only after authentication.
  auto hidden = [](v1::KeySettings* k) {
    k->set_master_key_changeable(true);
    k->set_configuration_changeable(true);
  };
  auto expect = [](const grpc::Status& s, grpc::StatusCode code, const std::string& reason) {
    EXPECT_EQ(s.error_code(), code) << s.error_message();
    EXPECT_EQ(InfoOf(s).reason(), reason) << s.error_message();
  };
  v1::CreateApplicationRequest app;
  app.mutable_target()->set_reader(blank_);
  *app.mutable_auth() = Key("picc", 0);
  app.set_aid(kHiddenAid);
  hidden(app.mutable_key_settings());
  app.set_key_count(2);
  app.set_key_family(v1::KEY_FAMILY_AES);
  app.set_request_id("hidden-app");
  v1::CreateApplicationResponse app_resp;
  ASSERT_TRUE(cards_->CreateApplication(Ctx().get(), app, &app_resp).ok());

  v1::ListFilesRequest files;
  files.mutable_target()->set_reader(blank_);
  files.set_aid(kHiddenAid);
  v1::ListFilesResponse files_resp;
  grpc::Status s = cards_->ListFiles(Ctx().get(), files, &files_resp);
  expect(s, grpc::StatusCode::FAILED_PRECONDITION, "NOT_AUTHENTICATED");
  EXPECT_NE(s.error_message().find("auth"), std::string::npos) << s.error_message();
  *files.mutable_auth() = Key("app-new", 0);  // key 0 is still the zero key
  expect(cards_->ListFiles(Ctx().get(), files, &files_resp), grpc::StatusCode::PERMISSION_DENIED,
         "AUTHENTICATION_FAILED");
  *files.mutable_auth() = Key("app-zero", 0);
  EXPECT_TRUE(cards_->ListFiles(Ctx().get(), files, &files_resp).ok());

  // The card's own listing, once it needs the card master key.
  v1::ChangeKeySettingsRequest picc;
  picc.mutable_target()->set_reader(blank_);
  *picc.mutable_auth() = Key("picc", 0);
  hidden(picc.mutable_key_settings());
  picc.set_request_id("picc-settings");
  v1::ChangeKeySettingsResponse picc_resp;
  ASSERT_TRUE(cards_->ChangeKeySettings(Ctx().get(), picc, &picc_resp).ok());
  v1::ListApplicationsRequest apps;
  apps.mutable_target()->set_reader(blank_);
  v1::ListApplicationsResponse apps_resp;
  expect(cards_->ListApplications(Ctx().get(), apps, &apps_resp),
         grpc::StatusCode::FAILED_PRECONDITION, "NOT_AUTHENTICATED");
  *apps.mutable_auth() = Key("picc", 0);
  ASSERT_TRUE(cards_->ListApplications(Ctx().get(), apps, &apps_resp).ok());
  EXPECT_EQ(apps_resp.applications_size(), 1);
}

TEST_F(ServerE2eTest, TransactionCallsAndTaps) {
  v1::CommitTransactionRequest commit;
  commit.mutable_target()->set_reader(transit_);
  commit.set_aid(kTransitAid);
  *commit.mutable_auth() = Key("transit-debit", 2);
  commit.set_request_id("cm-1");
  v1::CommitTransactionResponse commit_resp;
  grpc::Status s = cards_->CommitTransaction(Ctx().get(), commit, &commit_resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  v1::AbortTransactionRequest abort;
  abort.mutable_target()->set_reader(transit_);
  abort.set_aid(kTransitAid);
  *abort.mutable_auth() = Key("transit-debit", 2);
  abort.set_request_id("ab-1");
  v1::AbortTransactionResponse abort_resp;
  s = cards_->AbortTransaction(Ctx().get(), abort, &abort_resp);
  ASSERT_TRUE(s.ok()) << s.error_message();

  // ParseTaps and ParseTapStream agree with ReadTapLog on the card's records.
  v1::ReadRecordsRequest rec_req;
  rec_req.mutable_target()->set_reader(transit_);
  rec_req.set_aid(kTransitAid);
  rec_req.set_file_no(3);
  *rec_req.mutable_auth() = Key("transit-read", 1);
  v1::ReadRecordsResponse recs;
  s = cards_->ReadRecords(Ctx().get(), rec_req, &recs);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_GT(recs.records_size(), 0);
  v1::ParseTapsRequest parse;
  for (const auto& r : recs.records()) parse.add_records()->set_raw(r.data());
  parse.add_records()->set_raw("too short");
  v1::ParseTapsResponse parsed;
  s = taps_->ParseTaps(Ctx().get(), parse, &parsed);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(parsed.results_size(), recs.records_size() + 1);
  EXPECT_EQ(parsed.summary().valid(), static_cast<uint64_t>(recs.records_size()));
  EXPECT_EQ(parsed.results(recs.records_size()).status(), v1::TapResult::REJECTED);

  auto ctx = Ctx();
  auto stream = taps_->ParseTapStream(ctx.get());
  uint64_t results = 0;
  for (int chunk = 0; chunk < 3; ++chunk) {
    v1::ParseTapStreamRequest req;
    for (const auto& r : recs.records()) req.add_records()->set_raw(r.data());
    ASSERT_TRUE(stream->Write(req));
    v1::ParseTapStreamResponse resp;
    ASSERT_TRUE(stream->Read(&resp));
    results += static_cast<uint64_t>(resp.results_size());
    EXPECT_EQ(resp.records_processed(), results);
    // One pipeline per stream: the second and third copies are duplicates (a warning).
    for (const v1::TapResult& r : resp.results()) {
      const bool duplicate = std::find(r.warnings().begin(), r.warnings().end(),
                                       v1::DUPLICATE_TAP) != r.warnings().end();
      EXPECT_EQ(duplicate, chunk > 0) << chunk;
    }
  }
  stream->WritesDone();
  v1::ParseTapStreamResponse last;
  ASSERT_TRUE(stream->Read(&last));
  EXPECT_TRUE(last.has_summary());
  EXPECT_EQ(last.records_processed(), results);
  s = stream->Finish();
  EXPECT_TRUE(s.ok()) << s.error_message();
}

TEST_F(ServerE2eTest, MalformedRequestsNameTheField) {
  struct Case {
    std::function<grpc::Status()> call;
    const char* field;
  };
  v1::ReadDataRequest big_aid;
  big_aid.mutable_target()->set_reader(transit_);
  big_aid.set_aid(0x1000000);
  v1::ReadDataRequest big_file;
  big_file.mutable_target()->set_reader(transit_);
  big_file.set_aid(kTransitAid);
  big_file.set_file_no(32);
  v1::ReadDataRequest big_offset = big_file;
  big_offset.set_file_no(4);
  big_offset.set_offset(0x1000000);
  v1::WriteDataRequest big_data;
  big_data.mutable_target()->set_reader(transit_);
  big_data.set_aid(kTransitAid);
  big_data.set_file_no(4);
  big_data.set_data(std::string(1 << 20, 'x'));
  v1::DebitRequest negative = DebitReq(-5, "neg");
  v1::DebitRequest no_reader = DebitReq(5, "nr");
  no_reader.mutable_target()->clear_reader();
  v1::ReadDataResponse rd;
  v1::WriteDataResponse wd;
  v1::DebitResponse db;
  const Case cases[] = {
      {[&] { return cards_->ReadData(Ctx().get(), big_aid, &rd); }, "aid"},
      {[&] { return cards_->ReadData(Ctx().get(), big_file, &rd); }, "file_no"},
      {[&] { return cards_->ReadData(Ctx().get(), big_offset, &rd); }, "offset"},
      {[&] { return cards_->WriteData(Ctx().get(), big_data, &wd); }, "data"},
      {[&] { return cards_->Debit(Ctx().get(), negative, &db); }, "amount"},
      {[&] { return cards_->Debit(Ctx().get(), no_reader, &db); }, "target.reader"},
  };
  for (const Case& c : cases) {
    grpc::Status s = c.call();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.field;
    EXPECT_EQ(InfoOf(s).metadata().at("field"), c.field) << s.error_message();
  }
  // An unknown reader, an unknown key.
  v1::DebitRequest unknown = DebitReq(5, "u");
  unknown.mutable_target()->set_reader("No Such Reader 00 00");
  grpc::Status s = cards_->Debit(Ctx().get(), unknown, &db);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(InfoOf(s).reason(), "READER_NOT_FOUND");
  v1::DebitRequest no_key = DebitReq(5, "k");
  no_key.mutable_auth()->set_key_name("nope");
  s = cards_->Debit(Ctx().get(), no_key, &db);
  EXPECT_EQ(InfoOf(s).reason(), "KEY_NOT_FOUND") << s.error_message();
  EXPECT_EQ(Value(), 2500);
}

TEST_F(ServerE2eTest, WrongCardOnTheReaderIsCardMismatch) {
  v1::DebitRequest req = DebitReq(5, "m");
  req.mutable_target()->set_expected_uid(AsString(Hex("04000000000001")));
  v1::DebitResponse resp;
  EXPECT_EQ(Value(), 2500);  // the connection is open: the refused call only reads the UID
  const int64_t before = testing::CardApdus(*sandbox_, 0);
  grpc::Status s = cards_->Debit(Ctx().get(), req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(InfoOf(s).reason(), "CARD_MISMATCH");
  // Nothing beyond identification reached the other card: FF CA, no AbortTransaction.
  EXPECT_EQ(testing::CardApdus(*sandbox_, 0), before + 1);
  EXPECT_EQ(Value(), 2500);
  req.mutable_target()->set_expected_uid(AsString(Hex("04a1b2c3d4e5f6")));
  s = cards_->Debit(Ctx().get(), req, &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(Value(), 2495);
}

// A card swapped between two calls while desfired holds its connection to the first one (it
// reads no UID per call while it holds the card): nothing meant for the first card reaches the
// second, and a call for the card on the reader now is served by it, whether desfired's reader
// monitor has seen the swap yet or not.
TEST_F(ServerE2eTest, CardSwappedBetweenCallsIsCaught) {
  const std::string transit_uid = "04a1b2c3d4e5f6", blank_uid = "04063f72633480";
  const std::string images = std::string(DESFIRED_TEST_SOURCE_DIR) + "/sim/images/";
  auto swap = [&](const std::string& image) {
    ASSERT_TRUE(sandbox_->StopCard(0).ok());
    ASSERT_TRUE(sandbox_->WaitForCard(0, false, absl::Seconds(3)).ok());
    ASSERT_TRUE(sandbox_->StartCard(0, images + image).ok());
    ASSERT_TRUE(sandbox_->WaitForCard(0, true, absl::Seconds(3)).ok());
  };
  auto card_info = [&](const std::string& expected_uid, v1::GetCardInfoResponse* info) {
    v1::GetCardInfoRequest req;
    req.mutable_target()->set_reader(transit_);
    req.mutable_target()->set_expected_uid(AsString(Hex(expected_uid)));
    return cards_->GetCardInfo(Ctx().get(), req, info);
  };
  EXPECT_EQ(Value(), 2500);  // desfired holds the transit card's connection
  EXPECT_EQ(Value(), 2500);  // and reads no UID for this call

  // The blank card takes its place. A Debit for the transit card is refused at once: either its
  // first APDU meets the connection pcscd marked (CARD_REMOVED: nothing reached the blank card),
  // or desfired already connected to the blank card (CARD_MISMATCH after the UID read).
  // (tests/integration/card_session_test.cc takes the first path every time.)
  ASSERT_NO_FATAL_FAILURE(swap("blank.json"));
  v1::DebitRequest debit = DebitReq(5, "swap-1");
  debit.mutable_target()->set_expected_uid(AsString(Hex(transit_uid)));
  v1::DebitResponse resp;
  grpc::Status s = cards_->Debit(Ctx().get(), debit, &resp);
  EXPECT_FALSE(s.ok());
  const std::string reason = InfoOf(s).reason();
  EXPECT_TRUE(reason == "CARD_REMOVED" || reason == "CARD_MISMATCH") << s.error_message();
  // A call for the blank card is served by it.
  v1::GetCardInfoResponse info;
  s = card_info(blank_uid, &info);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(HexOf(info.uid()), blank_uid);
  // Now desfired holds the blank card's connection: the transit card's UID is refused with only
  // the UID read sent (the expected UID differs from the one held: desfired reads it again).
  const int64_t before = testing::CardApdus(*sandbox_, 0);
  s = card_info(transit_uid, &info);
  EXPECT_EQ(InfoOf(s).reason(), "CARD_MISMATCH") << s.error_message();
  EXPECT_EQ(testing::CardApdus(*sandbox_, 0), before + 1);

  // The transit card comes back while desfired holds the blank card's connection: a call that
  // expects it is served by it at once (the first thing that call does is look again).
  ASSERT_NO_FATAL_FAILURE(swap("transit.json"));
  s = card_info(transit_uid, &info);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(HexOf(info.uid()), transit_uid);
  EXPECT_EQ(Value(), 2500);
}

TEST_F(ServerE2eTest, CardRemovedMidDebitLeavesTheValue) {
  EXPECT_EQ(Value(), 2500);
  // select, authenticate (2 frames), settings, debit: the debit APDU never gets an answer.
  ASSERT_TRUE(sandbox_->Control(0, "tear 5").ok());
  v1::DebitResponse resp;
  grpc::Status s = cards_->Debit(Ctx().get(), DebitReq(100, "t-1"), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_EQ(InfoOf(s).reason(), "CARD_REMOVED");
  ASSERT_TRUE(sandbox_->WaitForCard(0, false, absl::Seconds(3)).ok());
  ASSERT_TRUE(sandbox_->Control(0, "insert").ok());
  ASSERT_TRUE(sandbox_->WaitForCard(0, true, absl::Seconds(3)).ok());
  EXPECT_EQ(Value(), 2500);
}

TEST_F(ServerE2eTest, DeadlineExpiringMidOperation) {
  ASSERT_TRUE(sandbox_->Control(0, "delay 150000").ok());  // 150 ms per APDU
  auto ctx = Ctx(absl::Milliseconds(400));
  v1::DebitResponse resp;
  grpc::Status s = cards_->Debit(ctx.get(), DebitReq(100, "dl-1"), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << s.error_message();
  ASSERT_TRUE(sandbox_->Control(0, "delay 0").ok());
  EXPECT_EQ(Value(), 2500);
}

TEST_F(ServerE2eTest, FullQueueIsResourceExhausted) {
  ASSERT_TRUE(sandbox_->Control(0, "delay 50000").ok());
  std::atomic<int> exhausted{0}, ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 12; ++i) {
    threads.emplace_back([&] {
      v1::GetValueRequest req;
      req.mutable_target()->set_reader(transit_);
      req.set_aid(kTransitAid);
      req.set_file_no(1);
      *req.mutable_auth() = Key("transit-read", 1);
      v1::GetValueResponse resp;
      grpc::Status s = cards_->GetValue(Ctx(absl::Seconds(30)).get(), req, &resp);
      if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
        EXPECT_EQ(InfoOf(s).reason(), "QUEUE_FULL");
        ++exhausted;
      } else if (s.ok()) {
        ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_GT(exhausted.load(), 0);
  EXPECT_GT(ok.load(), 0);
  EXPECT_EQ(exhausted.load() + ok.load(), 12);
}

TEST_F(ServerE2eTest, TwoReadersServedInParallel) {
  // Reader 1's card stops answering in the middle of a call: its worker is stuck in that call
  // until the card leaves. Reader 0 is served all the while.
  ASSERT_TRUE(sandbox_->Control(1, "hang 2").ok());
  grpc::Status stuck_status;
  std::thread stuck([&] {
    v1::GetCardInfoRequest req;
    req.mutable_target()->set_reader(blank_);
    v1::GetCardInfoResponse resp;
    stuck_status = cards_->GetCardInfo(Ctx(absl::Seconds(60)).get(), req, &resp);
  });
  for (int i = 0; i < 5; ++i) EXPECT_EQ(Value(), 2500);
  v1::DebitResponse debit;
  grpc::Status s = cards_->Debit(Ctx().get(), DebitReq(7, "p-1"), &debit);
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(Value(), 2493);
  ASSERT_TRUE(sandbox_->Control(1, "remove").ok());  // frees reader 1's worker
  stuck.join();
  EXPECT_EQ(stuck_status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << stuck_status.error_message();
}

TEST_F(ServerE2eTest, ThousandWatchersSeeRemovalAndInsertion) {
  constexpr int kWatchers = 1000;
  struct Watcher {
    std::unique_ptr<grpc::ClientContext> ctx;
    std::unique_ptr<grpc::ClientReader<v1::WatchCardsResponse>> reader;
  };
  std::vector<Watcher> watchers(kWatchers);
  v1::WatchCardsRequest req;
  req.add_readers(transit_);
  for (Watcher& w : watchers) {
    w.ctx = Ctx(absl::Seconds(60));
    w.reader = cards_->WatchCards(w.ctx.get(), req);
    v1::WatchCardsResponse first;
    ASSERT_TRUE(w.reader->Read(&first));
    ASSERT_TRUE(first.has_snapshot());
    ASSERT_EQ(first.snapshot().readers_size(), 1);
    EXPECT_TRUE(first.snapshot().readers(0).card_present());
  }
  EXPECT_EQ(server_->watchers(), static_cast<size_t>(kWatchers));
  ASSERT_TRUE(sandbox_->Control(0, "remove").ok());
  ASSERT_TRUE(sandbox_->WaitForCard(0, false, absl::Seconds(3)).ok());
  ASSERT_TRUE(sandbox_->Control(0, "insert").ok());
  std::atomic<int> complete{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 8; ++t) {
    readers.emplace_back([&, t] {
      for (int i = t; i < kWatchers; i += 8) {
        v1::WatchCardsResponse removed, inserted;
        if (!watchers[i].reader->Read(&removed) || !watchers[i].reader->Read(&inserted)) continue;
        if (removed.event().kind() == v1::CardEvent::CARD_REMOVED &&
            inserted.event().kind() == v1::CardEvent::CARD_INSERTED &&
            HexOf(inserted.event().uid()) == "04a1b2c3d4e5f6" &&
            inserted.event().sequence() == removed.event().sequence() + 1) {
          ++complete;
        }
      }
    });
  }
  for (auto& t : readers) t.join();
  EXPECT_EQ(complete.load(), kWatchers);
  for (Watcher& w : watchers) w.ctx->TryCancel();
}

TEST_F(ServerE2eTest, WatchResumesFromASequence) {
  auto ctx = Ctx();
  v1::WatchCardsRequest req;
  auto stream = cards_->WatchCards(ctx.get(), req);
  v1::WatchCardsResponse first;
  ASSERT_TRUE(stream->Read(&first));
  const uint64_t seq = first.snapshot().sequence();
  ASSERT_TRUE(sandbox_->Control(1, "remove").ok());
  v1::WatchCardsResponse removed;
  ASSERT_TRUE(stream->Read(&removed));
  EXPECT_EQ(removed.event().kind(), v1::CardEvent::CARD_REMOVED);
  ctx->TryCancel();
  // A new stream resuming after the snapshot gets the removal again, without a snapshot.
  auto ctx2 = Ctx();
  req.set_resume_after_sequence(seq);
  auto resumed = cards_->WatchCards(ctx2.get(), req);
  v1::WatchCardsResponse again;
  ASSERT_TRUE(resumed->Read(&again));
  ASSERT_TRUE(again.has_event());
  EXPECT_EQ(again.event().sequence(), removed.event().sequence());
  ctx2->TryCancel();
  // A sequence the server never issued: OUT_OF_RANGE / HISTORY_EXPIRED.
  auto ctx3 = Ctx();
  req.set_resume_after_sequence(1);
  auto old = cards_->WatchCards(ctx3.get(), req);
  v1::WatchCardsResponse none;
  EXPECT_FALSE(old->Read(&none));
  grpc::Status s = old->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_EQ(InfoOf(s).reason(), "HISTORY_EXPIRED");
}

// pcscd killed and restarted under a running desfired: the next call works, and watchers see
// the card leave and come back.
TEST_F(ServerE2eTest, PcscdRestartIsSurvived) {
  EXPECT_EQ(Value(), 2500);
  auto ctx = Ctx(absl::Seconds(30));
  auto stream = WatchOne(ctx.get(), transit_);
  v1::WatchCardsResponse item;
  ASSERT_TRUE(sandbox_->RestartPcscd().ok());
  ASSERT_TRUE(sandbox_->WaitForCard(0, true, absl::Seconds(10)).ok());
  bool removed = false, inserted = false;
  while (!inserted && stream->Read(&item)) {
    if (item.event().kind() == v1::CardEvent::CARD_REMOVED) removed = true;
    if (item.event().kind() == v1::CardEvent::CARD_INSERTED) inserted = true;
  }
  EXPECT_TRUE(removed);
  EXPECT_TRUE(inserted);
  EXPECT_EQ(Value(), 2500);
  v1::DebitResponse debit;
  grpc::Status s = cards_->Debit(Ctx().get(), DebitReq(1, "r-1"), &debit);
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(Value(), 2499);
  ctx->TryCancel();
}

// --- pcscd outages, through the desfired binary -------------------------------------------

using grpc::health::v1::HealthCheckResponse;

constexpr absl::Duration kWait = absl::Seconds(20);

HealthCheckResponse::ServingStatus Health(const std::shared_ptr<grpc::Channel>& channel) {
  auto health = grpc::health::v1::Health::NewStub(channel);
  grpc::health::v1::HealthCheckRequest req;
  HealthCheckResponse resp;
  grpc::Status s = health->Check(Ctx().get(), req, &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return resp.status();
}

// Waits until the health service answers `want`; true when it did within kWait.
bool WaitForHealth(const std::shared_ptr<grpc::Channel>& channel,
                   HealthCheckResponse::ServingStatus want) {
  for (absl::Time end = absl::Now() + kWait; absl::Now() < end;) {
    if (Health(channel) == want) return true;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return false;
}

// Reads the stream until an event of `kind`; false when the stream ends first.
bool ReadUntil(grpc::ClientReader<v1::WatchCardsResponse>& stream, v1::CardEvent::Kind kind) {
  v1::WatchCardsResponse item;
  while (stream.Read(&item)) {
    if (item.has_event() && item.event().kind() == kind) return true;
  }
  return false;
}

// The metrics port, from the "listening" log line.
int MetricsPort(const std::string& log) {
  const std::string key = "\"metrics_port\":";
  const size_t at = log.find(key);
  if (at == std::string::npos) return 0;
  int port = 0;
  const std::string rest = log.substr(at + key.size());
  return absl::SimpleAtoi(rest.substr(0, rest.find_first_of(",}")), &port) ? port : 0;
}

double Readers(int metrics_port) {
  absl::StatusOr<testing::HttpResponse> r = testing::HttpGet(metrics_port, "/metrics");
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? testing::SampleOr0(r->body, "desfired_readers") : -1;
}

// Without pcscd desfired starts and says NOT_SERVING; ListReaders is UNAVAILABLE /
// PCSC_UNAVAILABLE and the readers gauge 0. When pcscd comes, it serves the readers; when
// pcscd goes, back to the outage — and WatchCards reports both.
TEST_F(ServerE2eTest, PcscdMissingAtStartAndGoingAway) {
  const std::string dir = sandbox_->dir();
  ASSERT_TRUE(sandbox_->KillPcscd().ok());
  testing::DesfiredProcess server(
      dir, {"--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0", "--keys=" + key_path_,
            absl::StrCat("--pcsc_socket=", dir, "/run/pcscd.comm")});
  ASSERT_GT(server.port(), 0) << server.err();
  std::shared_ptr<grpc::Channel> channel = server.Channel();
  auto cards = v1::CardService::NewStub(channel);
  const int metrics_port = MetricsPort(server.err());
  ASSERT_GT(metrics_port, 0) << server.err();

  EXPECT_EQ(Health(channel), HealthCheckResponse::NOT_SERVING);
  v1::ListReadersResponse readers;
  grpc::Status s = cards->ListReaders(Ctx().get(), {}, &readers);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_EQ(InfoOf(s).reason(), "PCSC_UNAVAILABLE");
  EXPECT_EQ(Readers(metrics_port), 0);
  auto watch_ctx = Ctx(absl::Seconds(60));
  auto watch = cards->WatchCards(watch_ctx.get(), {});
  v1::WatchCardsResponse first;
  ASSERT_TRUE(watch->Read(&first));
  ASSERT_TRUE(first.has_snapshot());
  EXPECT_TRUE(first.snapshot().pcsc_unavailable());

  // pcscd comes: SERVING, the readers listed (with the transit card), an event.
  ASSERT_TRUE(sandbox_->StartPcscd().ok());
  EXPECT_TRUE(ReadUntil(*watch, v1::CardEvent::PCSC_AVAILABLE));
  EXPECT_TRUE(WaitForHealth(channel, HealthCheckResponse::SERVING)) << server.err();
  bool listed = false;
  for (absl::Time end = absl::Now() + kWait; !listed && absl::Now() < end;) {
    s = cards->ListReaders(Ctx().get(), {}, &readers);
    listed = s.ok() && readers.readers_size() >= 2 && readers.readers(0).card_present();
    if (!listed) absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_TRUE(listed) << s.error_message();
  EXPECT_EQ(readers.readers(0).name(), transit_);
  EXPECT_EQ(Readers(metrics_port), readers.readers_size());

  // pcscd goes: the outage is an event, ListReaders UNAVAILABLE, the gauge 0.
  ASSERT_TRUE(sandbox_->KillPcscd().ok());
  EXPECT_TRUE(ReadUntil(*watch, v1::CardEvent::PCSC_UNAVAILABLE));
  s = cards->ListReaders(Ctx().get(), {}, &readers);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_EQ(InfoOf(s).reason(), "PCSC_UNAVAILABLE");
  EXPECT_EQ(Readers(metrics_port), 0);
  EXPECT_TRUE(WaitForHealth(channel, HealthCheckResponse::NOT_SERVING));
  watch_ctx->TryCancel();
  (void)watch->Finish();
  EXPECT_EQ(server.Stop(), 0) << server.err();
}

// A card whose UID cannot be read when it arrives (the reader fails GET DATA, as while pcscd
// restarts) is listed with the reason, and desfired reads the UID again while the card stays:
// watchers get CARD_UPDATED and ListReaders the UID, without the card leaving.
TEST_F(ServerE2eTest, UnreadableUidIsReadAgainWhileTheCardStays) {
  auto ctx = Ctx(absl::Seconds(30));
  auto stream = WatchOne(ctx.get(), blank_);
  v1::WatchCardsResponse item;
  ASSERT_TRUE(sandbox_->Control(1, "remove").ok());
  ASSERT_TRUE(stream->Read(&item));
  ASSERT_EQ(item.event().kind(), v1::CardEvent::CARD_REMOVED);
  ASSERT_TRUE(sandbox_->Control(1, "failuid 1000000").ok());
  ASSERT_TRUE(sandbox_->Control(1, "insert").ok());
  ASSERT_TRUE(stream->Read(&item));
  ASSERT_EQ(item.event().kind(), v1::CardEvent::CARD_INSERTED);
  EXPECT_EQ(item.event().uid(), "");
  EXPECT_EQ(item.event().uid_unknown_reason().rfind("UID unknown: ", 0), 0u)
      << item.event().uid_unknown_reason();
  auto listed = [&]() -> v1::Reader {
    v1::ListReadersResponse readers;
    EXPECT_TRUE(cards_->ListReaders(Ctx().get(), {}, &readers).ok());
    for (const v1::Reader& r : readers.readers()) {
      if (r.name() == blank_) return r;
    }
    return {};
  };
  v1::Reader reader = listed();
  EXPECT_TRUE(reader.card_present());
  EXPECT_EQ(reader.uid(), "");
  EXPECT_FALSE(reader.uid_unknown_reason().empty());

  ASSERT_TRUE(sandbox_->Control(1, "failuid 0").ok());
  ASSERT_TRUE(stream->Read(&item));
  EXPECT_EQ(item.event().kind(), v1::CardEvent::CARD_UPDATED);
  EXPECT_EQ(HexOf(item.event().uid()), "04063f72633480");  // sim/images/blank.json
  reader = listed();
  EXPECT_EQ(HexOf(reader.uid()), "04063f72633480");
  EXPECT_EQ(reader.uid_unknown_reason(), "");
  ctx->TryCancel();
}

// The desfired binary: a bad config names the field; SIGTERM stops it cleanly.
TEST_F(ServerE2eTest, BinaryRefusesBadConfigAndStopsOnSigterm) {
  const std::string dir = sandbox_->dir();
  const std::string socket = absl::StrCat("--pcsc_socket=", dir, "/run/pcscd.comm");
  DesfiredRun remote = RunDesfired({"--listen=0.0.0.0:0", socket}, dir, false);
  EXPECT_EQ(remote.exit_code, 1);
  EXPECT_NE(remote.err.find("config listen"), std::string::npos) << remote.err;
  ASSERT_EQ(::chmod(key_path_.c_str(), 0644), 0);
  DesfiredRun open_keys =
      RunDesfired({"--listen=127.0.0.1:0", socket, "--keys=" + key_path_}, dir, false);
  EXPECT_EQ(open_keys.exit_code, 1);
  EXPECT_NE(open_keys.err.find("config keys_file"), std::string::npos) << open_keys.err;
  EXPECT_EQ(open_keys.err.find("a0a1a2a3"), std::string::npos) << "key bytes in an error";
  ASSERT_EQ(::chmod(key_path_.c_str(), 0600), 0);
  DesfiredRun good =
      RunDesfired({"--listen=127.0.0.1:0", socket, "--keys=" + key_path_}, dir, true);
  EXPECT_EQ(good.exit_code, 0) << good.err;
  EXPECT_NE(good.err.find("shutting down"), std::string::npos) << good.err;
}

// The health service says SERVING while pcscd is reachable, and the probe agrees.
TEST_F(ServerE2eTest, HealthServingAndProbe) {
  ASSERT_NO_FATAL_FAILURE(testing::ExpectServing(channel_));
  const std::string probe =
      absl::StrCat(HEALTH_PROBE, " --addr 127.0.0.1:", server_->port(), " >/dev/null 2>&1");
  EXPECT_EQ(std::system(probe.c_str()), 0);
  server_->Shutdown(absl::Seconds(1));
  EXPECT_NE(std::system(probe.c_str()), 0);
}

}  // namespace
}  // namespace desfired
