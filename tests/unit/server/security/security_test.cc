// LoadSecurity: the TLS files and the tokens file are checked at start-up, and every refusal
// names the field and its flag. (The handshakes themselves: tests/e2e/security_e2e_test.cc.)
#include "server/security/security.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/test_certs.h"

namespace desfired::server {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

class LoadSecurityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "/security_test_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    absl::StatusOr<testing::TestPki> pki = testing::TestPki::Create(dir_);
    ASSERT_TRUE(pki.ok()) << pki.status();
    pki_ = *std::move(pki);
  }
  void TearDown() override { std::system(absl::StrCat("rm -rf '", dir_, "'").c_str()); }

  SecurityConfig Tls() const {
    SecurityConfig c;
    c.tls_cert_file = pki_.server_cert;
    c.tls_key_file = pki_.server_key;
    return c;
  }
  std::string Write(const std::string& name, const std::string& text, int mode = 0600) {
    const std::string path = absl::StrCat(dir_, "/", name);
    EXPECT_TRUE(testing::WriteFileWithMode(path, text, mode).ok());
    return path;
  }
  // The message of a refused config, checked to start with the field and its flag.
  std::string Refused(const SecurityConfig& c, absl::string_view field_and_flag) {
    absl::StatusOr<Security> s = LoadSecurity(c);
    EXPECT_FALSE(s.ok());
    if (s.ok()) return "";
    EXPECT_THAT(std::string(s.status().message()),
                StartsWith(absl::StrCat("config ", field_and_flag, ": ")));
    return std::string(s.status().message());
  }

  std::string dir_;
  testing::TestPki pki_;
};

TEST_F(LoadSecurityTest, NothingConfiguredIsInsecureAndOpen) {
  absl::StatusOr<Security> s = LoadSecurity({});
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_FALSE(s->tls);
  EXPECT_FALSE(s->mutual_tls);
  EXPECT_NE(s->credentials, nullptr);
  EXPECT_TRUE(s->authorizer->options().callers.open());
}

TEST_F(LoadSecurityTest, TlsAndMutualTls) {
  absl::StatusOr<Security> tls = LoadSecurity(Tls());
  ASSERT_TRUE(tls.ok()) << tls.status();
  EXPECT_TRUE(tls->tls);
  EXPECT_FALSE(tls->mutual_tls);
  SecurityConfig m = Tls();
  m.tls_client_ca_file = pki_.ca_cert;
  m.tokens_file = Write("tokens.conf", absl::StrCat("token a viewer ", TokenHash("t"),
                                                    "\ncert test-client operator\n"));
  m.max_streams_per_caller = 3;
  absl::StatusOr<Security> mtls = LoadSecurity(m);
  ASSERT_TRUE(mtls.ok()) << mtls.status();
  EXPECT_TRUE(mtls->mutual_tls);
  EXPECT_EQ(mtls->authorizer->options().callers.cert_count(), 1u);
  EXPECT_EQ(mtls->authorizer->options().max_streams_per_caller, 3u);
}

TEST_F(LoadSecurityTest, CertAndKeyGoTogether) {
  SecurityConfig c;
  c.tls_cert_file = pki_.server_cert;
  EXPECT_THAT(Refused(c, "tls_cert_file (--tls_cert)"), HasSubstr("--tls_key"));
  c = {};
  c.tls_key_file = pki_.server_key;
  EXPECT_THAT(Refused(c, "tls_key_file (--tls_key)"), HasSubstr("--tls_cert"));
}

TEST_F(LoadSecurityTest, ClientCaNeedsTls) {
  SecurityConfig c;
  c.tls_client_ca_file = pki_.ca_cert;
  EXPECT_THAT(Refused(c, "tls_client_ca_file (--tls_client_ca)"), HasSubstr("--tls_cert"));
}

TEST_F(LoadSecurityTest, MissingFilesAreNamed) {
  SecurityConfig c = Tls();
  c.tls_cert_file = dir_ + "/nope.pem";
  EXPECT_THAT(Refused(c, "tls_cert_file (--tls_cert)"), HasSubstr(dir_ + "/nope.pem"));
  c = Tls();
  c.tls_key_file = dir_ + "/nope.key";
  EXPECT_THAT(Refused(c, "tls_key_file (--tls_key)"), HasSubstr("No such file"));
  c = Tls();
  c.tls_client_ca_file = dir_ + "/nope-ca.pem";
  Refused(c, "tls_client_ca_file (--tls_client_ca)");
  c = {};
  c.tokens_file = dir_ + "/nope.conf";
  Refused(c, "tokens_file (--tokens)");
}

TEST_F(LoadSecurityTest, KeyFileMustBePrivate) {
  ASSERT_EQ(::chmod(pki_.server_key.c_str(), 0644), 0);
  const std::string msg = Refused(Tls(), "tls_key_file (--tls_key)");
  EXPECT_THAT(msg, HasSubstr("accessible by group or others (mode 0644)"));
  EXPECT_THAT(msg, HasSubstr("chmod 600"));
  ASSERT_EQ(::chmod(pki_.server_key.c_str(), 0640), 0);
  Refused(Tls(), "tls_key_file (--tls_key)");
  // The certificate may be world-readable.
  ASSERT_EQ(::chmod(pki_.server_key.c_str(), 0600), 0);
  ASSERT_EQ(::chmod(pki_.server_cert.c_str(), 0644), 0);
  EXPECT_TRUE(LoadSecurity(Tls()).ok());
}

TEST_F(LoadSecurityTest, NotPemIsRefused) {
  SecurityConfig c = Tls();
  c.tls_cert_file = Write("garbage.pem", "hello\n");
  EXPECT_THAT(Refused(c, "tls_cert_file (--tls_cert)"), HasSubstr("no PEM certificate"));
  c = Tls();
  c.tls_key_file =
      Write("garbage.key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
  const std::string msg = Refused(c, "tls_key_file (--tls_key)");
  EXPECT_THAT(msg, HasSubstr("no unencrypted PEM private key"));
  EXPECT_THAT(msg, Not(HasSubstr("AAAA")));
  // A certificate given as the key.
  c = Tls();
  c.tls_key_file = pki_.client_cert;
  Refused(c, "tls_key_file (--tls_key)");
  c = Tls();
  c.tls_client_ca_file = Write("ca-garbage.pem", "not a certificate\n");
  EXPECT_THAT(Refused(c, "tls_client_ca_file (--tls_client_ca)"), HasSubstr("no PEM certificate"));
}

TEST_F(LoadSecurityTest, KeyOfAnotherCertificateIsRefused) {
  SecurityConfig c = Tls();
  c.tls_key_file = pki_.client_key;
  EXPECT_THAT(Refused(c, "tls_key_file (--tls_key)"),
              HasSubstr("does not belong to the certificate"));
}

TEST_F(LoadSecurityTest, ExpiredServerCertificateIsRefused) {
  SecurityConfig c = Tls();
  c.tls_cert_file = pki_.expired_cert;
  c.tls_key_file = pki_.expired_key;
  EXPECT_THAT(Refused(c, "tls_cert_file (--tls_cert)"), HasSubstr("has expired"));
}

TEST_F(LoadSecurityTest, TokensFileErrorsAreNamed) {
  SecurityConfig c;
  c.tokens_file = Write("open.conf", absl::StrCat("token a viewer ", TokenHash("t"), "\n"), 0644);
  EXPECT_THAT(Refused(c, "tokens_file (--tokens)"), HasSubstr("chmod 600"));
  c.tokens_file = Write("bad.conf", "token a viewer\n");
  EXPECT_THAT(Refused(c, "tokens_file (--tokens)"), HasSubstr("line 1"));
  // A file without entries would admit everyone: refused.
  c.tokens_file = Write("empty.conf", "# nobody yet\n\n");
  EXPECT_THAT(Refused(c, "tokens_file (--tokens)"), HasSubstr("has no token or cert line"));
  // cert lines need mutual TLS.
  c.tokens_file = Write("certs.conf", "cert station admin\n");
  EXPECT_THAT(Refused(c, "tokens_file (--tokens)"), HasSubstr("--tls_client_ca"));
  c.tls_cert_file = pki_.server_cert;
  c.tls_key_file = pki_.server_key;
  Refused(c, "tokens_file (--tokens)");
  c.tls_client_ca_file = pki_.ca_cert;
  EXPECT_TRUE(LoadSecurity(c).ok());
}

}  // namespace
}  // namespace desfired::server
