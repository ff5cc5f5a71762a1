// The key policy: which keys of the key store a caller may have desfired present to a card, and
// as what (docs/key-store.md, "Who may use a key"; docs/security.md).
//
// A card request names a key (auth.key_name, and ChangeKey's new and old keys) and where it is
// presented (KeyPresentation: the application, the key number). That decides its use:
//   aid 000000 (the card level, where key 0 is the only key)         picc-master
//   key 0 of an application                                            app-master
//   another key, in a method for viewers (GetCardInfo, ReadData ...)   read
//   another key, in a method for operators (Debit, WriteData ...)      write
//   another key, in a method for admins (ChangeKey, CreateFile ...)    change
// and the key's KeyGrant (core/keys/key_grant.h: roles=, use=, methods=) says whether the
// caller's role may use it so. A key line without roles= and use= lets every role read and
// write with it and only admins use it as picc-master, app-master or change key.
//
//   // the hooks (auth.h, WithAuthorizer) bind the caller's role:
//   absl::Status s = CheckKeyUse(store, Role::kViewer, "GetCardInfo", {{"picc", 0, 0}});
//   // PERMISSION_DENIED / KEY_ROLE_DENIED, metadata key_name "picc", key_use "picc-master",
//   // role "viewer"
//
// Thread-safe: pure functions.
#ifndef DESFIRED_SERVER_SECURITY_KEY_POLICY_H_
#define DESFIRED_SERVER_SECURITY_KEY_POLICY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "core/keys/key_grant.h"
#include "core/keys/key_store.h"
#include "server/rpc/hooks.h"
#include "server/security/auth.h"

namespace desfired::server {

// The reason of a refused key (a desfired.v1.ErrorReason value's name).
inline constexpr absl::string_view kReasonKeyRoleDenied = "KEY_ROLE_DENIED";

// The use a request of `method` makes of key `key_no` presented on `aid` (the table above; a
// method MethodRoles() does not know counts as an admin's: change).
keys::KeyUse KeyUseOf(absl::string_view method, uint32_t aid, uint8_t key_no);

// OK when a caller of `role` may have every key of `presented` (looked up in `store`) presented
// in a call of `method`; otherwise PERMISSION_DENIED / KEY_ROLE_DENIED for the first that it
// may not, with metadata key_name, key_use and role, and a message naming the key, the use and
// the grant (never a key value). A name `store` does not have is passed over (the card operation
// answers KEY_NOT_FOUND); a null `store` has none.
absl::Status CheckKeyUse(const keys::KeyStore* store, Role role, absl::string_view method,
                         const std::vector<KeyPresentation>& presented);

// INVALID_ARGUMENT naming the key when a methods= option names a method that MethodRoles() does
// not have.
absl::Status CheckKeyGrants(const keys::KeyStore& store);

// One warning per key without roles= and use= (in file order), naming the key (never its value):
// only admins may use it as picc-master, app-master or change key. desfired logs them at
// start-up and after a reload.
std::vector<std::string> UnscopedKeyWarnings(const keys::KeyStore& store);

}  // namespace desfired::server

#endif  // DESFIRED_SERVER_SECURITY_KEY_POLICY_H_
