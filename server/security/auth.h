// Callers and roles: who may make which CardService / TapService call (docs/security.md).
//
// A caller is known by a bearer token (metadata "authorization: Bearer TOKEN") or, under
// mutual TLS, by the common name (CN) of its verified client certificate. The tokens file
// maps both to a name and a role:
//
//   # token NAME ROLE sha256:HEX        (HEX: the SHA-256 of the token; desfired --hash_token)
//   token ci-reader  viewer sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
//   token kiosk-7    operator sha256:...
//   # cert CN ROLE                      (mutual TLS: the client certificate's subject CN)
//   cert  issuing-station admin
//
// Roles are ordered viewer < operator < admin; MethodRoles() says which role each method
// needs (an unknown method needs admin). Stored are only digests of the tokens, compared in
// constant time; a token never appears in an error or a log.
//
//   DESFIRED_ASSIGN_OR_RETURN(CallerTable callers, CallerTable::LoadFile(path));
//   auto authorizer = std::make_shared<Authorizer>(Authorizer::Options{
//       .callers = std::move(callers), .max_streams_per_caller = 16});
//   config.hooks = WithAuthorizer(authorizer, config.hooks);  // authorize, caller, on_call_done
//
// Decisions (Authorizer::Identify / Check, and the authorize hook):
//   no token and no cert line in the table   every caller is admin (loopback default)
//   "authorization" present                  the token decides (it wins over a certificate):
//                                              known → its role; otherwise UNAUTHENTICATED /
//                                              TOKEN_INVALID (also for a scheme other than Bearer)
//   no token, verified client certificate     its CN on a cert line → that role
//   neither                                   UNAUTHENTICATED / TOKEN_MISSING
//   role below the method's                   PERMISSION_DENIED / ROLE_DENIED, metadata
//                                              "role" (the caller's) and "required"
//   a stream beyond max_streams_per_caller    RESOURCE_EXHAUSTED / TOO_MANY_STREAMS
//
// Thread-safe: a loaded CallerTable is read-only; the Authorizer's stream counts are guarded.
#ifndef DESFIRED_SERVER_SECURITY_AUTH_H_
#define DESFIRED_SERVER_SECURITY_AUTH_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "server/rpc/hooks.h"

namespace desfired::server {

enum class Role : int { kViewer = 1, kOperator = 2, kAdmin = 3 };

// "viewer", "operator", "admin".
absl::string_view RoleName(Role role);
// The role of a name as RoleName writes it (lower case only); nullopt otherwise.
std::optional<Role> ParseRole(absl::string_view name);

// Reasons of the refusals below (names of desfired.v1.ErrorReason values).
inline constexpr absl::string_view kReasonTokenMissing = "TOKEN_MISSING";
inline constexpr absl::string_view kReasonTokenInvalid = "TOKEN_INVALID";
inline constexpr absl::string_view kReasonRoleDenied = "ROLE_DENIED";
inline constexpr absl::string_view kReasonTooManyStreams = "TOO_MANY_STREAMS";

// The role each method needs.
struct MethodRole {
  absl::string_view service;  // "CardService" or "TapService"
  absl::string_view method;   // "Debit"
  Role role;
};
// Every method of desfired.v1.CardService and TapService (tested against the descriptors).
absl::Span<const MethodRole> MethodRoles();
// The role `method` (a method name, unique across both services) needs; admin when the method
// is not in MethodRoles() (fail closed).
Role RequiredRole(absl::string_view method);
// WatchCards and ParseTapStream: the calls max_streams_per_caller counts.
bool IsStreamMethod(absl::string_view method);

// SHA-256 of a token as the tokens file writes it: "sha256:" and 64 lower-case hex digits.
std::string TokenHash(absl::string_view token);

// One caller of the tokens file.
struct Principal {
  std::string name;  // a token's NAME, or "cert:CN"
  Role role = Role::kViewer;
};

// The tokens file, parsed. Format (docs/security.md), one entry per line; blank lines and
// lines starting with '#' are ignored; fields are separated by spaces or tabs:
//   token NAME ROLE sha256:HEX   NAME: [A-Za-z0-9._@-]{1,64}, unique; HEX: 64 hex digits
//   cert  CN ROLE                CN: the client certificate's subject CN (no spaces), unique
// The token itself is never accepted in the file, only its digest.
class CallerTable {
 public:
  CallerTable() = default;

  // Reads and parses `path`. NOT_FOUND / PERMISSION_DENIED / UNAVAILABLE when it cannot be
  // opened; FAILED_PRECONDITION when group or others may access it (like the key store);
  // INVALID_ARGUMENT for a bad line. Errors name the file and the line, and never quote the
  // line (a token pasted by mistake must not reach a log).
  static absl::StatusOr<CallerTable> LoadFile(const std::string& path);
  // Parses `text`; errors name `source` and the line (INVALID_ARGUMENT).
  static absl::StatusOr<CallerTable> Parse(absl::string_view text, absl::string_view source);

  // No token and no cert line: the authorizer admits everyone as admin (LoadSecurity refuses
  // a tokens file that parses so, and uses an open table only without --tokens).
  bool open() const { return tokens_.empty() && certs_.empty(); }
  size_t token_count() const { return tokens_.size(); }
  size_t cert_count() const { return certs_.size(); }

  // The caller whose token is `token` (the bearer value, not its hash), or nullptr. Compares
  // its SHA-256 with every stored digest in constant time.
  const Principal* FindToken(absl::string_view token) const;
  // The caller of a cert line for `common_name`, or nullptr.
  const Principal* FindCert(absl::string_view common_name) const;

 private:
  struct TokenEntry {
    std::array<uint8_t, 32> digest;
    Principal principal;
  };
  std::vector<TokenEntry> tokens_;
  absl::flat_hash_map<std::string, Principal> certs_;
};

// What a call presents, taken from its context (CredentialsOf).
struct CallCredentials {
  // The "authorization" metadata value as sent (e.g. "Bearer abc"), when present.
  std::optional<std::string> authorization;
  // The subject CNs of the peer's verified client certificate (mutual TLS only).
  std::vector<std::string> cert_common_names;
  // The peer address, e.g. "ipv4:127.0.0.1:51234".
  std::string peer;
};
CallCredentials CredentialsOf(const grpc::CallbackServerContext* context);

class Authorizer {
 public:
  struct Options {
    CallerTable callers;
    // WatchCards + ParseTapStream streams one caller may have open at once; 0: no limit.
    size_t max_streams_per_caller = 0;
  };
  explicit Authorizer(Options options) : options_(std::move(options)) {}
  Authorizer(const Authorizer&) = delete;
  Authorizer& operator=(const Authorizer&) = delete;

  // Who the call is, as the table above says: the principal (open table: name = the peer,
  // role admin), or UNAUTHENTICATED with TOKEN_MISSING / TOKEN_INVALID.
  absl::StatusOr<Principal> Identify(const CallCredentials& credentials) const;
  // Identify, then the role check for `method` (PERMISSION_DENIED / ROLE_DENIED). No stream
  // accounting.
  absl::Status Check(const CallCredentials& credentials, absl::string_view method) const;
  // The role check alone: OK, or PERMISSION_DENIED / ROLE_DENIED with metadata "role" and
  // "required".
  static absl::Status CheckRole(const Principal& principal, absl::string_view method);
  // The caller's name for logs and the ledger: a known token's NAME, else "cert:CN" for a
  // verified client certificate, else the peer address.
  std::string CallerName(const CallCredentials& credentials) const;
  // The caller's principal for limits per caller: a known token's NAME, else "cert:CN" for a
  // verified client certificate; empty when neither identifies the caller.
  std::string PrincipalName(const CallCredentials& credentials) const;

  // Stream admission: counts `call` (any unique pointer, e.g. the call's context) against
  // `caller`; RESOURCE_EXHAUSTED / TOO_MANY_STREAMS when the caller has the maximum open.
  absl::Status AdmitStream(const std::string& caller, const void* call) ABSL_LOCKS_EXCLUDED(mu_);
  // The end of a call: uncounts `call` when AdmitStream admitted it; otherwise a no-op.
  void EndCall(const void* call) ABSL_LOCKS_EXCLUDED(mu_);
  // Streams `caller` has open (admitted and not ended).
  size_t open_streams(const std::string& caller) const ABSL_LOCKS_EXCLUDED(mu_);

  const Options& options() const { return options_; }

 private:
  const Options options_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<const void*, std::string> streams_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, size_t> open_ ABSL_GUARDED_BY(mu_);
};

// `next` with the authorizer in front:
//   authorize     Check (identity and role), then next.authorize, then, for a stream, its
//                 admission (so that a stream refused by anything is never counted);
//   caller        next.caller when set, else Authorizer::CallerName;
//   principal     next.principal when set, else Authorizer::PrincipalName;
//   key_check     the caller's role (Identify) bound to CheckKeyUse (key_policy.h): which keys
//                 of the key store the call may have presented, and as what;
//   on_call_done  EndCall(info.context) for a stream, then next.on_call_done.
// Without a tokens file and without a stream limit the hooks add nothing to a call but the
// caller's name. `authorizer` is shared by the returned hooks.
ServerHooks WithAuthorizer(std::shared_ptr<Authorizer> authorizer, ServerHooks next);

}  // namespace desfired::server

#endif  // DESFIRED_SERVER_SECURITY_AUTH_H_
