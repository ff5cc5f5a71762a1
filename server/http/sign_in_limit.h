// SignInLimit: failed sign-ins (POST /v1/session with a token the tokens file does not know)
// counted per client address, so that guessing tokens through the HTTP API is slow: after
// `max_failures` failures within `window`, an address must wait until the oldest of them is
// `window` old (docs/api.md, "HTTP API": 429 TOO_MANY_FAILED_SIGN_INS with Retry-After).
// Successful sign-ins are not counted and do not reset the count.
//
//   SignInLimit limit({.max_failures = 5, .window = absl::Minutes(1)});
//   if (absl::Duration wait = limit.RetryAfter(address, absl::Now()); wait > absl::ZeroDuration())
//     ... 429, Retry-After: ceil(wait) ...
//   if (!identified) limit.Failed(address, absl::Now());
//
// Memory is bounded: at most `max_addresses` addresses are tracked (beyond, those with no
// recent failure are forgotten first, then arbitrary ones).
//
// Thread-safe.
#ifndef DESFIRED_SERVER_HTTP_SIGN_IN_LIMIT_H_
#define DESFIRED_SERVER_HTTP_SIGN_IN_LIMIT_H_

#include <cstddef>
#include <deque>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace desfired::server::http {

class SignInLimit {
 public:
  struct Options {
    size_t max_failures = 5;  // 0: no limit
    absl::Duration window = absl::Minutes(1);
    size_t max_addresses = 10000;
  };

  explicit SignInLimit(Options options) : options_(options) {}

  // Zero when `address` may try to sign in at `now`; else how long it must wait.
  absl::Duration RetryAfter(const std::string& address, absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);
  // Counts a failed sign-in of `address` at `now`.
  void Failed(const std::string& address, absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  // Drops the failures of `times` older than the window.
  void Expire(std::deque<absl::Time>& times, absl::Time now) const;

  const Options options_;
  absl::Mutex mu_;
  // Per address, the times of its recent failures, oldest first (at most max_failures).
  absl::flat_hash_map<std::string, std::deque<absl::Time>> failures_ ABSL_GUARDED_BY(mu_);
};

}  // namespace desfired::server::http

#endif  // DESFIRED_SERVER_HTTP_SIGN_IN_LIMIT_H_
