// TokenKeyBinder: binds the token keys of a key store (`key NAME TYPE pkcs11:...` lines) to
// their objects, with the settings of the store's `pkcs11` line (docs/key-store.md, "Token
// keys").
//
// For each token key: the URI is parsed (TokenUri); the module is the URI's module-path= or
// the `pkcs11 module=`; the PIN comes from the URI's pin-source= (a file), or the line's
// pin-file= (a file that group and others may not read, like the key file) or pin-env= (an
// environment variable). The module is loaded and the token logged in once; keys on the same
// token share its session pool. The binder keeps its tokens, so that a reload of the key file
// (SIGHUP) does not log in again; a token a reload no longer names is released.
//
//   TokenKeyBinder binder;
//   DESFIRED_ASSIGN_OR_RETURN(keys::KeyStore store, keys::KeyStore::LoadFile(path));
//   DESFIRED_RETURN_IF_ERROR(binder.Bind(store));
//
// Errors name the key, its URI and what is wrong, never a key value or the PIN:
// INVALID_ARGUMENT (a bad URI, no module given), NOT_FOUND (a module that cannot be loaded, no
// such token or object), FAILED_PRECONDITION (a PIN that is missing, refused or in a file
// others may read; an object of the wrong type), UNAVAILABLE (the token is unreachable).
//
// Thread-safe.
#ifndef DESFIRED_CORE_PKCS11_BIND_H_
#define DESFIRED_CORE_PKCS11_BIND_H_

#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "core/keys/key_store.h"
#include "core/pkcs11/token.h"

namespace desfired::pkcs11 {

// Where a token key's token is: its module, PIN source and the key the binder caches it by.
struct TokenPlace {
  std::string module_path;
  std::string pin_source;  // "file:PATH" or "env:NAME"
  std::string cache_key;
};
absl::StatusOr<TokenPlace> PlaceOf(const keys::TokenSettings& settings, const TokenUri& uri);

class TokenKeyBinder {
 public:
  absl::Status Bind(keys::KeyStore& store) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  absl::StatusOr<std::shared_ptr<Token>> TokenFor(const TokenPlace& place, const TokenUri& uri)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  // Keyed by module path, token part of the URI and PIN source.
  std::map<std::string, std::shared_ptr<Token>> tokens_ ABSL_GUARDED_BY(mu_);
};

// The PIN named by a pin source: "file:PATH" or "PATH" (a file of mode 600 or stricter; one
// trailing newline dropped), or "env:NAME". FAILED_PRECONDITION naming the source (never the
// PIN) when it is missing, empty or readable by others.
absl::StatusOr<keys::SecretBytes> ReadPin(absl::string_view source);

}  // namespace desfired::pkcs11

#endif  // DESFIRED_CORE_PKCS11_BIND_H_
