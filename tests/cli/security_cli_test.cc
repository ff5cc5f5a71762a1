// desfirectl against a desfired that wants mutual TLS and a bearer token: the connection
// options come from DESFIRED_SERVER, DESFIRED_TOKEN, DESFIRED_TLS_CA, DESFIRED_TLS_CERT and
// DESFIRED_TLS_KEY, and a flag on the command line wins over its variable. An in-process
// desfired on loopback over a sandboxed pcscd with the transit card (the set-up of
// server_cli_test.cc); certificates made at test time. Skipped when not root.
#include <sys/stat.h>

#include <map>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
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

constexpr char kViewerToken[] = "cli-viewer-5f0e1d2c3b4a69788796a5b4c3d2e1f0";
constexpr char kOperatorToken[] = "cli-operator-0a1b2c3d4e5f60718293a4b5c6d7e8f9";

using testing::CliRun;

// Runs desfirectl with `args` (shell words) and exactly the connection variables in `env`.
CliRun Desfirectl(const std::map<std::string, std::string>& env, const std::string& args) {
  return testing::RunDesfirectl(DESFIRECTL, args, env);
}

class SecurityCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::StartTransitSandbox(&sandbox_, /*blank_card=*/false)) return;
    reader_ = sandbox_->ReaderName(0);
    const std::string dir = sandbox_->dir();
    absl::StatusOr<std::string> key_path = testing::WriteKeyFile(dir);
    ASSERT_TRUE(key_path.ok()) << key_path.status();
    const std::string tokens = dir + "/tokens.conf";
    ASSERT_TRUE(testing::WriteFileWithMode(
                    tokens, absl::StrCat("token ci viewer ", server::TokenHash(kViewerToken),
                                         "\ntoken kiosk operator ",
                                         server::TokenHash(kOperatorToken), "\n"))
                    .ok());
    ASSERT_EQ(::mkdir((dir + "/pki").c_str(), 0700), 0);
    absl::StatusOr<testing::TestPki> pki = testing::TestPki::Create(dir + "/pki");
    ASSERT_TRUE(pki.ok()) << pki.status();
    pki_ = *std::move(pki);

    server::ServerConfig config;
    config.listen = "127.0.0.1:0";
    config.keys_file = *key_path;
    config.security.tls_cert_file = pki_.server_cert;
    config.security.tls_key_file = pki_.server_key;
    config.security.tls_client_ca_file = pki_.ca_cert;
    config.security.tokens_file = tokens;
    auto server = server::DesfiredServer::Start(config);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    address_ = absl::StrCat("127.0.0.1:", server_->port());
  }

  void TearDown() override {
    if (server_) server_->Shutdown(absl::Seconds(1));
  }

  // Every connection setting from the environment.
  std::map<std::string, std::string> Env(const std::string& token = kViewerToken) const {
    return {{"DESFIRED_SERVER", address_},
            {"DESFIRED_TOKEN", token},
            {"DESFIRED_TLS_CA", pki_.ca_cert},
            {"DESFIRED_TLS_CERT", pki_.client_cert},
            {"DESFIRED_TLS_KEY", pki_.client_key}};
  }
  std::string ValueArgs() const {
    return absl::StrCat("value --reader '", reader_,
                        "' --aid F51001 --file 1 --key transit-read --key-no 1");
  }
  std::string DebitArgs(const std::string& id) const {
    return absl::StrCat("debit --reader '", reader_,
                        "' --aid F51001 --file 1 --key transit-debit --key-no 2 --amount 7 "
                        "--request-id ",
                        id);
  }

  std::unique_ptr<testing::PcscSandbox> sandbox_;
  std::string reader_;
  testing::TestPki pki_;
  std::unique_ptr<server::DesfiredServer> server_;
  std::string address_;
};

TEST_F(SecurityCliTest, EnvironmentSuppliesServerTokenAndTls) {
  CliRun readers = Desfirectl(Env(), "readers");
  ASSERT_EQ(readers.exit_code, 0) << readers.err;
  EXPECT_THAT(readers.out, HasSubstr(reader_));
  CliRun value = Desfirectl(Env(), ValueArgs());
  ASSERT_EQ(value.exit_code, 0) << value.err;
  EXPECT_EQ(value.out, "value: 2500\n");
  // The operator's token from the environment debits.
  CliRun debit = Desfirectl(Env(kOperatorToken), DebitArgs("env-d-1"));
  ASSERT_EQ(debit.exit_code, 0) << debit.err;
  EXPECT_THAT(debit.out, HasSubstr("2500 -> 2493"));
}

TEST_F(SecurityCliTest, EachVariableIsNeeded) {
  // Without DESFIRED_SERVER: the default address, where nothing listens.
  auto env = Env();
  env.erase("DESFIRED_SERVER");
  EXPECT_EQ(Desfirectl(env, "readers --timeout 2s").exit_code, 3);
  env = Env();
  env.erase("DESFIRED_TOKEN");
  CliRun no_token = Desfirectl(env, "readers");
  EXPECT_EQ(no_token.exit_code, 1);
  EXPECT_THAT(no_token.err, HasSubstr("TOKEN_MISSING (UNAUTHENTICATED)"));
  EXPECT_THAT(no_token.err, HasSubstr("DESFIRED_TOKEN"));
  // Without the client certificate the handshake fails: no answer from desfired.
  env = Env();
  env.erase("DESFIRED_TLS_CERT");
  env.erase("DESFIRED_TLS_KEY");
  CliRun no_cert = Desfirectl(env, "readers --timeout 5s");
  EXPECT_EQ(no_cert.exit_code, 3) << no_cert.err;
  // Without the CA the server's certificate is not trusted (the system roots do not know it).
  env = Env();
  env.erase("DESFIRED_TLS_CA");
  EXPECT_EQ(Desfirectl(env, "readers --timeout 5s").exit_code, 3);
}

TEST_F(SecurityCliTest, FlagsWinOverTheEnvironment) {
  // A wrong token in the environment, the right one as a flag.
  CliRun r =
      Desfirectl(Env("wrong-token-from-env"), absl::StrCat("readers --token ", kViewerToken));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // The right token in the environment, a wrong one as a flag: the flag is used.
  r = Desfirectl(Env(), "readers --token wrong-token-on-the-command-line");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("TOKEN_INVALID (UNAUTHENTICATED)"));
  EXPECT_THAT(r.err, Not(HasSubstr("wrong-token-on-the-command-line")));
  EXPECT_THAT(r.err, Not(HasSubstr(kViewerToken)));
  // The operator's token as a flag over the viewer's from the environment: the debit runs.
  r = Desfirectl(Env(), absl::StrCat(DebitArgs("flag-d-1"), " --token ", kOperatorToken));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // --server over DESFIRED_SERVER, both ways.
  auto env = Env();
  env["DESFIRED_SERVER"] = "127.0.0.1:1";
  r = Desfirectl(env, absl::StrCat("readers --server ", address_));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = Desfirectl(Env(), "readers --server 127.0.0.1:1 --timeout 2s");
  EXPECT_EQ(r.exit_code, 3);
  // TLS files: a CA and an expired certificate in the environment, the good ones as flags.
  env = Env();
  env["DESFIRED_TLS_CA"] = pki_.other_ca_cert;
  env["DESFIRED_TLS_CERT"] = pki_.expired_cert;
  env["DESFIRED_TLS_KEY"] = pki_.expired_key;
  EXPECT_EQ(Desfirectl(env, "readers --timeout 5s").exit_code, 3);
  r = Desfirectl(env, absl::StrCat("readers --tls-ca ", pki_.ca_cert, " --tls-cert ",
                                   pki_.client_cert, " --tls-key ", pki_.client_key));
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(SecurityCliTest, RoleDeniedNamesBothRoles) {
  CliRun r = Desfirectl(Env(), DebitArgs("viewer-d-1"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("ROLE_DENIED (PERMISSION_DENIED)"));
  EXPECT_THAT(r.err, HasSubstr("role: viewer"));
  EXPECT_THAT(r.err, HasSubstr("required: operator"));
  EXPECT_THAT(r.err, HasSubstr("what to do:"));
  CliRun value = Desfirectl(Env(), ValueArgs());
  ASSERT_EQ(value.exit_code, 0) << value.err;
  EXPECT_EQ(value.out, "value: 2500\n");  // the debit never ran
}

}  // namespace
}  // namespace desfired
