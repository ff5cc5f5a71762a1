#include "server/security/security.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/crypto/random.h"
#include "core/util/private_file.h"
#include "grpcpp/security/server_credentials.h"

namespace desfired::server {
namespace {

constexpr size_t kMaxPemFileSize = 1 << 20;

// A config field and the flag that sets it, for messages.
struct Field {
  absl::string_view name;
  absl::string_view flag;
};
constexpr Field kCertField{"tls_cert_file", "--tls_cert"};
constexpr Field kKeyField{"tls_key_file", "--tls_key"};
constexpr Field kClientCaField{"tls_client_ca_file", "--tls_client_ca"};
constexpr Field kTokensField{"tokens_file", "--tokens"};

absl::Status FieldError(const Field& field, absl::StatusCode code, absl::string_view message) {
  return absl::Status(code, absl::StrCat("config ", field.name, " (", field.flag, "): ", message));
}
absl::Status FieldError(const Field& field, absl::string_view message) {
  return FieldError(field, absl::StatusCode::kInvalidArgument, message);
}

// Reads `path`; with `private_file`, refuses a file that group or others may access.
absl::StatusOr<std::string> ReadFile(const Field& field, const std::string& path,
                                     bool private_file) {
  absl::StatusOr<std::string> text =
      ReadSmallFile(path, {.what = "", .max_bytes = kMaxPemFileSize, .private_only = private_file});
  if (!text.ok()) return FieldError(field, text.status().code(), text.status().message());
  return text;
}

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyDeleter>;

// The certificates of a PEM text, in order.
std::vector<X509Ptr> ParseCertificates(const std::string& pem) {
  std::vector<X509Ptr> certs;
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  while (bio) {
    X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!cert) break;
    certs.push_back(std::move(cert));
  }
  ERR_clear_error();  // the end of the text reads as an error
  return certs;
}

// An encrypted key would make OpenSSL ask for a passphrase on the terminal: refuse instead.
int NoPassphrase(char*, int, int, void*) { return -1; }

KeyPtr ParsePrivateKey(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  KeyPtr key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, &NoPassphrase, nullptr) : nullptr);
  ERR_clear_error();
  return key;
}

absl::StatusOr<std::string> ReadCertificates(const Field& field, const std::string& path,
                                             std::vector<X509Ptr>* certs) {
  absl::StatusOr<std::string> pem = ReadFile(field, path, /*private_file=*/false);
  if (!pem.ok()) return pem.status();
  *certs = ParseCertificates(*pem);
  if (certs->empty()) {
    return FieldError(field, absl::StrCat(path,
                                          " holds no PEM certificate (-----BEGIN "
                                          "CERTIFICATE-----)"));
  }
  return pem;
}

}  // namespace

absl::StatusOr<Security> LoadSecurity(const SecurityConfig& config) {
  Security security;

  // TLS.
  if (config.tls_cert_file.empty() != config.tls_key_file.empty()) {
    return config.tls_cert_file.empty()
               ? FieldError(kKeyField, "needs --tls_cert (the certificate of the key)")
               : FieldError(kCertField, "needs --tls_key (the certificate's private key)");
  }
  if (!config.tls_client_ca_file.empty() && config.tls_cert_file.empty()) {
    return FieldError(kClientCaField,
                      "mutual TLS needs TLS: give --tls_cert and --tls_key as well");
  }
  if (config.tls_cert_file.empty()) {
    security.credentials = grpc::InsecureServerCredentials();
  } else {
    std::vector<X509Ptr> chain;
    absl::StatusOr<std::string> cert_pem =
        ReadCertificates(kCertField, config.tls_cert_file, &chain);
    if (!cert_pem.ok()) return cert_pem.status();
    if (X509_cmp_current_time(X509_get0_notAfter(chain[0].get())) < 0) {
      return FieldError(kCertField,
                        absl::StrCat("the certificate in ", config.tls_cert_file, " has expired"));
    }
    absl::StatusOr<std::string> key_pem =
        ReadFile(kKeyField, config.tls_key_file, /*private_file=*/true);
    if (!key_pem.ok()) return key_pem.status();
    KeyPtr key = ParsePrivateKey(*key_pem);
    if (!key) {
      crypto::SecureWipe(
          MutableByteSpan(reinterpret_cast<uint8_t*>(key_pem->data()), key_pem->size()));
      return FieldError(kKeyField,
                        absl::StrCat(config.tls_key_file, " holds no unencrypted PEM private key"));
    }
    const bool matches = X509_check_private_key(chain[0].get(), key.get()) == 1;
    ERR_clear_error();
    if (!matches) {
      crypto::SecureWipe(
          MutableByteSpan(reinterpret_cast<uint8_t*>(key_pem->data()), key_pem->size()));
      return FieldError(
          kKeyField, absl::StrCat("the key in ", config.tls_key_file,
                                  " does not belong to the certificate in ", config.tls_cert_file));
    }
    grpc::SslServerCredentialsOptions ssl(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
    if (!config.tls_client_ca_file.empty()) {
      std::vector<X509Ptr> cas;
      absl::StatusOr<std::string> ca_pem =
          ReadCertificates(kClientCaField, config.tls_client_ca_file, &cas);
      if (!ca_pem.ok()) return ca_pem.status();
      ssl.pem_root_certs = *std::move(ca_pem);
      ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
      security.mutual_tls = true;
    }
    ssl.pem_key_cert_pairs.push_back({*key_pem, *cert_pem});
    crypto::SecureWipe(
        MutableByteSpan(reinterpret_cast<uint8_t*>(key_pem->data()), key_pem->size()));
    security.credentials = grpc::SslServerCredentials(ssl);
    security.tls = true;
  }

  // Callers.
  CallerTable callers;
  if (!config.tokens_file.empty()) {
    absl::StatusOr<CallerTable> table = CallerTable::LoadFile(config.tokens_file);
    if (!table.ok())
      return FieldError(kTokensField, table.status().code(), table.status().message());
    if (table->open()) {
      // Fail closed: an empty file must not quietly admit everyone as admin.
      return FieldError(kTokensField,
                        absl::StrCat(config.tokens_file,
                                     " has no token or cert line (without --tokens every "
                                     "caller is admin)"));
    }
    if (table->cert_count() > 0 && !security.mutual_tls) {
      return FieldError(kTokensField, "has cert lines, which need mutual TLS (--tls_client_ca)");
    }
    callers = *std::move(table);
  }
  security.authorizer = std::make_shared<Authorizer>(Authorizer::Options{
      .callers = std::move(callers), .max_streams_per_caller = config.max_streams_per_caller});
  return security;
}

}  // namespace desfired::server
