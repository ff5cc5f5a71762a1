// KeyRing: the server's current key store, replaced as a whole when the key file is reloaded
// (SIGHUP). A call takes a snapshot when it starts and uses that store to its end; the store a
// reload replaced is destroyed — its key bytes wiped (keys::SecretBytes) — when the last call
// using it ends.
//
//   KeyRing ring(path);
//   DESFIRED_RETURN_IF_ERROR(ring.Load());           // start-up: a bad file is fatal
//   std::shared_ptr<const keys::KeyStore> keys = ring.Current();   // per call
//   absl::Status s = ring.Load();                    // SIGHUP: on error the old store stays
//
// Thread-safe.
#ifndef DESFIRED_SERVER_SECURITY_KEY_RING_H_
#define DESFIRED_SERVER_SECURITY_KEY_RING_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "core/keys/key_store.h"
#include "core/pkcs11/bind.h"

namespace desfired::server {

class KeyRing {
 public:
  // `path` empty: no key file; the ring holds an empty store and Load() is a no-op.
  explicit KeyRing(std::string path = "");

  // Reads and parses the file (keys::KeyStore::LoadFile: mode 600, errors name the line, never
  // a key value), checks its methods= names (key_policy.h, CheckKeyGrants), binds its token
  // keys (core/pkcs11/bind.h: tokens stay logged in across reloads) and makes it current. On
  // error the current store is kept.
  absl::Status Load() ABSL_LOCKS_EXCLUDED(mu_);
  // Makes `store` current (tests, and stores built in code).
  void Replace(keys::KeyStore store) ABSL_LOCKS_EXCLUDED(mu_);

  std::shared_ptr<const keys::KeyStore> Current() const ABSL_LOCKS_EXCLUDED(mu_);
  // Incremented by every successful Load or Replace.
  uint64_t generation() const ABSL_LOCKS_EXCLUDED(mu_);
  const std::string& path() const { return path_; }

 private:
  const std::string path_;
  pkcs11::TokenKeyBinder binder_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const keys::KeyStore> current_ ABSL_GUARDED_BY(mu_);
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace desfired::server

#endif  // DESFIRED_SERVER_SECURITY_KEY_RING_H_
