// Test certificates made at test time with OpenSSL (EC P-256, SHA-256): a CA, certificates it
// issues (server with SANs, client, expired), and a second, unrelated CA. Nothing is checked
// in; every run makes fresh keys.
//
//   absl::StatusOr<TestPki> pki = TestPki::Create(dir);   // files written to dir, mode 0600
//   config.security.tls_cert_file = pki->server_cert;     // paths
//   options.tls_ca_file = pki->ca_cert;
//
// Thread-compatible.
#ifndef DESFIRED_TESTS_TESTING_TEST_CERTS_H_
#define DESFIRED_TESTS_TESTING_TEST_CERTS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace desfired::testing {

// A certificate and its private key, PEM.
struct PemPair {
  std::string cert;
  std::string key;
};

struct CertSpec {
  std::string common_name;
  std::vector<std::string> dns_names;     // subjectAltName DNS entries
  std::vector<std::string> ip_addresses;  // subjectAltName IP entries, e.g. "127.0.0.1"
  bool server = false;                    // extendedKeyUsage serverAuth
  bool client = false;                    // extendedKeyUsage clientAuth
  // Validity, relative to now: [now + not_before, now + not_after].
  absl::Duration not_before = -absl::Hours(1);
  absl::Duration not_after = absl::Hours(24);
};

// A self-signed CA that issues certificates.
class TestCa {
 public:
  static absl::StatusOr<TestCa> Create(const std::string& common_name);
  TestCa(TestCa&&) noexcept;
  TestCa& operator=(TestCa&&) noexcept;
  ~TestCa();

  const std::string& cert_pem() const { return cert_pem_; }
  absl::StatusOr<PemPair> Issue(const CertSpec& spec) const;

 private:
  struct Impl;
  explicit TestCa(std::unique_ptr<Impl> impl, std::string cert_pem);
  std::unique_ptr<Impl> impl_;
  std::string cert_pem_;
};

// Writes `content` to `path` with mode `mode` (0600 unless told).
absl::Status WriteFileWithMode(const std::string& path, const std::string& content,
                               int mode = 0600);

// The set the security tests use, as files in a directory (all mode 0600).
struct TestPki {
  std::string ca_cert;      // CA "desfired test CA"
  std::string server_cert;  // CN localhost, SAN DNS:localhost IP:127.0.0.1 IP:::1
  std::string server_key;
  std::string client_cert;  // CN `client_cn`, clientAuth, valid now
  std::string client_key;
  std::string client2_cert;  // CN `client2_cn`, clientAuth, valid now
  std::string client2_key;
  std::string expired_cert;  // CN `client_cn`, expired a day ago
  std::string expired_key;
  std::string other_ca_cert;  // another CA, "other test CA"
  std::string other_cert;     // CN `client_cn`, issued by the other CA
  std::string other_key;

  static absl::StatusOr<TestPki> Create(const std::string& dir,
                                        const std::string& client_cn = "test-client",
                                        const std::string& client2_cn = "test-client-2");
};

}  // namespace desfired::testing

#endif  // DESFIRED_TESTS_TESTING_TEST_CERTS_H_
