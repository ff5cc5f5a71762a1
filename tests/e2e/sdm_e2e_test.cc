// The SUN loop end to end: SDM configured on a file of desfire-sim cards (an EV3 in AES mode,
// one in LRP mode, another UID: --sun_counters keeps counters per UID) through desfired
// (CreateApplication, ChangeKey, CreateFile with SDM settings, WriteData of a URL template), the
// file read N times through desfired, and every read's URL parameters verified by
// TapService.VerifySun with the keys of the key store: VALID with counters 1..N, a tampered MAC
// FLAGGED, a replay COUNTER_NOT_NEWER
// (--sun_counters), and K_SDMFileRead diversified per tag (AN10922) after ChangeKey to a
// diversifying store key; then VerifySunStream in chunks. One sandbox and one desfired.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "desfired/v1/card.grpc.pb.h"
#include "desfired/v1/taps.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/integration/pcsc_sandbox.h"
#include "tests/testing/cli_run.h"
#include "tests/testing/e2e_support.h"

namespace desfired {
namespace {

constexpr char kKeys[] =
    "key picc DES 0000000000000000\n"
    "key sdm-master AES128 00000000000000000000000000000000\n"
    "key sdm-meta AES128 0f1e2d3c4b5a69788796a5b4c3d2e1f0\n"
    "key sdm-file AES128 f0e1d2c3b4a5968778695a4b3c2d1e0f\n"
    "key sdm-tags AES128 00112233445566778899aabbccddeeff diversify=an10922\n";
constexpr uint32_t kAid = 0x5D0001;
constexpr uint32_t kFile = 2;
// The file: a URL template; the card writes PICCData (32 or 48 characters) at 24 and the MAC
// after "&c=", over the PICCData and "&c=".
constexpr char kPrefix[] = "https://sdm.example/t?e=";
constexpr uint32_t kPiccOffset = 24;

uint32_t PiccChars(bool lrp) { return lrp ? 48 : 32; }
uint32_t MacOffset(bool lrp) { return kPiccOffset + PiccChars(lrp) + 3; }

class SdmE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!testing::StartEmptySandbox(&sandbox_)) return;
    ASSERT_TRUE(
        sandbox_->StartCard(0, testing::ImagePath("blank.json"), {"--product", "ev3"}).ok());
    ASSERT_TRUE(
        sandbox_->StartCard(1, testing::ImagePath("transit.json"), {"--product", "ev3", "--lrp"})
            .ok());
    ASSERT_TRUE(sandbox_->WaitForCard(0, true, absl::Seconds(3)).ok());
    ASSERT_TRUE(sandbox_->WaitForCard(1, true, absl::Seconds(3)).ok());
    absl::StatusOr<std::string> keys = testing::WriteKeyFile(sandbox_->dir(), kKeys);
    ASSERT_TRUE(keys.ok()) << keys.status();
    server_ = std::make_unique<testing::LoopbackDesfired>(
        sandbox_->dir(), std::vector<std::string>{"--keys=" + *keys, "--sun_counters"});
    ASSERT_GT(server_->port(), 0) << server_->err();
  }
  static void TearDownTestSuite() {
    if (server_) {
      EXPECT_EQ(server_->Stop(), 0) << server_->err();
    }
    server_.reset();
    sandbox_.reset();
  }
  void SetUp() override {
    if (!server_) GTEST_SKIP() << "no sandbox";
  }

  static v1::KeyRef Master(bool lrp) {
    v1::KeyRef k;
    k.set_key_name("sdm-master");
    k.set_key_number(0);
    k.set_scheme(lrp ? v1::AUTH_SCHEME_LRP : v1::AUTH_SCHEME_EV2);
    return k;
  }

  static grpc::Status ChangeKey(const std::string& reader, bool lrp, uint32_t key_no,
                                const std::string& new_key, const std::string& old_key) {
    v1::ChangeKeyRequest req;
    req.mutable_target()->set_reader(reader);
    req.set_aid(kAid);
    *req.mutable_auth() = Master(lrp);
    req.set_key_number(key_no);
    req.set_new_key_name(new_key);
    req.set_old_key_name(old_key);
    v1::ChangeKeyResponse resp;
    return server_->cards().ChangeKey(testing::Ctx().get(), req, &resp);
  }

  // An AES application with keys 1 (K_SDMMetaRead) and 2 (K_SDMFileRead) from the store and
  // file 2 with SDM (PICCData under key 1, MAC under key 2), holding the URL template.
  static void Configure(const std::string& reader, bool lrp) {
    v1::CreateApplicationRequest app;
    app.mutable_target()->set_reader(reader);
    app.set_aid(kAid);
    app.set_key_count(3);
    app.set_key_family(v1::KEY_FAMILY_AES);
    app.mutable_key_settings()->set_master_key_changeable(true);
    app.mutable_key_settings()->set_free_directory_list(true);
    app.mutable_key_settings()->set_configuration_changeable(true);
    v1::CreateApplicationResponse app_resp;
    grpc::Status s = server_->cards().CreateApplication(testing::Ctx().get(), app, &app_resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    s = ChangeKey(reader, lrp, 1, "sdm-meta", "sdm-master");
    ASSERT_TRUE(s.ok()) << s.error_message();
    s = ChangeKey(reader, lrp, 2, "sdm-file", "sdm-master");
    ASSERT_TRUE(s.ok()) << s.error_message();

    v1::CreateFileRequest file;
    file.mutable_target()->set_reader(reader);
    file.set_aid(kAid);
    *file.mutable_auth() = Master(lrp);
    file.set_file_no(kFile);
    v1::FileSettings* settings = file.mutable_settings();
    settings->set_file_type(v1::FILE_TYPE_STANDARD);
    settings->set_communication_mode(v1::COMMUNICATION_MODE_PLAIN);
    settings->mutable_access_rights()->set_read(14);
    settings->mutable_data()->set_size(128);
    v1::SdmSettings* sdm = settings->mutable_sdm();
    sdm->set_uid_mirror(true);
    sdm->set_read_counter_mirror(true);
    sdm->set_meta_read(1);
    sdm->set_file_read(2);
    sdm->set_counter_retrieval(15);
    sdm->set_picc_data_offset(kPiccOffset);
    sdm->set_mac_input_offset(kPiccOffset);
    sdm->set_mac_offset(MacOffset(lrp));
    v1::CreateFileResponse file_resp;
    s = server_->cards().CreateFile(testing::Ctx().get(), file, &file_resp);
    ASSERT_TRUE(s.ok()) << s.error_message();

    v1::WriteDataRequest write;
    write.mutable_target()->set_reader(reader);
    write.set_aid(kAid);
    write.set_file_no(kFile);
    *write.mutable_auth() = Master(lrp);
    write.set_data(
        absl::StrCat(kPrefix, std::string(PiccChars(lrp), '0'), "&c=", std::string(16, '0')));
    v1::WriteDataResponse write_resp;
    s = server_->cards().WriteData(testing::Ctx().get(), write, &write_resp);
    ASSERT_TRUE(s.ok()) << s.error_message();

    // GetFileSettings shows the SDM settings back.
    v1::GetFileSettingsRequest get;
    get.mutable_target()->set_reader(reader);
    get.set_aid(kAid);
    get.set_file_no(kFile);
    v1::GetFileSettingsResponse got;
    s = server_->cards().GetFileSettings(testing::Ctx().get(), get, &got);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_TRUE(got.settings().has_sdm());
    EXPECT_EQ(got.settings().sdm().picc_data_offset(), kPiccOffset);
    EXPECT_EQ(got.settings().sdm().mac_offset(), MacOffset(lrp));
  }

  // One free read of the file through desfired, as the URL parameters VerifySun takes.
  static v1::SunMessage ReadMessage(const std::string& reader, bool lrp) {
    v1::ReadDataRequest read;
    read.mutable_target()->set_reader(reader);
    read.set_aid(kAid);
    read.set_file_no(kFile);
    v1::ReadDataResponse data;
    grpc::Status s = server_->cards().ReadData(testing::Ctx().get(), read, &data);
    EXPECT_TRUE(s.ok()) << s.error_message();
    v1::SunMessage m;
    if (!s.ok() || data.data().size() < MacOffset(lrp) + 16) return m;
    const std::string& url = data.data();
    EXPECT_EQ(url.substr(0, kPiccOffset), kPrefix);
    m.set_picc_data(url.substr(kPiccOffset, PiccChars(lrp)));
    m.set_mac_input(url.substr(kPiccOffset, MacOffset(lrp) - kPiccOffset));
    m.set_mac(url.substr(MacOffset(lrp), 16));
    return m;
  }

  static v1::VerifySunResponse Verify(const std::vector<v1::SunMessage>& messages, bool lrp,
                                      const std::string& file_key = "sdm-file") {
    v1::VerifySunRequest req;
    req.set_cipher(lrp ? v1::SUN_CIPHER_LRP : v1::SUN_CIPHER_AES);
    req.set_meta_key_name("sdm-meta");
    req.set_file_key_name(file_key);
    req.set_aid(kAid);
    for (const v1::SunMessage& m : messages) *req.add_messages() = m;
    v1::VerifySunResponse resp;
    auto taps = v1::TapService::NewStub(server_->Channel());
    grpc::Status s = taps->VerifySun(testing::Ctx().get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }

  // Configure, read three times, verify 1..3, a tampered MAC, a replay, then the per-tag key.
  static void RunLoop(int reader_index, bool lrp) {
    const std::string reader = sandbox_->ReaderName(reader_index);
    ASSERT_NO_FATAL_FAILURE(Configure(reader, lrp));
    std::vector<v1::SunMessage> reads;
    for (int i = 0; i < 3; ++i) reads.push_back(ReadMessage(reader, lrp));
    v1::VerifySunResponse resp = Verify(reads, lrp);
    ASSERT_EQ(resp.results_size(), 3);
    std::string uid;
    for (int i = 0; i < 3; ++i) {
      const v1::SunResult& r = resp.results(i);
      EXPECT_EQ(r.status(), v1::TapResult::VALID) << "read " << i + 1 << ": " << r.error();
      EXPECT_EQ(r.counter(), static_cast<uint32_t>(i + 1));
      EXPECT_EQ(r.uid().size(), 7u);
      uid = r.uid();
    }
    v1::SunMessage tampered = ReadMessage(reader, lrp);  // counter 4
    std::string mac = tampered.mac();
    mac[15] = mac[15] == '0' ? '1' : '0';
    tampered.set_mac(mac);
    resp = Verify({tampered, reads[0]}, lrp);
    ASSERT_EQ(resp.results_size(), 2);
    EXPECT_EQ(resp.results(0).status(), v1::TapResult::FLAGGED);
    ASSERT_GE(resp.results(0).warnings_size(), 1);
    EXPECT_EQ(resp.results(0).warnings(0), v1::SUN_WARNING_MAC_VERIFICATION_FAILED);
    EXPECT_EQ(resp.results(1).status(), v1::TapResult::FLAGGED);
    ASSERT_EQ(resp.results(1).warnings_size(), 1);
    EXPECT_EQ(resp.results(1).warnings(0), v1::SUN_WARNING_COUNTER_NOT_NEWER);

    // K_SDMFileRead diversified for this tag (AN10922: UID ‖ aid): the store key's
    // diversification goes to the card by ChangeKey and VerifySun derives the same.
    grpc::Status s = ChangeKey(reader, lrp, 2, "sdm-tags", "sdm-file");
    ASSERT_TRUE(s.ok()) << s.error_message();
    resp = Verify({ReadMessage(reader, lrp)}, lrp, "sdm-tags");
    ASSERT_EQ(resp.results_size(), 1);
    EXPECT_EQ(resp.results(0).status(), v1::TapResult::VALID) << resp.results(0).error();
    EXPECT_EQ(resp.results(0).counter(), 5u);
    EXPECT_EQ(resp.results(0).uid(), uid);
  }

  static std::unique_ptr<testing::PcscSandbox> sandbox_;
  static std::unique_ptr<testing::LoopbackDesfired> server_;
};

std::unique_ptr<testing::PcscSandbox> SdmE2eTest::sandbox_;
std::unique_ptr<testing::LoopbackDesfired> SdmE2eTest::server_;

// One test (ctest runs each test in a process of its own): the AES card, the LRP card, then
// settings that do not fit the file (refused before the card is touched, naming the field) and
// desfirectl change-file-settings on the AES card.
TEST_F(SdmE2eTest, SunLoopThroughDesfired) {
  ASSERT_NO_FATAL_FAILURE(RunLoop(0, /*lrp=*/false));
  ASSERT_NO_FATAL_FAILURE(RunLoop(1, /*lrp=*/true));

  const std::string reader = sandbox_->ReaderName(0);
  v1::ChangeFileSettingsRequest req;
  req.mutable_target()->set_reader(reader);
  req.set_aid(kAid);
  req.set_file_no(kFile);
  *req.mutable_auth() = Master(false);
  req.set_communication_mode(v1::COMMUNICATION_MODE_PLAIN);
  req.mutable_access_rights()->set_read(14);
  req.mutable_sdm()->set_uid_mirror(true);
  req.mutable_sdm()->set_meta_read(14);
  req.mutable_sdm()->set_file_read(15);
  req.mutable_sdm()->set_counter_retrieval(15);
  req.mutable_sdm()->set_uid_offset(120);  // 14 characters from 120: beyond the 128 bytes
  v1::ChangeFileSettingsResponse resp;
  grpc::Status s = server_->cards().ChangeFileSettings(testing::Ctx().get(), req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_EQ(testing::InfoOf(s).metadata().at("field"), "sdm.uid_offset") << s.error_message();

  // Plain UID and counter mirrors through desfirectl, then one read shows them.
  testing::CliRun cli = testing::RunDesfirectl(
      DESFIRECTL,
      absl::StrCat("change-file-settings --server 127.0.0.1:", server_->port(), " --reader '",
                   reader,
                   "' --aid 5D0001 --file 2 --key sdm-master --key-no 0 --scheme ev2"
                   " --comm plain --access free,0,0,0 --sdm --sdm-uid --sdm-counter"
                   " --sdm-meta-read plain --sdm-uid-offset 24 --sdm-counter-offset 40"));
  ASSERT_EQ(cli.exit_code, 0) << cli.err << cli.out;
  v1::ReadDataRequest read;
  read.mutable_target()->set_reader(reader);
  read.set_aid(kAid);
  read.set_file_no(kFile);
  v1::ReadDataResponse data;
  s = server_->cards().ReadData(testing::Ctx().get(), read, &data);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(data.data().substr(24, 14), "04063F72633480");
  EXPECT_EQ(data.data().substr(40, 6), "000006");  // SDM stayed on: the counter runs on

  // VerifySunStream: three fresh reads of the LRP card in two chunks, answered chunk by chunk
  // (indexes counting from the stream's start), the counts last; then a chunk naming a key the
  // store lacks ends the stream with its position.
  const std::string lrp_reader = sandbox_->ReaderName(1);
  std::vector<v1::SunMessage> fresh;
  for (int i = 0; i < 3; ++i) fresh.push_back(ReadMessage(lrp_reader, true));
  auto taps = v1::TapService::NewStub(server_->Channel());
  auto ctx = testing::Ctx();
  auto stream = taps->VerifySunStream(ctx.get());
  v1::VerifySunRequest chunk;
  chunk.set_cipher(v1::SUN_CIPHER_LRP);
  chunk.set_meta_key_name("sdm-meta");
  chunk.set_file_key_name("sdm-tags");
  chunk.set_aid(kAid);
  *chunk.add_messages() = fresh[0];
  *chunk.add_messages() = fresh[1];
  v1::VerifySunResponse answer;
  ASSERT_TRUE(stream->Write(chunk));
  ASSERT_TRUE(stream->Read(&answer));
  ASSERT_EQ(answer.results_size(), 2);
  EXPECT_EQ(answer.results(1).index(), 1u);
  EXPECT_EQ(answer.results(1).counter(), 7u);
  EXPECT_EQ(answer.valid(), 2u);
  chunk.clear_messages();
  *chunk.add_messages() = fresh[2];
  ASSERT_TRUE(stream->Write(chunk));
  ASSERT_TRUE(stream->Read(&answer));
  ASSERT_EQ(answer.results_size(), 1);
  EXPECT_EQ(answer.results(0).index(), 2u);
  EXPECT_EQ(answer.results(0).status(), v1::TapResult::VALID) << answer.results(0).error();
  ASSERT_TRUE(stream->WritesDone());
  ASSERT_TRUE(stream->Read(&answer));
  EXPECT_EQ(answer.results_size(), 0);
  EXPECT_EQ(answer.valid(), 3u);
  EXPECT_FALSE(stream->Read(&answer));
  s = stream->Finish();
  EXPECT_TRUE(s.ok()) << s.error_message();

  auto ctx2 = testing::Ctx();
  auto bad = taps->VerifySunStream(ctx2.get());
  chunk.clear_messages();
  ASSERT_TRUE(bad->Write(chunk));
  ASSERT_TRUE(bad->Read(&answer));
  chunk.set_file_key_name("no-such-key");
  bad->Write(chunk);
  EXPECT_FALSE(bad->Read(&answer));
  s = bad->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
  EXPECT_EQ(testing::InfoOf(s).metadata().at("chunk"), "1");
}

}  // namespace
}  // namespace desfired
