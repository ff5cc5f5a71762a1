// desfired's security end to end: a real DesfiredServer on loopback over a sandboxed pcscd with
// desfire-sim cards (reader 0: the transit card, reader 1: a blank card; the set-up of
// server_e2e_test.cc), bearer tokens and roles, TLS and mutual TLS with certificates made at
// test time (tests/testing/test_certs.h), streams per caller, and the desfired binary refusing
// bad security configs. One sandbox and one server per test process (libpcsclite reads its
// socket name once); ctest runs every test in its own process. Skipped when not root.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "client/desfired_client.h"
#include "core/apdu/status_payload.h"
#include "desfired/v1/card.grpc.pb.h"
#include "desfired/v1/taps.grpc.pb.h"
#include "gmock/gmock.h"
#include "google/rpc/error_details.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/byte_buffer.h"
#include "gtest/gtest.h"
#include "server/rpc/tap_limits.h"
#include "server/security/auth.h"
#include "server/server.h"
#include "tests/integration/pcsc_sandbox.h"
#include "tests/testing/cli_run.h"
#include "tests/testing/e2e_support.h"
#include "tests/testing/test_certs.h"

namespace desfired {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

using testing::DesfiredRun;
using testing::InfoOf;
using testing::kTransitAid;
using testing::ReadFile;
using testing::RunDesfired;

constexpr uint32_t kNewAid = 0x112233;

// The callers of the tokens file (made with desfired --hash_token in real life).
constexpr char kViewerToken[] = "vw-3c1f7e0a9b2d4c68a5e1f0b7d9c2a4e6";
constexpr char kOperatorToken[] = "op-8d2e6b1a0c9f4e37b5a2d8c1e0f7b3a9";
constexpr char kAdminToken[] = "ad-5a9c3e7b1d0f4a26c8e2b7d1f9a0c3e5";

std::string TokensFile(const std::string& extra = "") {
  return absl::StrCat("# desfired callers\n",                                             //
                      "token ci-view  viewer   ", server::TokenHash(kViewerToken), "\n",  //
                      "token kiosk-7  operator ", server::TokenHash(kOperatorToken), "\n",
                      "token issuer   admin    ", server::TokenHash(kAdminToken), "\n", extra);
}

std::string Meta(const google::rpc::ErrorInfo& info, const std::string& key) {
  auto it = info.metadata().find(key);
  return it == info.metadata().end() ? "<none>" : it->second;
}

// PERMISSION_DENIED / ROLE_DENIED with the caller's role and the one needed.
void ExpectRoleDenied(const grpc::Status& s, const std::string& role, const std::string& required,
                      const std::string& what) {
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED)
      << what << ": " << s.error_message();
  const google::rpc::ErrorInfo info = InfoOf(s);
  EXPECT_EQ(info.reason(), "ROLE_DENIED") << what;
  EXPECT_EQ(Meta(info, "role"), role) << what;
  EXPECT_EQ(Meta(info, "required"), required) << what;
}

// A call refused by the server's security (rather than failed for a card reason).
bool IsAuthRefusal(const grpc::Status& s) {
  const std::string reason = InfoOf(s).reason();
  return reason == "TOKEN_MISSING" || reason == "TOKEN_INVALID" || reason == "ROLE_DENIED" ||
         reason == "TOO_MANY_STREAMS";
}

// How a test channel connects.
struct Creds {
  bool tls = false;
  std::string ca;         // roots to trust
  std::string cert, key;  // client certificate (mutual TLS)
};

struct Recorded {
  std::string method;
  std::string caller;
  grpc::StatusCode code;
  std::string reason;
};

class SecurityE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::StartTransitSandbox(&sandbox_, /*blank_card=*/true)) return;
    transit_ = sandbox_->ReaderName(0);
    blank_ = sandbox_->ReaderName(1);
    dir_ = sandbox_->dir();
    absl::StatusOr<std::string> keys = testing::WriteKeyFile(dir_);
    ASSERT_TRUE(keys.ok()) << keys.status();
    key_path_ = *keys;
    const std::string pki_dir = dir_ + "/pki";
    ASSERT_EQ(::mkdir(pki_dir.c_str(), 0700), 0);
    absl::StatusOr<testing::TestPki> pki = testing::TestPki::Create(pki_dir);
    ASSERT_TRUE(pki.ok()) << pki.status();
    pki_ = *std::move(pki);
  }

  void TearDown() override {
    if (server_) server_->Shutdown(absl::Seconds(1));
  }

  // A tokens file (mode 0600) with `text`.
  std::string WriteTokens(const std::string& text, const std::string& name = "tokens.conf") {
    const std::string path = absl::StrCat(dir_, "/", name);
    EXPECT_TRUE(testing::WriteFileWithMode(path, text).ok());
    return path;
  }

  // Starts the server with `security` (tokens, TLS); every finished call is recorded.
  void StartServer(server::SecurityConfig security, size_t max_write_bytes = 8192,
                   int max_message_bytes = 16 * 1024 * 1024) {
    server::ServerConfig config;
    config.listen = "127.0.0.1:0";
    config.keys_file = key_path_;
    config.security = std::move(security);
    config.max_write_bytes = max_write_bytes;
    config.max_message_bytes = max_message_bytes;
    // A batch's answer must fit the message (server/rpc/tap_limits.h).
    config.max_tap_batch =
        std::min(config.max_tap_batch,
                 server::MaxTapBatchFor(static_cast<size_t>(max_message_bytes),
                                        server::WorstTapResultBytes(tap::TapPipelineConfig{})));
    config.hooks.on_call_done = [this](const server::CallInfo& info) {
      absl::MutexLock lock(&mu_);
      recorded_.push_back({std::string(info.method), info.caller, info.code, info.reason});
    };
    auto server = server::DesfiredServer::Start(config);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    address_ = absl::StrCat("127.0.0.1:", server_->port());
  }
  // Plaintext on loopback, the tokens of TokensFile(), `max_streams` per caller.
  server::SecurityConfig Tokens(size_t max_streams = 0) {
    server::SecurityConfig c;
    c.tokens_file = WriteTokens(TokensFile());
    c.max_streams_per_caller = max_streams;
    return c;
  }
  void StartWithTokens() { StartServer(Tokens()); }
  server::SecurityConfig TlsConfig(bool mutual) const {
    server::SecurityConfig c;
    c.tls_cert_file = pki_.server_cert;
    c.tls_key_file = pki_.server_key;
    if (mutual) c.tls_client_ca_file = pki_.ca_cert;
    return c;
  }

  std::shared_ptr<grpc::Channel> Channel(const Creds& creds = {}) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a connection of its own
    std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
    if (creds.tls) {
      grpc::SslCredentialsOptions ssl;
      if (!creds.ca.empty()) ssl.pem_root_certs = ReadFile(creds.ca);
      if (!creds.cert.empty()) {
        ssl.pem_cert_chain = ReadFile(creds.cert);
        ssl.pem_private_key = ReadFile(creds.key);
      }
      credentials = grpc::SslCredentials(ssl);
    }
    return grpc::CreateCustomChannel(address_, credentials, args);
  }
  Creds Tls(const std::string& ca = "") const {
    Creds c;
    c.tls = true;
    c.ca = ca.empty() ? pki_.ca_cert : ca;
    return c;
  }
  Creds Mtls(const std::string& cert, const std::string& key) const {
    Creds c = Tls();
    c.cert = cert;
    c.key = key;
    return c;
  }

  // A context with a deadline and, when given, the bearer token.
  static std::unique_ptr<grpc::ClientContext> Ctx(const std::string& token = "",
                                                  absl::Duration timeout = absl::Seconds(10)) {
    auto ctx = testing::Ctx(timeout);
    if (!token.empty()) ctx->AddMetadata("authorization", absl::StrCat("Bearer ", token));
    return ctx;
  }

  static v1::KeyRef Key(const std::string& name, uint32_t number) {
    v1::KeyRef k;
    k.set_key_name(name);
    k.set_key_number(number);
    return k;
  }

  // --- Requests, valid for the cards: an allowed call succeeds. ------------------------------
  v1::GetValueRequest ValueReq() const { return testing::TransitGetValue(transit_); }
  v1::DebitRequest DebitReq(int32_t amount, const std::string& id) const {
    return testing::TransitDebit(transit_, amount, id);
  }
  // A request on the transit application's file `file` with the key `key_name` / `key_number`.
  template <typename Request>
  Request OnTransit(uint32_t file, const std::string& key_name, uint32_t key_number) const {
    Request r;
    r.mutable_target()->set_reader(transit_);
    r.set_aid(kTransitAid);
    r.set_file_no(file);
    *r.mutable_auth() = Key(key_name, key_number);
    return r;
  }
  v1::ReadDataRequest ReadReq(uint32_t file, uint32_t length = 0) const {
    auto r = OnTransit<v1::ReadDataRequest>(file, "transit-read", 1);
    r.set_length(length);
    return r;
  }
  v1::CreditRequest CreditReq(int32_t amount, const std::string& id) const {
    auto r = OnTransit<v1::CreditRequest>(1, "transit-credit", 3);
    r.set_amount(amount);
    r.set_request_id(id);
    return r;
  }
  // Backup file 2 (MAC mode), written with key 2.
  v1::WriteDataRequest WriteReq(const std::string& data, const std::string& id) const {
    auto r = OnTransit<v1::WriteDataRequest>(2, "transit-debit", 2);
    r.set_data(data);
    r.set_request_id(id);
    return r;
  }
  // A change on the blank card with the PICC master key, under request id `id`.
  template <typename Request>
  Request OnBlank(const std::string& id) const {
    Request r;
    r.mutable_target()->set_reader(blank_);
    *r.mutable_auth() = Key("picc", 0);
    r.set_request_id(id);
    return r;
  }
  v1::FormatCardRequest FormatReq(const std::string& id) const {
    auto r = OnBlank<v1::FormatCardRequest>(id);
    r.mutable_target()->set_expected_uid(blank_uid_);
    return r;
  }
  v1::CreateApplicationRequest CreateAppReq(const std::string& id) const {
    auto r = OnBlank<v1::CreateApplicationRequest>(id);
    r.set_aid(kNewAid);
    r.mutable_key_settings()->set_master_key_changeable(true);
    r.mutable_key_settings()->set_free_directory_list(true);
    r.mutable_key_settings()->set_free_create_delete(true);
    r.mutable_key_settings()->set_configuration_changeable(true);
    r.set_key_count(1);
    r.set_key_family(v1::KEY_FAMILY_AES);
    return r;
  }
  v1::DeleteApplicationRequest DeleteAppReq(const std::string& id) const {
    auto r = OnBlank<v1::DeleteApplicationRequest>(id);
    r.set_aid(kNewAid);
    return r;
  }

  // FormatCard, CreateApplication and DeleteApplication (request ids `id_prefix`-f, -a, -x)
  // refused to `role` (the token `tok`): they need admin.
  void ExpectCardStructureDenied(v1::CardService::Stub& cards, const std::string& tok,
                                 const std::string& role, const std::string& id_prefix) {
    v1::FormatCardResponse format;
    ExpectRoleDenied(cards.FormatCard(Ctx(tok).get(), FormatReq(id_prefix + "-f"), &format), role,
                     "admin", "FormatCard");
    v1::CreateApplicationResponse app;
    ExpectRoleDenied(cards.CreateApplication(Ctx(tok).get(), CreateAppReq(id_prefix + "-a"), &app),
                     role, "admin", "CreateApplication");
    v1::DeleteApplicationResponse del;
    ExpectRoleDenied(cards.DeleteApplication(Ctx(tok).get(), DeleteAppReq(id_prefix + "-x"), &del),
                     role, "admin", "DeleteApplication");
  }

  // --- Calls as a caller: (status, result). -----------------------------------------------------
  grpc::Status GetValue(v1::CardService::Stub& cards, const std::string& token, int32_t* value) {
    v1::GetValueResponse resp;
    grpc::Status s = cards.GetValue(Ctx(token).get(), ValueReq(), &resp);
    *value = resp.value();
    return s;
  }
  int32_t ValueAsAdmin(v1::CardService::Stub& cards) {
    int32_t value = -1;
    grpc::Status s = GetValue(cards, kAdminToken, &value);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return value;
  }
  int BlankApplications(v1::CardService::Stub& cards) {
    v1::ListApplicationsRequest req;
    req.mutable_target()->set_reader(blank_);
    v1::ListApplicationsResponse resp;
    grpc::Status s = cards.ListApplications(Ctx(kAdminToken).get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.applications_size();
  }
  void ReadBlankUid(v1::CardService::Stub& cards, const std::string& token) {
    v1::GetCardInfoRequest req;
    req.mutable_target()->set_reader(blank_);
    v1::GetCardInfoResponse info;
    grpc::Status s = cards.GetCardInfo(Ctx(token).get(), req, &info);
    ASSERT_TRUE(s.ok()) << s.error_message();
    blank_uid_ = info.uid();
  }
  grpc::Status ParseTaps(v1::TapService::Stub& taps, const std::string& token) {
    v1::ParseTapsRequest req;
    req.add_records()->set_raw(std::string(32, '\x01'));
    v1::ParseTapsResponse resp;
    grpc::Status s = taps.ParseTaps(Ctx(token).get(), req, &resp);
    if (s.ok()) {
      EXPECT_EQ(resp.results_size(), 1);
    }
    return s;
  }
  // Opens WatchCards and reads the snapshot; the stream stays open in `*ctx` / the result.
  struct Watch {
    std::unique_ptr<grpc::ClientContext> ctx;
    std::unique_ptr<grpc::ClientReader<v1::WatchCardsResponse>> reader;
    bool admitted = false;
    grpc::Status status;  // when not admitted
  };
  Watch OpenWatch(v1::CardService::Stub& cards, const std::string& token) {
    Watch w;
    w.ctx = Ctx(token, absl::Seconds(60));
    w.reader = cards.WatchCards(w.ctx.get(), v1::WatchCardsRequest());
    v1::WatchCardsResponse first;
    w.admitted = w.reader->Read(&first) && first.has_snapshot();
    if (!w.admitted) w.status = w.reader->Finish();
    return w;
  }
  // Opens ParseTapStream and has one chunk parsed; the stream stays open.
  struct TapStream {
    std::unique_ptr<grpc::ClientContext> ctx;
    std::unique_ptr<grpc::ClientReaderWriter<v1::ParseTapStreamRequest, v1::ParseTapStreamResponse>>
        stream;
    bool admitted = false;
    grpc::Status status;
  };
  TapStream OpenTapStream(v1::TapService::Stub& taps, const std::string& token) {
    TapStream t;
    t.ctx = Ctx(token, absl::Seconds(60));
    t.stream = taps.ParseTapStream(t.ctx.get());
    v1::ParseTapStreamRequest chunk;
    chunk.add_records()->set_raw(std::string(32, '\x01'));
    v1::ParseTapStreamResponse resp;
    t.admitted = t.stream->Write(chunk) && t.stream->Read(&resp) && resp.records_processed() == 1;
    if (!t.admitted) {
      t.stream->WritesDone();
      while (t.stream->Read(&resp)) {
      }
      t.status = t.stream->Finish();
    }
    return t;
  }

  std::vector<Recorded> recorded() {
    absl::MutexLock lock(&mu_);
    return recorded_;
  }

  std::unique_ptr<testing::PcscSandbox> sandbox_;
  std::string transit_, blank_, dir_, key_path_, blank_uid_;
  testing::TestPki pki_;
  std::unique_ptr<server::DesfiredServer> server_;
  std::string address_;
  absl::Mutex mu_;
  std::vector<Recorded> recorded_ ABSL_GUARDED_BY(mu_);
};

// --- Tokens ----------------------------------------------------------------------------------

TEST_F(SecurityE2eTest, MissingTokenIsTokenMissingAndWrongTokenIsTokenInvalid) {
  StartWithTokens();
  auto cards = v1::CardService::NewStub(Channel());
  auto taps = v1::TapService::NewStub(Channel());
  v1::ListReadersResponse readers;
  grpc::Status s = cards->ListReaders(Ctx().get(), {}, &readers);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << s.error_message();
  EXPECT_EQ(InfoOf(s).reason(), "TOKEN_MISSING");
  EXPECT_EQ(readers.readers_size(), 0);
  int32_t value = 0;
  s = GetValue(*cards, "", &value);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(InfoOf(s).reason(), "TOKEN_MISSING");
  EXPECT_EQ(ParseTaps(*taps, "").error_code(), grpc::StatusCode::UNAUTHENTICATED);

  const std::string wrong = "not-a-token-of-this-server-4711";
  s = GetValue(*cards, wrong, &value);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(InfoOf(s).reason(), "TOKEN_INVALID");
  EXPECT_THAT(s.error_message(), Not(HasSubstr(wrong)));
  // A token's hash is not the token; a token in another scheme is not a bearer token.
  s = GetValue(*cards, server::TokenHash(kAdminToken), &value);
  EXPECT_EQ(InfoOf(s).reason(), "TOKEN_INVALID");
  auto basic = Ctx();
  basic->AddMetadata("authorization", absl::StrCat("Basic ", kAdminToken));
  v1::GetValueResponse resp;
  s = cards->GetValue(basic.get(), ValueReq(), &resp);
  EXPECT_EQ(InfoOf(s).reason(), "TOKEN_INVALID");

  // The streams are refused at admission the same way.
  Watch w = OpenWatch(*cards, "");
  EXPECT_FALSE(w.admitted);
  EXPECT_EQ(w.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(InfoOf(w.status).reason(), "TOKEN_MISSING");
  TapStream t = OpenTapStream(*taps, wrong);
  EXPECT_FALSE(t.admitted);
  EXPECT_EQ(InfoOf(t.status).reason(), "TOKEN_INVALID");

  // The right token works, on the same connection.
  s = GetValue(*cards, kViewerToken, &value);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(value, 2500);

  // A card key the card refuses is told apart by its code, not only its reason: the caller's
  // token is UNAUTHENTICATED, the card's refusal of a key PERMISSION_DENIED.
  v1::GetValueRequest wrong_key = ValueReq();
  wrong_key.mutable_auth()->set_key_name("transit-debit");  // not key 1 of the card
  s = cards->GetValue(Ctx(kAdminToken).get(), wrong_key, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
  EXPECT_EQ(InfoOf(s).reason(), "AUTHENTICATION_FAILED");

  // The hooks saw the refused calls, with their reasons, and the caller's name.
  bool saw_missing = false, saw_invalid = false, saw_viewer = false;
  for (const Recorded& r : recorded()) {
    saw_missing |= r.method == "ListReaders" && r.reason == "TOKEN_MISSING" &&
                   r.code == grpc::StatusCode::UNAUTHENTICATED;
    saw_invalid |= r.method == "GetValue" && r.reason == "TOKEN_INVALID";
    saw_viewer |= r.method == "GetValue" && r.caller == "ci-view" && r.code == grpc::StatusCode::OK;
  }
  EXPECT_TRUE(saw_missing);
  EXPECT_TRUE(saw_invalid);
  EXPECT_TRUE(saw_viewer);
}

TEST_F(SecurityE2eTest, ViewerReadsAndChangesNothing) {
  StartWithTokens();
  auto cards = v1::CardService::NewStub(Channel());
  auto taps = v1::TapService::NewStub(Channel());
  const std::string tok = kViewerToken;
  ReadBlankUid(*cards, tok);  // GetCardInfo: viewer

  v1::ListReadersResponse readers;
  grpc::Status s = cards->ListReaders(Ctx(tok).get(), {}, &readers);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_GE(readers.readers_size(), 2);
  int32_t value = 0;
  s = GetValue(*cards, tok, &value);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(value, 2500);
  v1::ReadDataResponse data;
  s = cards->ReadData(Ctx(tok).get(), ReadReq(5), &data);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(data.data().size(), 32u);
  EXPECT_TRUE(ParseTaps(*taps, tok).ok());
  Watch w = OpenWatch(*cards, tok);
  EXPECT_TRUE(w.admitted) << w.status.error_message();
  w.ctx->TryCancel();

  v1::DebitResponse debit;
  ExpectRoleDenied(cards->Debit(Ctx(tok).get(), DebitReq(10, "v-d"), &debit), "viewer", "operator",
                   "Debit");
  v1::CreditResponse credit;
  ExpectRoleDenied(cards->Credit(Ctx(tok).get(), CreditReq(10, "v-c"), &credit), "viewer",
                   "operator", "Credit");
  v1::WriteDataResponse write;
  ExpectRoleDenied(cards->WriteData(Ctx(tok).get(), WriteReq("viewer was here", "v-w"), &write),
                   "viewer", "operator", "WriteData");
  ExpectCardStructureDenied(*cards, tok, "viewer", "v");

  // Nothing reached the cards.
  EXPECT_EQ(ValueAsAdmin(*cards), 2500);
  EXPECT_EQ(BlankApplications(*cards), 0);
  v1::ReadDataResponse profile;
  ASSERT_TRUE(cards->ReadData(Ctx(tok).get(), ReadReq(2, 15), &profile).ok());
  EXPECT_NE(profile.data(), "viewer was here");
}

TEST_F(SecurityE2eTest, OperatorChangesFilesButNotTheCardsStructure) {
  StartWithTokens();
  auto cards = v1::CardService::NewStub(Channel());
  auto taps = v1::TapService::NewStub(Channel());
  const std::string tok = kOperatorToken;
  ReadBlankUid(*cards, tok);
  int32_t value = 0;
  ASSERT_TRUE(GetValue(*cards, tok, &value).ok());
  EXPECT_EQ(value, 2500);
  EXPECT_TRUE(ParseTaps(*taps, tok).ok());

  v1::DebitResponse debit;
  grpc::Status s = cards->Debit(Ctx(tok).get(), DebitReq(10, "o-d"), &debit);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(ValueAsAdmin(*cards), 2490);
  v1::CreditResponse credit;
  s = cards->Credit(Ctx(tok).get(), CreditReq(5, "o-c"), &credit);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(ValueAsAdmin(*cards), 2495);
  v1::WriteDataResponse write;
  s = cards->WriteData(Ctx(tok).get(), WriteReq("operator wrote", "o-w"), &write);
  ASSERT_TRUE(s.ok()) << s.error_message();
  v1::ReadDataResponse back;
  ASSERT_TRUE(cards->ReadData(Ctx(tok).get(), ReadReq(2, 14), &back).ok());
  EXPECT_EQ(back.data(), "operator wrote");

  ExpectCardStructureDenied(*cards, tok, "operator", "o");
  EXPECT_EQ(BlankApplications(*cards), 0);
}

TEST_F(SecurityE2eTest, AdminDoesEverything) {
  StartWithTokens();
  auto cards = v1::CardService::NewStub(Channel());
  auto taps = v1::TapService::NewStub(Channel());
  const std::string tok = kAdminToken;
  ReadBlankUid(*cards, tok);
  EXPECT_TRUE(ParseTaps(*taps, tok).ok());
  Watch w = OpenWatch(*cards, tok);
  EXPECT_TRUE(w.admitted) << w.status.error_message();
  w.ctx->TryCancel();
  v1::DebitResponse debit;
  grpc::Status s = cards->Debit(Ctx(tok).get(), DebitReq(1, "a-d"), &debit);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(ValueAsAdmin(*cards), 2499);

  v1::FormatCardResponse format;
  s = cards->FormatCard(Ctx(tok).get(), FormatReq("a-f"), &format);
  ASSERT_TRUE(s.ok()) << s.error_message();
  v1::CreateApplicationResponse app;
  s = cards->CreateApplication(Ctx(tok).get(), CreateAppReq("a-a"), &app);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(BlankApplications(*cards), 1);
  v1::DeleteApplicationResponse del;
  s = cards->DeleteApplication(Ctx(tok).get(), DeleteAppReq("a-x"), &del);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(BlankApplications(*cards), 0);
  // A call allowed by the role can still fail for a card reason: not an auth refusal.
  s = cards->DeleteApplication(Ctx(tok).get(), DeleteAppReq("a-x2"), &del);
  EXPECT_FALSE(s.ok());
  EXPECT_FALSE(IsAuthRefusal(s)) << InfoOf(s).reason();
  EXPECT_EQ(InfoOf(s).reason(), "APPLICATION_NOT_FOUND");
}

TEST_F(SecurityE2eTest, NoTokensFileMeansEveryoneIsAdmin) {
  StartServer({});
  auto cards = v1::CardService::NewStub(Channel());
  ReadBlankUid(*cards, "");
  v1::FormatCardResponse format;
  grpc::Status s = cards->FormatCard(Ctx().get(), FormatReq("open-f"), &format);
  EXPECT_TRUE(s.ok()) << s.error_message();
  // The caller is the peer address.
  bool peer = false;
  for (const Recorded& r : recorded())
    peer |= r.method == "FormatCard" && absl::StartsWith(r.caller, "ipv4:127.0.0.1:");
  EXPECT_TRUE(peer);
}

// --- Health and reflection stay open ---------------------------------------------------------

// Lists services through reflection (grpc.reflection.v1alpha) with a generic call: the request
// is ServerReflectionRequest{list_services: ""} (field 7), encoded by hand. Returns the raw
// response, or the call's status.
absl::StatusOr<std::string> ReflectionListServices(const std::shared_ptr<grpc::Channel>& channel) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  grpc::CompletionQueue cq;
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call =
      stub.PrepareCall(&ctx, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  void* tag = nullptr;
  bool ok = false;
  auto step = [&](void* expect) { return cq.Next(&tag, &ok) && tag == expect && ok; };
  std::string out;
  call->StartCall(reinterpret_cast<void*>(1));
  bool good = step(reinterpret_cast<void*>(1));
  if (good) {
    const std::string request("\x3a\x00", 2);
    grpc::Slice slice(request);
    grpc::ByteBuffer buffer(&slice, 1);
    call->Write(buffer, reinterpret_cast<void*>(2));
    good = step(reinterpret_cast<void*>(2));
  }
  if (good) {
    call->WritesDone(reinterpret_cast<void*>(3));
    good = step(reinterpret_cast<void*>(3));
  }
  if (good) {
    grpc::ByteBuffer response;
    call->Read(&response, reinterpret_cast<void*>(4));
    good = step(reinterpret_cast<void*>(4));
    std::vector<grpc::Slice> slices;
    if (good && response.Dump(&slices).ok()) {
      for (const grpc::Slice& s : slices)
        out.append(reinterpret_cast<const char*>(s.begin()), s.size());
    }
  }
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  cq.Next(&tag, &ok);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  if (!status.ok())
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
  if (!good) return absl::UnknownError("reflection call failed");
  return out;
}

TEST_F(SecurityE2eTest, HealthAndReflectionNeedNoToken) {
  StartWithTokens();
  ASSERT_NO_FATAL_FAILURE(testing::ExpectServing(Channel()));
  absl::StatusOr<std::string> services = ReflectionListServices(Channel());
  ASSERT_TRUE(services.ok()) << services.status();
  EXPECT_THAT(*services, HasSubstr("desfired.v1.CardService"));
  EXPECT_THAT(*services, HasSubstr("desfired.v1.TapService"));
  // ... while the API itself is closed to the same channel.
  auto cards = v1::CardService::NewStub(Channel());
  v1::ListReadersResponse readers;
  EXPECT_EQ(cards->ListReaders(Ctx().get(), {}, &readers).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

// --- TLS ------------------------------------------------------------------------------------

TEST_F(SecurityE2eTest, TlsWithTheRightCaAndNotWithout) {
  server::SecurityConfig c = TlsConfig(/*mutual=*/false);
  c.tokens_file = WriteTokens(TokensFile());
  StartServer(c);
  auto cards = v1::CardService::NewStub(Channel(Tls()));
  int32_t value = 0;
  grpc::Status s = GetValue(*cards, kViewerToken, &value);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(value, 2500);
  s = GetValue(*cards, "", &value);
  EXPECT_EQ(InfoOf(s).reason(), "TOKEN_MISSING");
  // Health over TLS, without a token.
  auto health = grpc::health::v1::Health::NewStub(Channel(Tls()));
  grpc::health::v1::HealthCheckResponse hr;
  s = health->Check(Ctx().get(), {}, &hr);
  EXPECT_TRUE(s.ok()) << s.error_message();

  // A plaintext client: no answer from desfired (and no desfired reason).
  auto plain = v1::CardService::NewStub(Channel());
  s = GetValue(*plain, kViewerToken, &value);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_EQ(InfoOf(s).reason(), "");
  // A client that trusts another CA refuses the server's certificate.
  auto wrong_ca = v1::CardService::NewStub(Channel(Tls(pki_.other_ca_cert)));
  s = GetValue(*wrong_ca, kViewerToken, &value);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  // A client certificate is not asked for without --tls_client_ca: one sent does no harm,
  // and gives no role.
  auto with_cert = v1::CardService::NewStub(Channel(Mtls(pki_.client_cert, pki_.client_key)));
  s = GetValue(*with_cert, "", &value);
  EXPECT_EQ(InfoOf(s).reason(), "TOKEN_MISSING");
}

TEST_F(SecurityE2eTest, MutualTlsNeedsAValidClientCertificate) {
  StartServer(TlsConfig(/*mutual=*/true));  // no tokens file: a verified client is admin
  int32_t value = 0;
  auto good = v1::CardService::NewStub(Channel(Mtls(pki_.client_cert, pki_.client_key)));
  grpc::Status s = GetValue(*good, "", &value);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(value, 2500);
  bool named = false;
  for (const Recorded& r : recorded())
    named |= r.method == "GetValue" && r.caller == "cert:test-client";
  EXPECT_TRUE(named) << "the caller of a client certificate is cert:CN";

  struct Refused {
    const char* what;
    Creds creds;
  };
  const Refused refused[] = {
      {"expired client certificate", Mtls(pki_.expired_cert, pki_.expired_key)},
      {"client certificate of another CA", Mtls(pki_.other_cert, pki_.other_key)},
      {"no client certificate", Tls()},
      {"plaintext", Creds{}},
  };
  for (const Refused& r : refused) {
    auto cards = v1::CardService::NewStub(Channel(r.creds));
    s = GetValue(*cards, "", &value);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << r.what << ": " << s.error_message();
    EXPECT_EQ(InfoOf(s).reason(), "") << r.what << ": refused in the handshake, not by a call";
    // Health too needs the handshake.
    auto health = grpc::health::v1::Health::NewStub(Channel(r.creds));
    grpc::health::v1::HealthCheckResponse hr;
    EXPECT_EQ(health->Check(Ctx().get(), {}, &hr).error_code(), grpc::StatusCode::UNAVAILABLE)
        << r.what;
  }
  // Still serving the good client.
  EXPECT_TRUE(GetValue(*good, "", &value).ok());

  // The container health probe, with a client certificate, and without one.
  const std::string probe = absl::StrCat(HEALTH_PROBE, " --addr ", address_, " --tls-ca ",
                                         pki_.ca_cert, " --timeout-ms 5000");
  EXPECT_EQ(std::system(absl::StrCat(probe, " --tls-cert ", pki_.client_cert, " --tls-key ",
                                     pki_.client_key, " >/dev/null 2>&1")
                            .c_str()),
            0);
  EXPECT_NE(std::system(absl::StrCat(probe, " >/dev/null 2>&1").c_str()), 0);
}

TEST_F(SecurityE2eTest, CertLinesMapClientCertificatesToRoles) {
  server::SecurityConfig c = TlsConfig(/*mutual=*/true);
  c.tokens_file = WriteTokens(TokensFile("cert test-client viewer\n"));
  StartServer(c);
  auto viewer = v1::CardService::NewStub(Channel(Mtls(pki_.client_cert, pki_.client_key)));
  int32_t value = 0;
  grpc::Status s = GetValue(*viewer, "", &value);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(value, 2500);
  v1::DebitResponse debit;
  ExpectRoleDenied(viewer->Debit(Ctx().get(), DebitReq(10, "c-d1"), &debit), "viewer", "operator",
                   "Debit by certificate");
  // A token decides over the certificate: the operator's token debits over the same connection.
  s = viewer->Debit(Ctx(kOperatorToken).get(), DebitReq(10, "c-d2"), &debit);
  ASSERT_TRUE(s.ok()) << s.error_message();
  s = GetValue(*viewer, "wrong-token", &value);
  EXPECT_EQ(InfoOf(s).reason(), "TOKEN_INVALID");
  // A verified certificate whose CN has no cert line, without a token: TOKEN_MISSING.
  auto stranger = v1::CardService::NewStub(Channel(Mtls(pki_.client2_cert, pki_.client2_key)));
  s = GetValue(*stranger, "", &value);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(InfoOf(s).reason(), "TOKEN_MISSING");
  EXPECT_THAT(s.error_message(), HasSubstr("test-client-2"));
  s = GetValue(*stranger, kViewerToken, &value);
  EXPECT_TRUE(s.ok()) << s.error_message();

  std::set<std::string> callers;
  for (const Recorded& r : recorded()) {
    if (r.code == grpc::StatusCode::OK) callers.insert(r.caller);
  }
  EXPECT_TRUE(callers.count("cert:test-client")) << "the cert line's caller";
  EXPECT_TRUE(callers.count("kiosk-7")) << "the token's caller";
  EXPECT_TRUE(callers.count("ci-view"));
}

// The client library's TLS options (CA, client certificate and key, token) against the server.
TEST_F(SecurityE2eTest, ClientLibraryTlsAndTokenOptions) {
  server::SecurityConfig c = TlsConfig(/*mutual=*/true);
  c.tokens_file = WriteTokens(TokensFile());
  StartServer(c);
  client::ClientOptions options;
  options.server = address_;
  options.deadline = absl::Seconds(10);
  options.tls_ca_file = pki_.ca_cert;
  options.tls_cert_file = pki_.client_cert;
  options.tls_key_file = pki_.client_key;
  options.token = kOperatorToken;
  absl::StatusOr<std::unique_ptr<client::Client>> cl = client::Client::Create(options);
  ASSERT_TRUE(cl.ok()) << cl.status();
  absl::StatusOr<v1::DebitResponse> debit = (*cl)->Debit(DebitReq(3, ""));
  ASSERT_TRUE(debit.ok()) << debit.status();
  absl::StatusOr<v1::FormatCardResponse> format = (*cl)->FormatCard(FormatReq(""));
  ASSERT_FALSE(format.ok());
  EXPECT_EQ(apdu::GetReason(format.status()), "ROLE_DENIED");
  EXPECT_EQ(client::GetErrorMetadata(format.status(), "required"), "admin");
  // "localhost" is in the server certificate too.
  options.server = absl::StrCat("localhost:", server_->port());
  options.token = kViewerToken;
  cl = client::Client::Create(options);
  ASSERT_TRUE(cl.ok()) << cl.status();
  absl::StatusOr<v1::GetValueResponse> value = (*cl)->GetValue(ValueReq());
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(value->value(), 2497);
  // Without the client certificate: a transport error, not a desfired answer.
  options.tls_cert_file.clear();
  options.tls_key_file.clear();
  cl = client::Client::Create(options);
  ASSERT_TRUE(cl.ok()) << cl.status();
  value = (*cl)->GetValue(ValueReq());
  ASSERT_FALSE(value.ok());
  EXPECT_TRUE(client::IsTransportError(value.status())) << value.status();
}

// --- Limits ---------------------------------------------------------------------------------

TEST_F(SecurityE2eTest, TooManyStreamsPerCaller) {
  StartServer(Tokens(/*max_streams=*/2));
  auto cards = v1::CardService::NewStub(Channel());
  auto taps = v1::TapService::NewStub(Channel());
  Watch a = OpenWatch(*cards, kViewerToken);
  ASSERT_TRUE(a.admitted) << a.status.error_message();
  TapStream b = OpenTapStream(*taps, kViewerToken);
  ASSERT_TRUE(b.admitted) << b.status.error_message();
  // The third of the same caller, of either kind, is refused at admission.
  Watch c = OpenWatch(*cards, kViewerToken);
  EXPECT_FALSE(c.admitted);
  EXPECT_EQ(c.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(InfoOf(c.status).reason(), "TOO_MANY_STREAMS");
  TapStream d = OpenTapStream(*taps, kViewerToken);
  EXPECT_FALSE(d.admitted);
  EXPECT_EQ(InfoOf(d.status).reason(), "TOO_MANY_STREAMS");
  // Other callers have their own count; refused streams count for nobody.
  Watch other = OpenWatch(*cards, kOperatorToken);
  EXPECT_TRUE(other.admitted) << other.status.error_message();
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(InfoOf(OpenWatch(*cards, "").status).reason(), "TOKEN_MISSING");
  }
  // Unary calls are not streams.
  int32_t value = 0;
  EXPECT_TRUE(GetValue(*cards, kViewerToken, &value).ok());

  // One closes: exactly one more is admitted (the refused ones above did not lower the count).
  a.ctx->TryCancel();
  a.reader->Finish();
  Watch e;
  for (int i = 0; i < 100 && !e.admitted; ++i) {
    e = OpenWatch(*cards, kViewerToken);
    if (!e.admitted) {
      ASSERT_EQ(InfoOf(e.status).reason(), "TOO_MANY_STREAMS") << e.status.error_message();
      absl::SleepFor(absl::Milliseconds(20));
    }
  }
  ASSERT_TRUE(e.admitted) << "a slot is free again after a stream ended";
  Watch f = OpenWatch(*cards, kViewerToken);
  EXPECT_FALSE(f.admitted);
  EXPECT_EQ(InfoOf(f.status).reason(), "TOO_MANY_STREAMS");

  // A ParseTapStream that ends normally frees its slot too.
  b.stream->WritesDone();
  v1::ParseTapStreamResponse last;
  ASSERT_TRUE(b.stream->Read(&last));
  EXPECT_TRUE(last.has_summary());
  EXPECT_TRUE(b.stream->Finish().ok());
  TapStream g;
  for (int i = 0; i < 100 && !g.admitted; ++i) {
    g = OpenTapStream(*taps, kViewerToken);
    if (!g.admitted) absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_TRUE(g.admitted);
  Watch h = OpenWatch(*cards, kViewerToken);
  EXPECT_FALSE(h.admitted);
  // A cancelled ParseTapStream frees its slot as well.
  g.ctx->TryCancel();
  g.stream->Finish();
  TapStream i;
  for (int n = 0; n < 100 && !i.admitted; ++n) {
    i = OpenTapStream(*taps, kViewerToken);
    if (!i.admitted) absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_TRUE(i.admitted);
  EXPECT_FALSE(OpenWatch(*cards, kViewerToken).admitted);
  e.ctx->TryCancel();
  i.ctx->TryCancel();
  other.ctx->TryCancel();
}

TEST_F(SecurityE2eTest, WriteAndMessageSizeLimits) {
  StartServer(Tokens(), /*max_write_bytes=*/16,
              /*max_message_bytes=*/4096);
  auto cards = v1::CardService::NewStub(Channel());
  v1::WriteDataResponse write;
  grpc::Status s =
      cards->WriteData(Ctx(kOperatorToken).get(), WriteReq(std::string(17, 'x'), "l-1"), &write);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_EQ(InfoOf(s).reason(), "INVALID_ARGUMENT");
  EXPECT_EQ(Meta(InfoOf(s), "field"), "data");
  EXPECT_THAT(s.error_message(), HasSubstr("at most 16 bytes"));
  s = cards->WriteData(Ctx(kOperatorToken).get(), WriteReq(std::string(16, 'y'), "l-2"), &write);
  EXPECT_TRUE(s.ok()) << s.error_message();
  // The role check comes first: a viewer's oversized write is ROLE_DENIED.
  s = cards->WriteData(Ctx(kViewerToken).get(), WriteReq(std::string(17, 'x'), "l-3"), &write);
  EXPECT_EQ(InfoOf(s).reason(), "ROLE_DENIED");
  // A message above --max_message_bytes is refused by gRPC.
  auto taps = v1::TapService::NewStub(Channel());
  v1::ParseTapsRequest big;
  for (int i = 0; i < 200; ++i) big.add_records()->set_raw(std::string(32, '\x01'));
  v1::ParseTapsResponse parsed;
  s = taps->ParseTaps(Ctx(kViewerToken).get(), big, &parsed);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
}

// --- The desfired binary --------------------------------------------------------------------

TEST_F(SecurityE2eTest, BinaryRefusesBadSecurityConfigNamingTheFlag) {
  const std::string socket = absl::StrCat("--pcsc_socket=", dir_, "/run/pcscd.comm");
  const std::string loopback = "--listen=127.0.0.1:0";
  struct Case {
    std::string what;
    std::vector<std::string> args;
    std::vector<std::string> expect;  // in stderr
  };
  const std::string good_tokens = WriteTokens(TokensFile(), "good.conf");
  const std::string open_tokens = WriteTokens(TokensFile(), "open.conf");
  ASSERT_EQ(::chmod(open_tokens.c_str(), 0644), 0);
  const std::string plain_token = "plain-secret-value-31337";
  const std::string malformed =
      WriteTokens(absl::StrCat("token ci viewer ", server::TokenHash("x"),
                               "\ntoken kiosk operator ", plain_token, "\n"),
                  "malformed.conf");
  const std::string bad_role =
      WriteTokens(absl::StrCat("token ci superuser ", server::TokenHash("x"), "\n"), "role.conf");
  const std::string open_key = dir_ + "/open-server.key";
  ASSERT_TRUE(testing::WriteFileWithMode(open_key, ReadFile(pki_.server_key), 0644).ok());
  const Case cases[] = {
      {"tokens file mode 644",
       {loopback, socket, "--tokens=" + open_tokens},
       {"config tokens_file (--tokens)", "accessible by group or others", "chmod 600"}},
      {"malformed token line",
       {loopback, socket, "--tokens=" + malformed},
       {"config tokens_file (--tokens)", "line 2", "sha256:"}},
      {"unknown role",
       {loopback, socket, "--tokens=" + bad_role},
       {"config tokens_file (--tokens)", "line 1", "unknown role"}},
      {"TLS key mode 644",
       {loopback, socket, "--tls_cert=" + pki_.server_cert, "--tls_key=" + open_key},
       {"config tls_key_file (--tls_key)", "chmod 600"}},
      {"client CA without TLS",
       {loopback, socket, "--tls_client_ca=" + pki_.ca_cert},
       {"config tls_client_ca_file (--tls_client_ca)", "--tls_cert"}},
      {"key of another certificate",
       {loopback, socket, "--tls_cert=" + pki_.server_cert, "--tls_key=" + pki_.client_key},
       {"config tls_key_file (--tls_key)", "does not belong"}},
      {"missing certificate file",
       {loopback, socket, "--tls_cert=" + dir_ + "/missing.pem", "--tls_key=" + pki_.server_key},
       {"config tls_cert_file (--tls_cert)", "missing.pem"}},
      {"non-loopback without TLS",
       {"--listen=0.0.0.0:0", socket, "--tokens=" + good_tokens},
       {"config listen", "--tls_cert", "--allow_insecure_remote"}},
  };
  for (const Case& c : cases) {
    DesfiredRun run = RunDesfired(c.args, dir_, false);
    EXPECT_EQ(run.exit_code, 1) << c.what << ": " << run.err;
    for (const std::string& e : c.expect) EXPECT_THAT(run.err, HasSubstr(e)) << c.what;
    EXPECT_THAT(run.err, Not(HasSubstr(plain_token))) << c.what;
    EXPECT_THAT(run.err, Not(HasSubstr("PRIVATE KEY"))) << c.what;
  }

  // The same files, put right, start (and stop on SIGTERM).
  DesfiredRun good =
      RunDesfired({loopback, socket, "--keys=" + key_path_, "--tokens=" + good_tokens,
                   "--tls_cert=" + pki_.server_cert, "--tls_key=" + pki_.server_key,
                   "--tls_client_ca=" + pki_.ca_cert},
                  dir_, true);
  EXPECT_EQ(good.exit_code, 0) << good.err;
  EXPECT_THAT(good.err, HasSubstr("\"msg\":\"listening\""));
  EXPECT_THAT(good.err, Not(HasSubstr("\"level\":\"warn\"")));
  // With TLS any address is allowed.
  DesfiredRun remote_tls =
      RunDesfired({"--listen=0.0.0.0:0", socket, "--tokens=" + good_tokens,
                   "--tls_cert=" + pki_.server_cert, "--tls_key=" + pki_.server_key},
                  dir_, true);
  EXPECT_EQ(remote_tls.exit_code, 0) << remote_tls.err;
  EXPECT_THAT(remote_tls.err, Not(HasSubstr("\"level\":\"warn\"")));
  // Without TLS only with --allow_insecure_remote, and with warnings (tokens in plain text).
  DesfiredRun remote_plain = RunDesfired(
      {"--listen=0.0.0.0:0", socket, "--tokens=" + good_tokens, "--allow_insecure_remote"}, dir_,
      true);
  EXPECT_EQ(remote_plain.exit_code, 0) << remote_plain.err;
  EXPECT_THAT(remote_plain.err,
              HasSubstr("\"level\":\"warn\",\"msg\":\"listening on 0.0.0.0:0 without TLS"));
  EXPECT_THAT(remote_plain.err,
              HasSubstr("\"level\":\"warn\",\"msg\":\"bearer tokens travel in plain text"));
}

// desfired --hash_token (no sandbox needed).
TEST(HashTokenTest, PrintsTheTokensFileHash) {
  const std::string out = absl::StrCat(::testing::TempDir(), "/hash_token_", ::getpid(), ".out");
  const std::string cmd =
      absl::StrCat("printf '%s\\n' '", kViewerToken, "' | ", DESFIRED, " --hash_token > ", out);
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  EXPECT_EQ(ReadFile(out), server::TokenHash(kViewerToken) + "\n");
  // Without the newline, the same; the hash is sha256sum's.
  const std::string cmd2 =
      absl::StrCat("printf '%s' '", kViewerToken, "' | ", DESFIRED, " --hash_token > ", out);
  ASSERT_EQ(std::system(cmd2.c_str()), 0);
  EXPECT_EQ(ReadFile(out), server::TokenHash(kViewerToken) + "\n");
  const std::string sum = absl::StrCat("printf '%s' '", kViewerToken, "' | sha256sum > ", out);
  ASSERT_EQ(std::system(sum.c_str()), 0);
  EXPECT_EQ(ReadFile(out).substr(0, 64), server::TokenHash(kViewerToken).substr(7));
}

}  // namespace
}  // namespace desfired
