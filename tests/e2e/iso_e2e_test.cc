// ISO/IEC 7816-4 file access end to end: a blank card (desfire-sim --product ev3) behind a
// sandboxed pcscd gets an application laid out as an NTAG 424 DNA's NDEF application (DF name
// D2760000850101, DF id E110, NDEF file E104) through CreateApplication / CreateFile with ISO
// ids; then the data and record RPCs with `iso` run READ/UPDATE BINARY, READ RECORD and APPEND
// RECORD (SELECT by DF name, DF id and EF id; short file ids; an EV2 authentication before a
// write that needs a key) and their answers are checked against the native commands. Also:
// 6982 for a file in full mode, an EV1 scheme refused, `desfirectl read --iso`.
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "desfired/v1/card.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/integration/pcsc_sandbox.h"
#include "tests/testing/cli_run.h"
#include "tests/testing/e2e_support.h"

namespace desfired {
namespace {

constexpr char kKeys[] =
    "key picc     DES    0000000000000000 roles=admin use=picc-master,app-master\n"
    "key app-zero AES128 00000000000000000000000000000000\n";
constexpr uint32_t kAid = 0x112233;
const std::string kNdefDfName("\xD2\x76\x00\x00\x85\x01\x01", 7);

v1::KeyRef Key(const std::string& name, uint32_t number,
               v1::AuthScheme scheme = v1::AUTH_SCHEME_UNSPECIFIED) {
  v1::KeyRef k;
  k.set_key_name(name);
  k.set_key_number(number);
  k.set_scheme(scheme);
  return k;
}

class IsoE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::StartEmptySandbox(&sandbox_)) return;
    ASSERT_TRUE(
        sandbox_->StartCard(0, testing::ImagePath("blank.json"), {"--product", "ev3"}).ok());
    ASSERT_TRUE(sandbox_->WaitForCard(0, true, absl::Seconds(3)).ok());
    absl::StatusOr<std::string> keys = testing::WriteKeyFile(sandbox_->dir(), kKeys);
    ASSERT_TRUE(keys.ok()) << keys.status();
    server_ = std::make_unique<testing::LoopbackDesfired>(
        sandbox_->dir(), std::vector<std::string>{"--keys=" + *keys});
    ASSERT_GT(server_->port(), 0) << server_->err();
    reader_ = sandbox_->ReaderName(0);
  }

  template <typename Request>
  Request For() {
    Request r;
    r.mutable_target()->set_reader(reader_);
    if constexpr (requires { r.set_aid(kAid); }) r.set_aid(kAid);
    return r;
  }
  void CreateFile(uint32_t no, uint32_t fid, v1::FileType type, v1::CommunicationMode mode,
                  uint32_t read, uint32_t write, uint32_t size) {
    auto req = For<v1::CreateFileRequest>();
    *req.mutable_auth() = Key("app-zero", 0);
    req.set_file_no(no);
    req.set_iso_file_id(fid);
    req.mutable_settings()->set_file_type(type);
    req.mutable_settings()->set_communication_mode(mode);
    auto* ar = req.mutable_settings()->mutable_access_rights();
    ar->set_read(read);
    ar->set_write(write);
    ar->set_read_write(write);
    ar->set_change_settings(0);
    if (type == v1::FILE_TYPE_CYCLIC_RECORD) {
      req.mutable_settings()->mutable_record()->set_record_size(size);
      req.mutable_settings()->mutable_record()->set_max_records(4);
    } else {
      req.mutable_settings()->mutable_data()->set_size(size);
    }
    req.set_request_id(absl::StrCat("cf-", no));
    v1::CreateFileResponse resp;
    grpc::Status s = server_->cards().CreateFile(testing::Ctx().get(), req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  std::unique_ptr<testing::PcscSandbox> sandbox_;
  std::unique_ptr<testing::LoopbackDesfired> server_;
  std::string reader_;
};

TEST_F(IsoE2eTest, IsoFileAccessAgainstNativeCommands) {
  if (!server_) return;  // skipped: no sandbox
  auto& cards = server_->cards();
  auto app = For<v1::CreateApplicationRequest>();
  *app.mutable_auth() = Key("picc", 0);
  app.mutable_key_settings()->set_master_key_changeable(true);
  app.mutable_key_settings()->set_free_directory_list(true);
  app.mutable_key_settings()->set_free_create_delete(true);
  app.mutable_key_settings()->set_configuration_changeable(true);
  app.set_key_count(2);
  app.set_key_family(v1::KEY_FAMILY_AES);
  app.set_iso_file_id(0xE110);
  app.set_df_name(kNdefDfName);
  app.set_request_id("app-1");
  v1::CreateApplicationResponse app_resp;
  grpc::Status s = cards.CreateApplication(testing::Ctx().get(), app, &app_resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  // NDEF file: read free, write with key 0; a cyclic record file, free; a full-mode file.
  ASSERT_NO_FATAL_FAILURE(
      CreateFile(2, 0xE104, v1::FILE_TYPE_STANDARD, v1::COMMUNICATION_MODE_PLAIN, 14, 0, 300));
  ASSERT_NO_FATAL_FAILURE(
      CreateFile(4, 0xE106, v1::FILE_TYPE_CYCLIC_RECORD, v1::COMMUNICATION_MODE_PLAIN, 14, 14, 4));
  ASSERT_NO_FATAL_FAILURE(
      CreateFile(5, 0xE107, v1::FILE_TYPE_STANDARD, v1::COMMUNICATION_MODE_FULL, 1, 1, 16));

  // UPDATE BINARY past offset 255 on the current EF (SELECT by DF name, EF id), after an EV2
  // authentication with key 0.
  const std::string payload = "ISO 7816-4 through desfired";
  auto write = For<v1::WriteDataRequest>();
  write.set_file_no(2);
  *write.mutable_auth() = Key("app-zero", 0, v1::AUTH_SCHEME_EV2);
  write.set_offset(260);
  write.set_data(payload);
  write.mutable_iso()->set_enabled(true);
  write.mutable_iso()->set_df_name(kNdefDfName);
  write.mutable_iso()->set_ef_file_id(0xE104);
  write.set_request_id("w-1");
  v1::WriteDataResponse written;
  s = cards.WriteData(testing::Ctx().get(), write, &written);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(written.committed());

  // READ BINARY (SELECT by DF id, EF id; no key) and the native ReadData agree.
  auto read = For<v1::ReadDataRequest>();
  read.set_file_no(2);
  read.set_offset(250);
  read.set_length(40);
  v1::ReadDataResponse native;
  s = cards.ReadData(testing::Ctx().get(), read, &native);
  ASSERT_TRUE(s.ok()) << s.error_message();
  read.mutable_iso()->set_enabled(true);
  read.mutable_iso()->set_df_file_id(0xE110);
  read.mutable_iso()->set_ef_file_id(0xE104);
  v1::ReadDataResponse iso;
  s = cards.ReadData(testing::Ctx().get(), read, &iso);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(iso.data(), native.data());
  EXPECT_EQ(iso.data().substr(10, payload.size()), payload);
  // The whole file (300 bytes: two READ BINARY) and a short-file-id read.
  read.set_offset(0);
  read.set_length(0);
  s = cards.ReadData(testing::Ctx().get(), read, &iso);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(iso.data().size(), 300u);
  auto by_sfi = For<v1::ReadDataRequest>();
  by_sfi.set_file_no(2);
  by_sfi.set_length(8);
  by_sfi.mutable_iso()->set_enabled(true);
  s = cards.ReadData(testing::Ctx().get(), by_sfi, &iso);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(iso.data(), std::string(8, '\0'));
  // An offset over 255 needs the EF id.
  by_sfi.set_offset(260);
  s = cards.ReadData(testing::Ctx().get(), by_sfi, &iso);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::OUT_OF_RANGE) << s.error_message();

  // A file in full mode answers 69 82; an EV1 scheme is refused before anything is sent.
  auto full = For<v1::ReadDataRequest>();
  full.set_file_no(5);
  full.mutable_iso()->set_enabled(true);
  *full.mutable_auth() = Key("app-zero", 1, v1::AUTH_SCHEME_EV2);
  s = cards.ReadData(testing::Ctx().get(), full, &iso);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
  EXPECT_NE(s.error_message().find("6982"), std::string::npos) << s.error_message();
  *full.mutable_auth() = Key("app-zero", 1, v1::AUTH_SCHEME_AES);
  s = cards.ReadData(testing::Ctx().get(), full, &iso);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();

  // APPEND RECORD twice, then READ RECORD against the native ReadRecords.
  const std::string recs[] = {std::string("\x11\x22"), std::string("\x33\x44\x55")};
  for (int i = 0; i < 2; ++i) {
    auto append = For<v1::WriteRecordRequest>();
    append.set_file_no(4);
    append.set_data(recs[i]);
    append.mutable_iso()->set_enabled(true);
    append.set_request_id(absl::StrCat("r-", i));
    v1::WriteRecordResponse appended;
    s = cards.WriteRecord(testing::Ctx().get(), append, &appended);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  auto records = For<v1::ReadRecordsRequest>();
  records.set_file_no(4);
  v1::ReadRecordsResponse native_records;
  s = cards.ReadRecords(testing::Ctx().get(), records, &native_records);
  ASSERT_TRUE(s.ok()) << s.error_message();
  records.mutable_iso()->set_enabled(true);
  records.mutable_iso()->set_ef_file_id(0xE106);
  v1::ReadRecordsResponse iso_records;
  s = cards.ReadRecords(testing::Ctx().get(), records, &iso_records);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(iso_records.records_size(), 2);
  ASSERT_EQ(native_records.records_size(), 2);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(iso_records.records(i).data(), native_records.records(i).data());
    EXPECT_EQ(iso_records.records(i).offset(), native_records.records(i).offset());
  }
  EXPECT_EQ(iso_records.records(0).data(), std::string("\x33\x44\x55\x00", 4));

  testing::CliRun cli = testing::RunDesfirectl(
      DESFIRECTL, absl::StrCat("read --server 127.0.0.1:", server_->port(), " --reader '", reader_,
                               "' --aid 112233 --file 2 --offset 270 --length 5",
                               " --iso --iso-df-name D2760000850101 --iso-ef-id E104"));
  EXPECT_EQ(cli.exit_code, 0) << cli.err;
  EXPECT_NE(cli.out.find("|" + payload.substr(10, 5) + "|"), std::string::npos) << cli.out;
  EXPECT_EQ(server_->Stop(), 0) << server_->err();
}

}  // namespace
}  // namespace desfired
