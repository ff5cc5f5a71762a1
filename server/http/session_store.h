// Browser sessions of the HTTP API: POST /v1/session turns a bearer token into a session —
// a random id the browser keeps in an HttpOnly, SameSite=Strict cookie (Secure under TLS) —
// and a CSRF token the page sends back in the X-CSRF-Token header of every POST and DELETE
// (docs/api.md, "HTTP API"). EventSource cannot send an Authorization header; the cookie is how
// a browser page authenticates its event stream.
//
//   SessionStore store({.ttl = absl::Hours(8), .max_sessions = 10000});
//   SessionStore::Created s = *store.Create(token, principal);  // Set-Cookie: s.id, body: s.csrf
//   std::optional<Session> found = store.Find(cookie_value);    // nullopt: unknown or expired
//   store.CsrfMatches(*found, header_value);                     // constant time
//   store.Remove(cookie_value);                                  // DELETE /v1/session
//
// The ids and CSRF tokens are 32 random bytes (hex). The store is keyed by the SHA-256 of the
// id, so a lookup's timing says nothing about stored ids. A session keeps the bearer token it
// was made from (in memory only; never logged) because the calls it makes go to the gRPC
// services with it, so that they decide exactly as for a gRPC client. Sessions end at `ttl`
// after sign-in (not extended by use); at max_sessions the oldest is dropped.
//
// Thread-safe.
#ifndef DESFIRED_SERVER_HTTP_SESSION_STORE_H_
#define DESFIRED_SERVER_HTTP_SESSION_STORE_H_

#include <cstddef>
#include <map>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/security/auth.h"

namespace desfired::server::http {

struct Session {
  std::string token;  // the bearer token signed in with (empty without a tokens file)
  Principal principal;
  std::string csrf;
  absl::Time expires;
};

class SessionStore {
 public:
  struct Options {
    absl::Duration ttl = absl::Hours(8);
    size_t max_sessions = 10000;
  };
  struct Created {
    std::string id;
    std::string csrf;
    absl::Time expires;
  };

  explicit SessionStore(Options options) : options_(options) {}

  // A new session for `principal`, signed in with `token`. INTERNAL when no random bytes.
  absl::StatusOr<Created> Create(std::string token, Principal principal) ABSL_LOCKS_EXCLUDED(mu_);
  // The session of cookie value `id`; nullopt when unknown or expired (then it is dropped).
  std::optional<Session> Find(absl::string_view id) ABSL_LOCKS_EXCLUDED(mu_);
  void Remove(absl::string_view id) ABSL_LOCKS_EXCLUDED(mu_);
  size_t size() const ABSL_LOCKS_EXCLUDED(mu_);

  // Whether `header` is the session's CSRF token (constant time).
  static bool CsrfMatches(const Session& session, absl::string_view header);

  const Options& options() const { return options_; }

 private:
  const Options options_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Session> sessions_ ABSL_GUARDED_BY(mu_);  // by id hash
  std::multimap<absl::Time, std::string> by_expiry_ ABSL_GUARDED_BY(mu_);    // → id hash
};

}  // namespace desfired::server::http

#endif  // DESFIRED_SERVER_HTTP_SESSION_STORE_H_
