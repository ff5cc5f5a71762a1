// desfired's HTTP API over TLS (server/http/http_server.h, "TLS"; docs/api.md "HTTP API"): the
// desfired binary with --tls_cert/--tls_key serves the API and its event stream over HTTPS with
// the gRPC listener's certificate (a test CA made here), on any address; the session cookie is
// Secure; plain HTTP, garbage and a stalled handshake on the TLS port are closed without harm;
// --tls_client_ca requires client certificates. Besides TLS: failed sign-ins are limited per
// address, and GET /v1/ledger/recent follows new rows and still shows a tampered one. SIGHUP
// reloads the certificate for new HTTPS connections, and keeps the old one when the new files
// are broken.
// libcurl is the client (tests/testing/http_client.h). Skipped when not root (the sandbox
// needs namespaces).
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <signal.h>
#include <sqlite3.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/util/bytes.h"
#include "desfired/v1/card.grpc.pb.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "server/security/auth.h"
#include "tests/integration/pcsc_sandbox.h"
#include "tests/testing/cli_run.h"
#include "tests/testing/e2e_support.h"
#include "tests/testing/http_client.h"
#include "tests/testing/http_port.h"
#include "tests/testing/test_certs.h"

namespace desfired {
namespace {

// How long a test waits for what should come at once before it calls it missing.
constexpr absl::Duration kSlack = absl::Seconds(15);
// The tokens of the tokens file: a viewer's and an admin's.
constexpr char kViewerToken[] = "vw-5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e";
constexpr char kAdminToken[] = "ad-0a1b2c3d4e5f60718293a4b5c6d7e8f9";

// The SHA-256 of a certificate (DER), hex.
std::string Fingerprint(X509* cert) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (cert == nullptr || X509_digest(cert, EVP_sha256(), digest, &length) != 1) return "";
  return HexEncode(ByteSpan(digest, length));
}

// The fingerprint of the PEM certificate in `path`; empty when it is none.
std::string FileFingerprint(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return "";
  X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  std::string out = Fingerprint(cert);
  X509_free(cert);
  return out;
}

// The fingerprint of the certificate a new TLS connection to 127.0.0.1:`port` is shown (not
// verified: the test compares it); empty when the handshake fails.
std::string ServedFingerprint(int port) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  BIO* bio = BIO_new_ssl_connect(ctx);
  BIO_set_conn_hostname(bio, absl::StrCat("127.0.0.1:", port).c_str());
  std::string out;
  SSL* ssl = nullptr;
  if (BIO_do_handshake(bio) == 1 && BIO_get_ssl(bio, &ssl) == 1) {
    X509* cert = SSL_get1_peer_certificate(ssl);
    out = Fingerprint(cert);
    X509_free(cert);
  }
  BIO_free_all(bio);
  SSL_CTX_free(ctx);
  ERR_clear_error();
  return out;
}

class HttpsE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::StartTransitSandbox(&sandbox_, /*blank_card=*/false)) return;
    absl::StatusOr<testing::TestPki> pki = testing::TestPki::Create(sandbox_->dir());
    ASSERT_TRUE(pki.ok()) << pki.status();
    pki_ = *std::move(pki);
  }

  // desfired with `flags`, the sandbox's PC/SC socket, keys and a tokens file; `tls`: with the
  // test PKI's server certificate and key.
  void Start(std::vector<std::string> flags, bool tls) {
    const std::string dir = sandbox_->dir();
    flags.push_back(absl::StrCat("--pcsc_socket=", dir, "/run/pcscd.comm"));
    absl::StatusOr<std::string> keys = testing::WriteKeyFile(dir);
    ASSERT_TRUE(keys.ok()) << keys.status();
    flags.push_back("--keys=" + *keys);
    const std::string tokens = dir + "/tokens.conf";
    ASSERT_TRUE(
        testing::WriteFileWithMode(
            tokens, absl::StrCat("token web-view viewer ", server::TokenHash(kViewerToken), "\n",
                                 "token web-admin admin ", server::TokenHash(kAdminToken), "\n"))
            .ok());
    flags.push_back("--tokens=" + tokens);
    if (tls) {
      flags.push_back("--tls_cert=" + pki_.server_cert);
      flags.push_back("--tls_key=" + pki_.server_key);
    }
    server_ = std::make_unique<testing::DesfiredProcess>(dir, std::move(flags));
    ASSERT_GT(server_->port(), 0) << server_->err();
    http_port_ = testing::HttpPortOf(server_->err());
    ASSERT_GT(http_port_, 0) << server_->err();
    base_ = absl::StrCat(tls ? "https" : "http", "://127.0.0.1:", http_port_);
    ASSERT_TRUE(sandbox_->WaitForCard(0, true, kSlack).ok());
  }

  // `request` to base_ + its url, trusting the test CA.
  testing::HttpResponse Call(testing::HttpRequest request) {
    request.url = base_ + request.url;
    request.ca_file = pki_.ca_cert;
    return testing::HttpCall(request);
  }

  std::string ReasonOf(const testing::HttpResponse& r) {
    google::protobuf::Struct error;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(r.body, &error).ok()) << r.body;
    return error.fields().contains("reason") ? error.fields().at("reason").string_value() : "";
  }

  std::unique_ptr<testing::PcscSandbox> sandbox_;
  testing::TestPki pki_;
  std::unique_ptr<testing::DesfiredProcess> server_;
  int http_port_ = 0;
  std::string base_;
};

TEST_F(HttpsE2eTest, ApiEventsAndSecureCookieOverTlsOnAnyAddress) {
  // With TLS the rule of --listen applies: every address, for gRPC and HTTP alike.
  ASSERT_NO_FATAL_FAILURE(Start({"--listen=0.0.0.0:0", "--http_listen=0.0.0.0:0"}, true));
  EXPECT_EQ(Call({.url = "/healthz"}).status, 200);
  testing::HttpResponse readers = Call(
      {.url = "/v1/readers", .headers = {std::string("Authorization: Bearer ") + kAdminToken}});
  EXPECT_EQ(readers.status, 200) << readers.body;
  EXPECT_TRUE(absl::StrContains(readers.body, sandbox_->ReaderName(0))) << readers.body;
  // The server's certificate is the test CA's: a client that does not trust it refuses.
  testing::HttpResponse untrusted = testing::HttpCall({.url = base_ + "/healthz"});
  EXPECT_EQ(untrusted.status, 0);
  EXPECT_FALSE(untrusted.error.empty());

  // Sign-in: the cookie is Secure (and HttpOnly, SameSite=Strict) under TLS.
  testing::HttpResponse in = Call({.method = "POST",
                                   .url = "/v1/session",
                                   .body = absl::StrCat("{\"token\":\"", kViewerToken, "\"}")});
  ASSERT_EQ(in.status, 200) << in.body;
  const std::string cookie = in.Header("Set-Cookie");
  for (const char* flag : {"; Secure", "; HttpOnly", "; SameSite=Strict", "; Path=/"}) {
    EXPECT_TRUE(absl::StrContains(cookie, flag)) << flag << " missing in " << cookie;
  }
  const std::string session = cookie.substr(0, cookie.find(';'));

  // The event stream with the cookie: the snapshot, then the removal of the card.
  std::string text;
  bool removed = false;
  testing::HttpRequest events{.url = base_ + "/v1/events",
                              .headers = {"Cookie: " + session},
                              .timeout = kSlack,
                              .ca_file = pki_.ca_cert};
  testing::HttpResponse stream = testing::HttpStream(events, [&](absl::string_view piece) {
    text.append(piece.data(), piece.size());
    int data = 0;
    for (const testing::SseEvent& e : testing::ParseSse(text)) data += e.data.empty() ? 0 : 1;
    if (data >= 1 && !removed) {
      removed = true;
      EXPECT_TRUE(sandbox_->Control(0, "remove").ok());
    }
    return data < 2;  // the snapshot, the removal
  });
  EXPECT_EQ(stream.status, 200) << stream.error;
  std::vector<testing::SseEvent> parsed = testing::ParseSse(text);
  ASSERT_FALSE(parsed.empty()) << text;
  EXPECT_TRUE(absl::StrContains(text, sandbox_->ReaderName(0))) << text;
  EXPECT_TRUE(absl::StrContains(parsed.back().data, "CARD_REMOVED")) << text;
  EXPECT_FALSE(parsed.back().id.empty()) << text;

  // The CSRF check holds over TLS too.
  testing::HttpResponse out = Call({.method = "DELETE",
                                    .url = "/v1/session",
                                    .headers = {"Cookie: " + session, "X-CSRF-Token: wrong"}});
  EXPECT_EQ(out.status, 403) << out.body;
  // Signing out clears the cookie, Secure as well.
  google::protobuf::Struct answer;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(in.body, &answer).ok()) << in.body;
  out = Call({.method = "DELETE",
              .url = "/v1/session",
              .headers = {"Cookie: " + session,
                          "X-CSRF-Token: " + answer.fields().at("csrfToken").string_value()}});
  EXPECT_EQ(out.status, 204) << out.body;
  EXPECT_TRUE(absl::StrContains(out.Header("Set-Cookie"), "Max-Age=0; Secure"))
      << out.Header("Set-Cookie");
  // Keep-alive over TLS: the second request reuses the connection (no second handshake).
  std::vector<testing::HttpResponse> kept =
      testing::HttpCalls({{.url = base_ + "/healthz", .ca_file = pki_.ca_cert},
                          {.url = base_ + "/v1/readers",
                           .headers = {std::string("Authorization: Bearer ") + kAdminToken},
                           .ca_file = pki_.ca_cert}});
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_EQ(kept[0].status, 200) << kept[0].error;
  EXPECT_EQ(kept[1].status, 200) << kept[1].body << kept[1].error;
  EXPECT_EQ(kept[0].new_connections, 1);
  EXPECT_EQ(kept[1].new_connections, 0);
}

TEST_F(HttpsE2eTest, PlainHttpGarbageAndStalledHandshakesAreClosed) {
  ASSERT_NO_FATAL_FAILURE(Start(
      {"--listen=127.0.0.1:0", "--http_listen=127.0.0.1:0", "--http_request_timeout=1s"}, true));
  // Plain HTTP on the TLS port: no HTTP answer, the connection closes.
  const std::string plain =
      testing::RawExchange(http_port_, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", kSlack);
  EXPECT_FALSE(absl::StrContains(plain, "HTTP/1.1")) << plain.substr(0, 200);
  EXPECT_TRUE(absl::EndsWith(plain, "<closed>")) << plain.substr(0, 200);
  // A TLS record header followed by garbage, and bytes that are no TLS at all.
  std::string garbage("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11);
  garbage += std::string(600, '\xa5');
  EXPECT_TRUE(absl::EndsWith(testing::RawExchange(http_port_, garbage, kSlack), "<closed>"));
  EXPECT_TRUE(absl::EndsWith(testing::RawExchange(http_port_, std::string(5000, '\x00'), kSlack),
                             "<closed>"));
  // A client that connects and says nothing is cut off after --http_request_timeout.
  EXPECT_TRUE(absl::EndsWith(testing::RawExchange(http_port_, "", kSlack), "<closed>"));
  // The server goes on serving.
  EXPECT_EQ(server_->Wait(absl::ZeroDuration()), testing::DesfiredProcess::kRunning);
  EXPECT_EQ(Call({.url = "/healthz"}).status, 200);
  testing::HttpResponse readers = Call(
      {.url = "/v1/readers", .headers = {std::string("Authorization: Bearer ") + kViewerToken}});
  EXPECT_EQ(readers.status, 200) << readers.body;
}

TEST_F(HttpsE2eTest, ClientCertificatesAreRequiredWithTlsClientCa) {
  ASSERT_NO_FATAL_FAILURE(Start(
      {"--listen=127.0.0.1:0", "--http_listen=127.0.0.1:0", "--tls_client_ca=" + pki_.ca_cert},
      true));
  // No certificate, or one from another CA: the handshake fails.
  EXPECT_EQ(Call({.url = "/healthz"}).status, 0);
  EXPECT_EQ(Call({.url = "/healthz", .client_cert = pki_.other_cert, .client_key = pki_.other_key})
                .status,
            0);
  // The test CA's client certificate: served; the caller is still the token's.
  EXPECT_EQ(
      Call({.url = "/healthz", .client_cert = pki_.client_cert, .client_key = pki_.client_key})
          .status,
      200);
  testing::HttpResponse readers =
      Call({.url = "/v1/readers", .client_cert = pki_.client_cert, .client_key = pki_.client_key});
  EXPECT_EQ(readers.status, 401) << readers.body;
}

TEST_F(HttpsE2eTest, FailedSignInsAreLimitedPerAddress) {
  ASSERT_NO_FATAL_FAILURE(
      Start({"--http_listen=127.0.0.1:0", "--http_sign_in_failures=3"}, /*tls=*/false));
  auto sign_in = [&](const std::string& token) {
    return Call({.method = "POST",
                 .url = "/v1/session",
                 .body = absl::StrCat("{\"token\":\"", token, "\"}")});
  };
  for (int i = 0; i < 3; ++i) {
    testing::HttpResponse r = sign_in("not-a-token");
    EXPECT_EQ(r.status, 401) << r.body;
  }
  // The fourth within the minute: 429 with Retry-After, even with a good token.
  for (const std::string& token : {std::string("not-a-token"), std::string(kAdminToken)}) {
    testing::HttpResponse r = sign_in(token);
    EXPECT_EQ(r.status, 429) << r.body;
    EXPECT_EQ(ReasonOf(r), "TOO_MANY_FAILED_SIGN_INS") << r.body;
    EXPECT_TRUE(absl::StrContains(r.body, "\"code\":\"RESOURCE_EXHAUSTED\"")) << r.body;
    EXPECT_TRUE(absl::StrContains(r.body, "\"limit\":\"http_sign_in_failures\"")) << r.body;
    int seconds = 0;
    EXPECT_TRUE(absl::SimpleAtoi(r.Header("Retry-After"), &seconds)) << r.Header("Retry-After");
    EXPECT_GE(seconds, 1);
    EXPECT_LE(seconds, 60);
    EXPECT_TRUE(r.Header("Set-Cookie").empty());
  }
  // Requests with a bearer token are not sign-ins: served.
  testing::HttpResponse readers = Call(
      {.url = "/v1/readers", .headers = {std::string("Authorization: Bearer ") + kAdminToken}});
  EXPECT_EQ(readers.status, 200) << readers.body;
}

// SIGHUP: new HTTPS connections get the certificate now in the files; a broken file leaves the
// certificate in use (an error in the log), and the server goes on serving.
TEST_F(HttpsE2eTest, SighupReloadsTheCertificateForNewConnections) {
  ASSERT_NO_FATAL_FAILURE(Start({"--listen=127.0.0.1:0", "--http_listen=127.0.0.1:0"}, true));
  const std::string first = FileFingerprint(pki_.server_cert);
  ASSERT_FALSE(first.empty());
  EXPECT_EQ(ServedFingerprint(http_port_), first);

  // A renewed certificate (from a new CA, so that it surely differs) in the same files.
  absl::StatusOr<testing::TestCa> ca = testing::TestCa::Create("renewal test CA");
  ASSERT_TRUE(ca.ok()) << ca.status();
  absl::StatusOr<testing::PemPair> renewed = ca->Issue(
      {.common_name = "localhost", .dns_names = {}, .ip_addresses = {"127.0.0.1"}, .server = true});
  ASSERT_TRUE(renewed.ok()) << renewed.status();
  ASSERT_TRUE(testing::WriteFileWithMode(pki_.server_key, renewed->key).ok());
  ASSERT_TRUE(testing::WriteFileWithMode(pki_.server_cert, renewed->cert).ok());
  const std::string second = FileFingerprint(pki_.server_cert);
  ASSERT_NE(second, first);
  ASSERT_EQ(::kill(server_->pid(), SIGHUP), 0);
  std::string served;
  for (absl::Time until = absl::Now() + kSlack; absl::Now() < until;) {
    served = ServedFingerprint(http_port_);
    if (served == second) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_EQ(served, second) << server_->err();

  // A broken certificate file: refused, the renewed certificate stays.
  ASSERT_TRUE(testing::WriteFileWithMode(pki_.server_cert, "not a certificate\n").ok());
  ASSERT_EQ(::kill(server_->pid(), SIGHUP), 0);
  for (absl::Time until = absl::Now() + kSlack; absl::Now() < until;) {
    if (absl::StrContains(server_->err(), "TLS certificate not reloaded")) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_TRUE(absl::StrContains(server_->err(), "TLS certificate not reloaded, the old one stays"))
      << server_->err();
  EXPECT_EQ(ServedFingerprint(http_port_), second);
  EXPECT_EQ(server_->Wait(absl::ZeroDuration()), testing::DesfiredProcess::kRunning);
  // gRPC keeps its certificate (read at start) and goes on serving.
  v1::ListReadersResponse readers;
  std::unique_ptr<grpc::ClientContext> ctx = testing::Ctx();
  ctx->AddMetadata("authorization", std::string("Bearer ") + kViewerToken);
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = testing::ReadFile(pki_.ca_cert);  // the CA of the first certificate
  grpc::Status s =
      v1::CardService::NewStub(grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                                   grpc::SslCredentials(ssl)))
          ->ListReaders(ctx.get(), {}, &readers);
  EXPECT_TRUE(s.ok()) << s.error_message();
}

// The ledger panel's answer: the newest rows, newest first, and the chain's status.
struct LedgerRecent {
  std::vector<int64_t> seqs;
  std::vector<std::string> request_ids;
  std::string newest_hash;
  bool ok = false;
  int64_t bad_seq = 0;
  std::string head_hash;
};

TEST_F(HttpsE2eTest, LedgerRecentFollowsNewRowsAndShowsATamperedRow) {
  ASSERT_NO_FATAL_FAILURE(Start({"--http_listen=127.0.0.1:0"}, /*tls=*/false));
  auto debit = [&](const std::string& request_id) {
    std::unique_ptr<grpc::ClientContext> ctx = testing::Ctx();
    ctx->AddMetadata("authorization", std::string("Bearer ") + kAdminToken);
    v1::DebitResponse response;
    grpc::Status s =
        v1::CardService::NewStub(server_->Channel())
            ->Debit(ctx.get(), testing::TransitDebit(sandbox_->ReaderName(0), 1, request_id),
                    &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
  };
  auto recent = [&] {
    LedgerRecent out;
    testing::HttpResponse r =
        Call({.url = "/v1/ledger/recent?limit=3",
              .headers = {std::string("Authorization: Bearer ") + kAdminToken}});
    EXPECT_EQ(r.status, 200) << r.body;
    google::protobuf::Struct body;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(r.body, &body).ok()) << r.body;
    for (const auto& row : body.fields().at("rows").list_value().values()) {
      const auto& f = row.struct_value().fields();
      out.seqs.push_back(static_cast<int64_t>(f.at("seq").number_value()));
      out.request_ids.push_back(f.at("request_id").string_value());
      if (out.newest_hash.empty()) out.newest_hash = f.at("hash").string_value();
    }
    const auto& verify = body.fields().at("verify").struct_value().fields();
    out.ok = verify.at("ok").bool_value();
    out.head_hash = verify.at("headHash").string_value();
    if (verify.contains("badSeq"))
      out.bad_seq = static_cast<int64_t>(verify.at("badSeq").number_value());
    return out;
  };
  debit("recent-1");
  LedgerRecent first = recent();
  ASSERT_FALSE(first.seqs.empty());
  EXPECT_TRUE(first.ok);
  EXPECT_EQ(first.head_hash, first.newest_hash);
  // (The reuse of one verify by repeated asks while the head stays is Ledger::VerifyRecent's,
  // tested in tests/unit/core/ledger/verify_test.cc: seen from here, a reused answer and a
  // fresh one are the same.)
  // New rows: in the answer at once, newest first, and the status is the new head's.
  debit("recent-2");
  LedgerRecent second = recent();
  ASSERT_EQ(second.seqs.size(), 3u);
  EXPECT_GT(second.seqs[0], second.seqs[1]);
  EXPECT_GT(second.seqs[1], second.seqs[2]);
  EXPECT_EQ(second.request_ids[0], "recent-2");
  EXPECT_TRUE(second.ok);
  EXPECT_EQ(second.head_hash, second.newest_hash);
  EXPECT_NE(second.head_hash, first.head_hash);
  // A row edited behind desfired's back: the next answer after the ledger moves shows it.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2((sandbox_->dir() + "/ledger.sqlite").c_str(), &db,
                            SQLITE_OPEN_READWRITE, nullptr),
            SQLITE_OK);
  EXPECT_EQ(
      sqlite3_exec(db, "UPDATE ledger SET amount = 999 WHERE seq = 1", nullptr, nullptr, nullptr),
      SQLITE_OK);
  sqlite3_close(db);
  debit("recent-3");
  LedgerRecent tampered = recent();
  EXPECT_FALSE(tampered.ok);
  EXPECT_EQ(tampered.bad_seq, 1);
  EXPECT_FALSE(recent().ok);  // and it stays failed
}

}  // namespace
}  // namespace desfired
