// Token: one token of a PKCS#11 module, logged in once, with a pool of sessions.
//
// Open() finds the slot whose token the URI selects, opens a session and logs in as the user
// (CKU_USER) with the PIN; every later session of this process shares that login (PKCS#11
// logs in per application and token). Run() lends a session to an operation and takes it
// back; sessions are kept for reuse (at most kMaxIdleSessions idle) and opened on demand, so
// N threads use N sessions at once.
//
// When an operation answers a code that means the token or its daemon restarted (the session
// handle is invalid or closed, the user is no longer logged in, the device was removed, the
// module is not initialized), Run() drops every pooled session, finds the token again, logs
// in again and runs the operation once more. epoch() counts these re-logins: object handles
// found before a re-login are looked up again (TokenKey).
//
// The PIN is kept (wiped on destruction) for the re-login; it is never logged or put in a
// message.
//
// Errors name the token (its URI's token part) and the PKCS#11 code: NOT_FOUND when no slot
// holds a matching token; FAILED_PRECONDITION for a refused PIN (CKR_PIN_INCORRECT,
// CKR_PIN_LOCKED) or another error; UNAVAILABLE when the token stays unreachable.
//
// Thread-safe.
#ifndef DESFIRED_CORE_PKCS11_TOKEN_H_
#define DESFIRED_CORE_PKCS11_TOKEN_H_

#include <p11-kit/pkcs11.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "core/keys/secret.h"
#include "core/pkcs11/module.h"
#include "core/pkcs11/uri.h"

namespace desfired::pkcs11 {

class Token {
 public:
  static constexpr size_t kMaxIdleSessions = 16;

  static absl::StatusOr<std::shared_ptr<Token>> Open(std::shared_ptr<Module> module,
                                                     const TokenUri& uri, keys::SecretBytes pin);
  ~Token();
  Token(const Token&) = delete;
  Token& operator=(const Token&) = delete;

  // Runs `op(session, epoch)` on a logged-in session of this token and returns its code; on a
  // code that means a restart (above), logs in again and runs it once more. A non-OK status
  // only when no session could be had (the op did not run).
  using Op = std::function<CK_RV(CK_SESSION_HANDLE session, uint64_t epoch)>;
  absl::StatusOr<CK_RV> Run(const Op& op);

  // A session of the caller's own, for an operation it keeps open across calls (TokenKey's ECB
  // streams): opened now on the logged-in token, never pooled; the caller closes it with
  // CloseSession. `*epoch` is the login it belongs to (a stream of an older epoch is stale).
  // Logs in again once when the token restarted. Errors as Run().
  absl::StatusOr<CK_SESSION_HANDLE> OpenSession(uint64_t* epoch) ABSL_LOCKS_EXCLUDED(mu_);
  void CloseSession(CK_SESSION_HANDLE session);

  // Runs `op` once on a new read/write session (creating objects: keys import), closed after.
  absl::StatusOr<CK_RV> RunWritable(const Op& op) ABSL_LOCKS_EXCLUDED(mu_);

  const std::string& name() const { return name_; }  // the URI's token part
  const Module& module() const { return *module_; }
  // The number of logins so far (1 after Open; +1 for every re-login).
  uint64_t epoch() const ABSL_LOCKS_EXCLUDED(mu_);

  // True for the codes after which Run() logs in again.
  static bool MeansRestart(CK_RV rv);
  // True for the codes of a PIN the token refused (CKR_PIN_INCORRECT, CKR_PIN_LOCKED,
  // CKR_PIN_LEN_RANGE): logging in again, or initializing the module again, cannot help.
  static bool PinRefused(CK_RV rv);

 private:
  Token(std::shared_ptr<Module> module, const TokenUri& uri, keys::SecretBytes pin);
  // Finds the slot, opens a session and logs in; `session` is the opened one.
  absl::Status Login(CK_SESSION_HANDLE* session) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<CK_SESSION_HANDLE> Acquire(uint64_t* epoch) ABSL_LOCKS_EXCLUDED(mu_);
  void Release(CK_SESSION_HANDLE session, uint64_t epoch) ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status Restart(uint64_t seen_epoch) ABSL_LOCKS_EXCLUDED(mu_);

  std::shared_ptr<Module> module_;
  TokenUri uri_;
  std::string name_;
  keys::SecretBytes pin_;
  mutable absl::Mutex mu_;
  CK_SLOT_ID slot_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t epoch_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<CK_SESSION_HANDLE> idle_ ABSL_GUARDED_BY(mu_);
};

}  // namespace desfired::pkcs11

#endif  // DESFIRED_CORE_PKCS11_TOKEN_H_
