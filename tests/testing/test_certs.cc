#include "tests/testing/test_certs.h"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"

namespace desfired::testing {
namespace {

struct KeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyDeleter>;
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

absl::Status OpensslError(absl::string_view what) {
  const unsigned long code = ERR_get_error();
  char text[256] = {0};
  ERR_error_string_n(code, text, sizeof(text));
  ERR_clear_error();
  return absl::InternalError(absl::StrCat(what, ": ", text));
}

absl::StatusOr<KeyPtr> NewKey() {
  KeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return OpensslError("EVP_EC_gen");
  return key;
}

std::string Pem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

std::string Pem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

absl::Status AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) return OpensslError(absl::StrCat("extension ", value));
  const int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  if (ok != 1) return OpensslError("X509_add_ext");
  return absl::OkStatus();
}

// A certificate for `key` named `spec.common_name`, signed by `issuer_key` (self-signed when
// `issuer` is null).
absl::StatusOr<X509Ptr> MakeCert(const CertSpec& spec, bool ca, EVP_PKEY* key, X509* issuer,
                                 EVP_PKEY* issuer_key) {
  X509Ptr cert(X509_new());
  if (!cert) return OpensslError("X509_new");
  X509_set_version(cert.get(), 2);  // v3
  unsigned char serial[16];
  RAND_bytes(serial, sizeof(serial));
  serial[0] &= 0x7F;
  BIGNUM* bn = BN_bin2bn(serial, sizeof(serial), nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), absl::ToInt64Seconds(spec.not_before));
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), absl::ToInt64Seconds(spec.not_after));
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("desfired tests"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(spec.common_name.c_str()), -1,
                             -1, 0);
  X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name);
  X509_set_pubkey(cert.get(), key);
  X509* signer = issuer ? issuer : cert.get();
  absl::Status s;
  if (ca) {
    s.Update(AddExtension(cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE"));
    s.Update(AddExtension(cert.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign"));
  } else {
    s.Update(AddExtension(cert.get(), signer, NID_basic_constraints, "critical,CA:FALSE"));
    s.Update(
        AddExtension(cert.get(), signer, NID_key_usage, "critical,digitalSignature,keyAgreement"));
    std::vector<std::string> usages;
    if (spec.server) usages.push_back("serverAuth");
    if (spec.client) usages.push_back("clientAuth");
    if (!usages.empty()) {
      s.Update(AddExtension(cert.get(), signer, NID_ext_key_usage, absl::StrJoin(usages, ",")));
    }
    std::vector<std::string> alt;
    for (const std::string& d : spec.dns_names) alt.push_back(absl::StrCat("DNS:", d));
    for (const std::string& ip : spec.ip_addresses) alt.push_back(absl::StrCat("IP:", ip));
    if (!alt.empty()) {
      s.Update(AddExtension(cert.get(), signer, NID_subject_alt_name, absl::StrJoin(alt, ",")));
    }
  }
  s.Update(AddExtension(cert.get(), signer, NID_subject_key_identifier, "hash"));
  if (issuer) {
    s.Update(AddExtension(cert.get(), signer, NID_authority_key_identifier, "keyid:always"));
  }
  if (!s.ok()) return s;
  if (X509_sign(cert.get(), issuer_key ? issuer_key : key, EVP_sha256()) == 0) {
    return OpensslError("X509_sign");
  }
  return cert;
}

}  // namespace

struct TestCa::Impl {
  KeyPtr key;
  X509Ptr cert;
};

TestCa::TestCa(std::unique_ptr<Impl> impl, std::string cert_pem)
    : impl_(std::move(impl)), cert_pem_(std::move(cert_pem)) {}
TestCa::TestCa(TestCa&&) noexcept = default;
TestCa& TestCa::operator=(TestCa&&) noexcept = default;
TestCa::~TestCa() = default;

absl::StatusOr<TestCa> TestCa::Create(const std::string& common_name) {
  auto impl = std::make_unique<Impl>();
  absl::StatusOr<KeyPtr> key = NewKey();
  if (!key.ok()) return key.status();
  impl->key = *std::move(key);
  CertSpec spec;
  spec.common_name = common_name;
  spec.not_after = absl::Hours(24 * 30);
  absl::StatusOr<X509Ptr> cert = MakeCert(spec, /*ca=*/true, impl->key.get(), nullptr, nullptr);
  if (!cert.ok()) return cert.status();
  impl->cert = *std::move(cert);
  std::string pem = Pem(impl->cert.get());
  return TestCa(std::move(impl), std::move(pem));
}

absl::StatusOr<PemPair> TestCa::Issue(const CertSpec& spec) const {
  absl::StatusOr<KeyPtr> key = NewKey();
  if (!key.ok()) return key.status();
  absl::StatusOr<X509Ptr> cert =
      MakeCert(spec, /*ca=*/false, key->get(), impl_->cert.get(), impl_->key.get());
  if (!cert.ok()) return cert.status();
  return PemPair{.cert = Pem(cert->get()), .key = Pem(key->get())};
}

absl::Status WriteFileWithMode(const std::string& path, const std::string& content, int mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return absl::InternalError(absl::StrCat("open ", path, ": ", std::strerror(errno)));
  size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  const bool ok = done == content.size() && ::fchmod(fd, static_cast<mode_t>(mode)) == 0;
  ::close(fd);
  if (!ok) return absl::InternalError(absl::StrCat("write ", path, ": ", std::strerror(errno)));
  return absl::OkStatus();
}

absl::StatusOr<TestPki> TestPki::Create(const std::string& dir, const std::string& client_cn,
                                        const std::string& client2_cn) {
  absl::StatusOr<TestCa> ca = TestCa::Create("desfired test CA");
  if (!ca.ok()) return ca.status();
  absl::StatusOr<TestCa> other = TestCa::Create("other test CA");
  if (!other.ok()) return other.status();

  CertSpec server;
  server.common_name = "localhost";
  server.dns_names = {"localhost"};
  server.ip_addresses = {"127.0.0.1", "::1"};
  server.server = true;
  CertSpec client;
  client.common_name = client_cn;
  client.client = true;
  CertSpec client2 = client;
  client2.common_name = client2_cn;
  CertSpec expired = client;
  expired.not_before = -absl::Hours(72);
  expired.not_after = -absl::Hours(24);
  absl::StatusOr<PemPair> server_pair = ca->Issue(server);
  absl::StatusOr<PemPair> client_pair = ca->Issue(client);
  absl::StatusOr<PemPair> client2_pair = ca->Issue(client2);
  absl::StatusOr<PemPair> expired_pair = ca->Issue(expired);
  absl::StatusOr<PemPair> other_pair = other->Issue(client);
  for (const auto* p : {&server_pair, &client_pair, &client2_pair, &expired_pair, &other_pair}) {
    if (!p->ok()) return p->status();
  }

  TestPki pki;
  struct Out {
    std::string* path;
    const char* name;
    const std::string* content;
  };
  const Out outs[] = {
      {&pki.ca_cert, "ca.pem", &ca->cert_pem()},
      {&pki.server_cert, "server.pem", &server_pair->cert},
      {&pki.server_key, "server.key", &server_pair->key},
      {&pki.client_cert, "client.pem", &client_pair->cert},
      {&pki.client_key, "client.key", &client_pair->key},
      {&pki.client2_cert, "client2.pem", &client2_pair->cert},
      {&pki.client2_key, "client2.key", &client2_pair->key},
      {&pki.expired_cert, "expired.pem", &expired_pair->cert},
      {&pki.expired_key, "expired.key", &expired_pair->key},
      {&pki.other_ca_cert, "other-ca.pem", &other->cert_pem()},
      {&pki.other_cert, "other.pem", &other_pair->cert},
      {&pki.other_key, "other.key", &other_pair->key},
  };
  for (const Out& o : outs) {
    *o.path = absl::StrCat(dir, "/", o.name);
    absl::Status s = WriteFileWithMode(*o.path, *o.content);
    if (!s.ok()) return s;
  }
  return pki;
}

}  // namespace desfired::testing
