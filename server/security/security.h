// Security of the listening port, from the config: TLS or mutual TLS from PEM files, and the
// Authorizer (auth.h) from the tokens file. docs/security.md is the user's guide.
//
//   SecurityConfig sc;
//   sc.tls_cert_file = "/etc/desfired/server.pem";     // chain, leaf first
//   sc.tls_key_file = "/etc/desfired/server.key";      // mode 600
//   sc.tls_client_ca_file = "/etc/desfired/clients-ca.pem";  // mutual TLS
//   sc.tokens_file = "/etc/desfired/tokens.conf";      // mode 600
//   DESFIRED_ASSIGN_OR_RETURN(Security security, LoadSecurity(sc));
//   builder.AddListeningPort(listen, security.credentials, &port);
//   hooks = WithAuthorizer(security.authorizer, hooks);
//
// TLS: grpc::SslServerCredentials with the certificate chain and key; with a client CA the
// client must present a certificate that verifies against it
// (GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY: no certificate, an expired one
// or one from another CA fails the handshake). Without tls_cert_file: insecure credentials.
//
// Thread-safe: pure functions.
#ifndef DESFIRED_SERVER_SECURITY_SECURITY_H_
#define DESFIRED_SERVER_SECURITY_SECURITY_H_

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/security/auth.h"

namespace grpc {
class ServerCredentials;
}

namespace desfired::server {

struct SecurityConfig {
  // PEM: the server's certificate chain (leaf first) and its unencrypted private key (the key
  // file must not be accessible by group or others). Both or neither.
  std::string tls_cert_file;
  std::string tls_key_file;
  // PEM: the CA(s) that client certificates must verify against; turns on mutual TLS. Needs
  // tls_cert_file.
  std::string tls_client_ca_file;
  // The tokens file (auth.h, docs/security.md): mode 600, at least one entry. Empty (no file):
  // every caller is admin.
  std::string tokens_file;
  // WatchCards + ParseTapStream streams one caller may have open; 0: no limit.
  size_t max_streams_per_caller = 0;
};

struct Security {
  std::shared_ptr<grpc::ServerCredentials> credentials;
  std::shared_ptr<Authorizer> authorizer;
  bool tls = false;
  bool mutual_tls = false;
};

// Checks the files and builds the credentials and the authorizer. INVALID_ARGUMENT (or the
// file's NOT_FOUND / PERMISSION_DENIED / FAILED_PRECONDITION) with a message that starts with
// the field and its flag, e.g. "config tls_key_file (--tls_key): ...": a missing or unreadable
// file, one that holds no PEM certificate or key, a key that does not match the certificate,
// an expired server certificate, a key or tokens file that group or others may access,
// tls_client_ca_file without tls_cert_file, a bad tokens file line, a tokens file without any
// entry, cert lines without mutual TLS. Never quotes a key or a token.
absl::StatusOr<Security> LoadSecurity(const SecurityConfig& config);

}  // namespace desfired::server

#endif  // DESFIRED_SERVER_SECURITY_SECURITY_H_
