// Module: a PKCS#11 module (a shared library: SoftHSM2, a USB token's or a network HSM's
// client) loaded with dlopen from its path, its function list and C_Initialize (with OS
// locking, so several threads may call it). One Module per path per process: Load returns the
// loaded one while anyone holds it; the last holder's release calls C_Finalize and dlclose.
//
//   DESFIRED_ASSIGN_OR_RETURN(std::shared_ptr<Module> m,
//   Module::Load("/usr/lib/softhsm/libsofthsm2.so")); m->f()->C_GetSlotList(...);
//
// Loading a module sets SIGPIPE to be ignored when it has its default action: a module that
// talks to a daemon over a socket must see a failed write, not end the process.
//
// Errors: NOT_FOUND naming the path and dlerror() when the library cannot be loaded;
// FAILED_PRECONDITION when it is not a PKCS#11 module or C_Initialize fails (CkError).
//
// Thread-safe.
#ifndef DESFIRED_CORE_PKCS11_MODULE_H_
#define DESFIRED_CORE_PKCS11_MODULE_H_

#include <p11-kit/pkcs11.h>

#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace desfired::pkcs11 {

// "CKR_PIN_INCORRECT" (or "CKR_0x000000A0" for a code without a name here).
std::string CkName(CK_RV rv);
// FAILED_PRECONDITION "<what>: <CkName(rv)>"; UNAVAILABLE for the codes that mean the token or
// its daemon is gone (CKR_DEVICE_REMOVED, CKR_TOKEN_NOT_PRESENT, CKR_DEVICE_ERROR ...). The
// status carries `rv` (CkRvOf): callers decide on the code, never on the message.
absl::Status CkError(absl::string_view what, CK_RV rv);

// The PKCS#11 code a status carries, as the payload kCkRvTypeUrl (the code in decimal ASCII).
inline constexpr absl::string_view kCkRvTypeUrl = "type.desfired.dev/pkcs11.ck_rv";
// `status` with `rv` attached (a no-op for an OK status).
absl::Status WithCkRv(absl::Status status, CK_RV rv);
// The code attached by CkError or WithCkRv, or nullopt.
std::optional<CK_RV> CkRvOf(const absl::Status& status);

class Module {
 public:
  static absl::StatusOr<std::shared_ptr<Module>> Load(const std::string& path);
  ~Module();
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  CK_FUNCTION_LIST* f() const { return functions_; }
  const std::string& path() const { return path_; }

  // C_Finalize and C_Initialize again: what a module whose daemon restarted needs, and how
  // tests restart a token under running sessions (every session and login is lost).
  absl::Status Reinitialize();

 private:
  Module(std::string path, void* handle, CK_FUNCTION_LIST* functions, bool finalize);
  std::string path_;
  void* handle_;
  CK_FUNCTION_LIST* functions_;
  bool finalize_;  // false when the module was already initialized by someone else
};

}  // namespace desfired::pkcs11

#endif  // DESFIRED_CORE_PKCS11_MODULE_H_
